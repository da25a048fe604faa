/* ring: growing a ring buffer (an array used circularly from a head index).
 *
 * Promises: ring_regrow() returns a new array of ncap elements holding the len elements of
 * the old ring in order from index 0 (so the new head is 0) and frees the old array; on
 * allocation failure it returns NULL and leaves the old ring untouched. */
#ifndef BULWARK_RING_H
#define BULWARK_RING_H

#include <stddef.h>
#include <stdint.h>

void *ring_regrow(void *buf, uint32_t head, uint32_t len, uint32_t cap, uint32_t ncap, size_t elem);

#endif
