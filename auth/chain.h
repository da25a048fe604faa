/* chain: the ordered list of authentication backends of the auth daemon.
 *
 * Promises: backends are asked in order; the first ALLOW or DENY decides; when all have no
 * opinion the result is NO_OPINION and the caller applies the anonymous rules (deny by
 * default). The chain only lists backends: whoever made them destroys them. */
#ifndef BULWARK_CHAIN_H
#define BULWARK_CHAIN_H

#include "backend.h"

#define CHAIN_MAX 16

struct auth_chain {
    struct auth_backend *b[CHAIN_MAX];
    size_t n;
};

/* Appends b. Returns 0, or -1 if b is NULL or the chain is full. */
int chain_add(struct auth_chain *c, struct auth_backend *b);
enum auth_result chain_run(const struct auth_chain *c, const struct auth_request *req,
                           struct auth_outcome *out);
void chain_clear(struct auth_chain *c);

#endif
