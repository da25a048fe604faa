#include "strmap.h"

#include <stdlib.h>
#include <string.h>

struct strmap_entry {
    struct strmap_entry *next;
    uint64_t hash;
    void *value;
    uint16_t len;
    uint8_t key[];
};

/* FNV-1a mixed with a per-process seed: keys come from clients, so the table
 * layout must not be predictable from outside. */
static uint64_t strmap_hash(uint64_t seed, const uint8_t *k, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= k[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static uint64_t process_seed(void)
{
    static uint64_t seed;
    if (!seed) {
        seed = (uint64_t)(uintptr_t)&seed ^ (uint64_t)(uintptr_t)malloc ^ 0x9e3779b97f4a7c15ull;
        seed |= 1;
    }
    return seed;
}

void strmap_init(struct strmap *m)
{
    memset(m, 0, sizeof(*m));
    m->seed = process_seed();
}

void strmap_clear(struct strmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        struct strmap_entry *e = m->slots[i];
        while (e) {
            struct strmap_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

static struct strmap_entry **strmap_find(const struct strmap *m, const void *key, size_t len,
                                         uint64_t h)
{
    struct strmap_entry **pp = &m->slots[h & (m->cap - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0)
            return pp;
    }
    return pp;
}

void *strmap_get(const struct strmap *m, const void *key, size_t len)
{
    if (!m->cap || len > UINT16_MAX)
        return NULL;
    struct strmap_entry **pp = strmap_find(m, key, len, strmap_hash(m->seed, key, len));
    return *pp ? (*pp)->value : NULL;
}

static int strmap_grow(struct strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    struct strmap_entry **ns = calloc(ncap, sizeof(struct strmap_entry *));
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct strmap_entry *e = m->slots[i];
        while (e) {
            struct strmap_entry *n = e->next;
            size_t b = e->hash & (ncap - 1);
            e->next = ns[b];
            ns[b] = e;
            e = n;
        }
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int strmap_put(struct strmap *m, const void *key, size_t len, void *value)
{
    if (len > UINT16_MAX)
        return -1;
    if ((m->count + 1) * 4 > m->cap * 3 && strmap_grow(m) != 0)
        return -1;
    uint64_t h = strmap_hash(m->seed, key, len);
    struct strmap_entry **pp = strmap_find(m, key, len, h);
    if (*pp) {
        (*pp)->value = value;
        return 0;
    }
    struct strmap_entry *e = malloc(sizeof(*e) + len);
    if (!e)
        return -1;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    e->len = (uint16_t)len;
    memcpy(e->key, key, len);
    *pp = e;
    m->count++;
    return 0;
}

void *strmap_del(struct strmap *m, const void *key, size_t len)
{
    if (!m->cap || len > UINT16_MAX)
        return NULL;
    struct strmap_entry **pp = strmap_find(m, key, len, strmap_hash(m->seed, key, len));
    struct strmap_entry *e = *pp;
    if (!e)
        return NULL;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

size_t strmap_count(const struct strmap *m)
{
    return m->count;
}

void strmap_each(struct strmap *m, bool (*fn)(void *ctx, const void *key, size_t len, void *value),
                 void *ctx)
{
    for (size_t i = 0; i < m->cap; i++) {
        struct strmap_entry **pp = &m->slots[i];
        while (*pp) {
            struct strmap_entry *e = *pp;
            if (fn(ctx, e->key, e->len, e->value)) {
                *pp = e->next;
                free(e);
                m->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}
