/* topic_tree: the subscription index of the worker, and the retained-message store.
 *
 * Promises:
 *  - Subscriptions: at most one entry per (subscriber, filter); subscribing again
 *    replaces the options. Matching a topic name visits every matching entry exactly
 *    once per (subscriber, filter) in O(levels x matching branches), using a hash per
 *    node for exact levels, so cost does not grow with unrelated topics.
 *  - '$' rule: '+' and '#' at the first level never match a name starting with '$'.
 *  - Retained store: one message per topic name; set replaces, clear removes, and
 *    retained_match() visits every stored message whose name matches a filter.
 *    The store holds one msg reference per stored message.
 *  - Empty nodes are pruned on removal so memory follows the live set.
 *  Inputs are assumed valid (checked by topic.h before). */
#ifndef BULWARK_TOPIC_TREE_H
#define BULWARK_TOPIC_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct sub_tree;

struct sub_tree *sub_tree_new(void);
void sub_tree_free(struct sub_tree *t);

/* options: low 2 bits QoS; upper bits reserved for 5.0 subscription options.
 * sub_id: 5.0 subscription identifier (0 = none).
 * Returns 1 if added, 0 if an existing entry was replaced, -1 on allocation failure. */
int sub_tree_add(struct sub_tree *t, const uint8_t *filter, size_t flen, void *subscriber,
                 uint8_t options, uint32_t sub_id);
/* Returns true if an entry existed and was removed. */
bool sub_tree_remove(struct sub_tree *t, const uint8_t *filter, size_t flen, void *subscriber);

typedef void (*sub_visit_fn)(void *ctx, void *subscriber, uint8_t options, uint32_t sub_id);
/* Calls fn for every entry whose filter matches topic name. */
void sub_tree_match(struct sub_tree *t, const uint8_t *topic, size_t tlen, sub_visit_fn fn,
                    void *ctx);
size_t sub_tree_count(const struct sub_tree *t);

struct retained_store;

struct retained_store *retained_new(void);
void retained_free(struct retained_store *r);
/* Stores m (takes a new reference) under m->topic, replacing any previous message,
 * or clears the topic when m->payload_len == 0. Returns -1 on allocation failure. */
int retained_set(struct retained_store *r, struct msg *m);
typedef void (*retained_visit_fn)(void *ctx, struct msg *m);
void retained_match(struct retained_store *r, const uint8_t *filter, size_t flen,
                    retained_visit_fn fn, void *ctx);
size_t retained_count(const struct retained_store *r);

#endif
