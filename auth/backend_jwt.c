#include "backend_jwt.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The auth_backend is the first member, so ctx and the backend are one allocation. */
struct jwt_backend {
    struct auth_backend base;
    size_t n;
    uint32_t leeway_s;
    struct jwt_issuer iss[];
};

static void jwt_destroy(void *ctx)
{
    struct jwt_backend *jb = ctx;
    if (!jb)
        return;
    for (size_t i = 0; i < jb->n; i++) {
        free((char *)jb->iss[i].name);
        free((char *)jb->iss[i].audience);
        free((char *)jb->iss[i].kid);
    }
    free(jb);
}

static enum auth_result jwt_authenticate(void *ctx, const struct auth_request *req,
                                         struct auth_outcome *out)
{
    const struct jwt_backend *jb = ctx;
    if (!req->password || !jwt_shaped(req->password, req->password_len))
        return AUTH_NO_OPINION;

    struct jwt_result res;
    enum jwt_status st = jwt_verify(req->password, req->password_len, jb->iss, jb->n,
                                    (int64_t)req->now, jb->leeway_s, &res);
    snprintf(out->backend, sizeof(out->backend), "%s", jb->base.name);
    if (st != JWT_OK) {
        snprintf(out->reason, sizeof(out->reason), "%s", jwt_status_reason(st));
        return AUTH_DENY;
    }
    size_t sub_len = strlen(res.sub);
    if (req->username && req->username_len > 0 &&
        (req->username_len != sub_len || memcmp(req->username, res.sub, sub_len) != 0)) {
        snprintf(out->reason, sizeof(out->reason), "username does not match token subject");
        return AUTH_DENY;
    }
    snprintf(out->identity, sizeof(out->identity), "%s", res.sub);
    snprintf(out->issuer, sizeof(out->issuer), "%s", jb->iss[res.issuer].name);
    snprintf(out->reason, sizeof(out->reason), "token valid (issuer %s)", jb->iss[res.issuer].name);
    return AUTH_ALLOW;
}

struct auth_backend *backend_jwt_new(const struct jwt_issuer *iss, size_t n, uint32_t leeway_s)
{
    char err[256];
    if (sodium_init() < 0)
        return NULL;
    if (!iss || jwt_check_issuers(iss, n, leeway_s, err, sizeof(err)) < 0)
        return NULL;
    struct jwt_backend *jb = calloc(1, sizeof(*jb) + n * sizeof(jb->iss[0]));
    if (!jb)
        return NULL;
    jb->leeway_s = leeway_s;
    for (size_t i = 0; i < n; i++) {
        struct jwt_issuer *d = &jb->iss[i];
        memcpy(d->public_key, iss[i].public_key, sizeof(d->public_key));
        d->name = strdup(iss[i].name);
        d->audience = strdup(iss[i].audience);
        d->kid = iss[i].kid ? strdup(iss[i].kid) : NULL;
        jb->n = i + 1;
        if (!d->name || !d->audience || (iss[i].kid && !d->kid)) {
            jwt_destroy(jb);
            return NULL;
        }
    }
    jb->base.name = "jwt";
    jb->base.ctx = jb;
    jb->base.authenticate = jwt_authenticate;
    jb->base.destroy = jwt_destroy;
    return &jb->base;
}
