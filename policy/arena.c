/* arena: the policy model is built once and freed at once, so it is bump-allocated from
 * chunks; parse errors never need to unwind partial structures. */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE (64u * 1024u)

struct pol_chunk {
    struct pol_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

void *arena_alloc(struct pol_arena *a, size_t size)
{
    size_t align = sizeof(max_align_t);
    if (size > SIZE_MAX / 2) {
        a->failed = true;
        return NULL;
    }
    size = (size + align - 1) / align * align;
    if (!size)
        size = align;
    struct pol_chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > CHUNK_SIZE ? size : CHUNK_SIZE;
        c = malloc(sizeof(*c) + cap);
        if (!c) {
            a->failed = true;
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        /* A large one-off block goes behind the current chunk, which keeps its free room. */
        if (a->head && size > CHUNK_SIZE) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(struct pol_arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX) {
        a->failed = true;
        return NULL;
    }
    char *d = arena_alloc(a, len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

void arena_free(struct pol_arena *a)
{
    struct pol_chunk *c = a->head;
    while (c) {
        struct pol_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}
