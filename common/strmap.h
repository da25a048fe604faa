/* strmap: a hash map from byte strings to pointers.
 *
 * Promises: keys are copied (any bytes, any length up to UINT16_MAX); lookups do not
 * allocate; the table grows by doubling and keeps a load factor under 3/4, so lookup,
 * insert and delete are O(1) on average. Values are the caller's; strmap never frees them.
 * Iteration order is unspecified; removing the current entry during strmap_each's
 * callback is allowed (return true from the callback to remove it). */
#ifndef BULWARK_STRMAP_H
#define BULWARK_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_entry;

struct strmap {
    struct strmap_entry **slots;
    size_t cap; /* power of two, or 0 before the first insert */
    size_t count;
    uint64_t seed;
};

void strmap_init(struct strmap *m);
void strmap_clear(struct strmap *m); /* drops every entry, keeps nothing allocated */
void *strmap_get(const struct strmap *m, const void *key, size_t len);
/* Inserts or replaces. Returns 0, or -1 on allocation failure (map unchanged). */
int strmap_put(struct strmap *m, const void *key, size_t len, void *value);
/* Removes and returns the value, or NULL if absent. */
void *strmap_del(struct strmap *m, const void *key, size_t len);
size_t strmap_count(const struct strmap *m);
/* Calls fn for every entry; if fn returns true the entry is removed. */
void strmap_each(struct strmap *m, bool (*fn)(void *ctx, const void *key, size_t len, void *value),
                 void *ctx);

#endif
