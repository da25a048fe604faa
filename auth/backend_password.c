#include "backend_password.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mosq_hash.h"

struct password_backend {
    struct auth_backend b; /* first: destroy(ctx) frees the whole thing */
    password_lookup_fn lookup;
    void *lookup_ctx;
    struct verify_cache *cache;
    char dummy[crypto_pwhash_STRBYTES];
};

bool password_matches(const char *stored, const uint8_t *pw, size_t pwlen)
{
    if (strncmp(stored, "$argon2", 7) != 0)
        return mosq_hash_verify(stored, pw, pwlen) == 1;
    /* crypto_pwhash_str_verify takes the password with its length: NUL bytes count. */
    return crypto_pwhash_str_verify(stored, (const char *)pw, pwlen) == 0;
}

static enum auth_result authenticate(void *ctx, const struct auth_request *req,
                                     struct auth_outcome *out)
{
    struct password_backend *pb = ctx;
    if (!req->username)
        return AUTH_NO_OPINION;
    const char *stored = pb->lookup(pb->lookup_ctx, req->username, req->username_len);
    const uint8_t *pw = req->password ? req->password : (const uint8_t *)"";
    size_t pwlen = req->password ? req->password_len : 0;
    if (!stored) {
        (void)password_matches(pb->dummy, pw, pwlen); /* same time as a known user */
        return AUTH_NO_OPINION;
    }
    uint64_t now = clock_ms();
    bool ok = verify_cache_hit(pb->cache, req->username, req->username_len, pw, pwlen, stored, now);
    if (!ok && req->password && password_matches(stored, pw, pwlen)) {
        ok = true;
        verify_cache_put(pb->cache, req->username, req->username_len, pw, pwlen, stored, now);
    }
    snprintf(out->backend, sizeof(out->backend), "password");
    if (!ok) {
        snprintf(out->reason, sizeof(out->reason), "%s",
                 req->password ? "bad password" : "no password");
        return AUTH_DENY;
    }
    size_t n = req->username_len < sizeof(out->identity) - 1 ? req->username_len
                                                             : sizeof(out->identity) - 1;
    memcpy(out->identity, req->username, n);
    out->identity[n] = '\0';
    if (n != req->username_len) {
        snprintf(out->reason, sizeof(out->reason), "username too long for an identity");
        return AUTH_DENY;
    }
    snprintf(out->reason, sizeof(out->reason), "password");
    return AUTH_ALLOW;
}

static void destroy(void *ctx)
{
    free(ctx);
}

struct auth_backend *backend_password_new(password_lookup_fn lookup, void *lookup_ctx,
                                          struct verify_cache *cache)
{
    if (sodium_init() < 0)
        return NULL;
    struct password_backend *pb = calloc(1, sizeof(*pb));
    if (!pb)
        return NULL;
    char pw[16];
    randombytes_buf(pw, sizeof(pw));
    if (crypto_pwhash_str(pb->dummy, pw, sizeof(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        free(pb);
        return NULL;
    }
    pb->lookup = lookup;
    pb->lookup_ctx = lookup_ctx;
    pb->cache = cache;
    pb->b = (struct auth_backend){
        .name = "password", .ctx = pb, .authenticate = authenticate, .destroy = destroy};
    return &pb->b;
}
