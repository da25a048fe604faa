#include "chain.h"

#include <string.h>

int chain_add(struct auth_chain *c, struct auth_backend *b)
{
    if (!b)
        return -1;
    if (c->n == CHAIN_MAX)
        return -1;
    c->b[c->n++] = b;
    return 0;
}

enum auth_result chain_run(const struct auth_chain *c, const struct auth_request *req,
                           struct auth_outcome *out)
{
    for (size_t i = 0; i < c->n; i++) {
        memset(out, 0, sizeof(*out));
        enum auth_result r = c->b[i]->authenticate(c->b[i]->ctx, req, out);
        if (r == AUTH_ALLOW || r == AUTH_DENY) {
            if (!out->backend[0])
                strncpy(out->backend, c->b[i]->name, sizeof(out->backend) - 1);
            return r;
        }
    }
    memset(out, 0, sizeof(*out));
    return AUTH_NO_OPINION;
}

void chain_clear(struct auth_chain *c)
{
    c->n = 0;
}
