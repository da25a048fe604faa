/* json_check: is a byte string one well-formed JSON text (RFC 8259)?
 *
 * Promises: validates without allocating or recursing, in one pass; nesting deeper than
 * JSON_CHECK_MAX_DEPTH is refused; strings must be valid UTF-8 with legal escapes (a lone
 * surrogate escape is refused); numbers follow the grammar exactly; surrounding white space
 * is allowed, anything else after the value is not. Used by the worker for topics whose
 * policy requires JSON payloads. */
#ifndef BULWARK_JSON_CHECK_H
#define BULWARK_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_CHECK_MAX_DEPTH 64

bool json_check(const uint8_t *p, size_t len);

#endif
