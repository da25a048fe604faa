/* base64url: unpadded URL-safe base64 (RFC 4648 section 5), as JWTs use it, via libsodium.
 *
 * Promises: decoding accepts only the canonical unpadded encoding (no '=', no whitespace,
 * no other alphabet, unused trailing bits zero), so one byte string has exactly one
 * accepted text; output never exceeds the given capacity. */
#ifndef BULWARK_BASE64URL_H
#define BULWARK_BASE64URL_H

#include <stddef.h>
#include <stdint.h>

/* Decodes in[0..in_len) into out (at most cap bytes). Returns 0 with *out_len set, or -1
 * when the text is not canonical base64url or does not fit. */
int b64url_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *out_len);

/* Encodes in[0..in_len) into out as a NUL-terminated string. Returns its length, or -1 when
 * cap is too small. */
int b64url_encode(const uint8_t *in, size_t in_len, char *out, size_t cap);

#endif
