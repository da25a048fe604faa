#include "ring.h"

#include <stdlib.h>
#include <string.h>

void *ring_regrow(void *buf, uint32_t head, uint32_t len, uint32_t cap, uint32_t ncap, size_t elem)
{
    if (ncap < len)
        return NULL;
    uint8_t *n = malloc((size_t)ncap * elem);
    if (!n)
        return NULL;
    if (len) {
        /* The ring's elements run from head to the end, then wrap to the start. */
        uint32_t first = cap - head < len ? cap - head : len;
        memcpy(n, (uint8_t *)buf + (size_t)head * elem, (size_t)first * elem);
        memcpy(n + (size_t)first * elem, buf, (size_t)(len - first) * elem);
    }
    free(buf);
    return n;
}
