#include "decider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "audit.h"
#include "backend_jwt.h"
#include "backend_password.h"
#include "bruteforce.h"
#include "cert_check.h"
#include "enhanced_auth.h"
#include "chain.h"
#include "clock.h"
#include "log.h"
#include "mqtt_codec.h"
#include "plugin_loader.h"
#include "policy.h"
#include "strmap.h"
#include "verify_cache.h"

/* A principal names who a connection is, for later ACL requests from the worker:
 * "p" + name (password), "x" + name (plugin), "t" + issuer + 0x1f + subject (token),
 * "c" + CN (client certificate), or ""
 * for an anonymous client. The tag keeps a token subject apart from a user of that name. */
#define TAG_PASSWORD 'p'
#define TAG_PLUGIN 'x'
#define TAG_TOKEN 't'
#define TAG_CERT 'c'   /* "c" + CN: a client certificate alone authenticated the client */
#define TAG_DEVICE 'k' /* "k" + user: its device key signed our nonce (enhanced auth) */
#define ISSUER_SEP '\x1f'

struct decider {
    struct config cfg;
    struct policy *policy; /* NULL: built-in rules */
    uint32_t generation;
    struct auth_chain chain;
    struct auth_backend *password;
    struct auth_backend *token; /* NULL without token issuers */
    struct auth_backend *plugins[CONFIG_MAX_PLUGINS];
    size_t n_plugins;
    struct verify_cache *vcache;
    struct bruteforce *bf;
    struct audit_log *audit;
    struct cert_check certs;              /* revocation lists of the TLS listeners */
    struct eauth *eauth;                  /* enhanced-authentication conversations in progress */
    uint8_t nonce_out[EAUTH_NONCE_BYTES]; /* the challenge of the last answer */
    struct strmap per_client;             /* principal 0 client id -> open connections */
    struct strmap per_principal;          /* principal -> client ids with open connections */
};

struct who {
    const char *identity; /* NULL: anonymous */
    const char *issuer;   /* NULL unless a token */
    char tag;
    char ibuf[256], sbuf[256];
};

static void parse_principal(const uint8_t *p, size_t len, struct who *w)
{
    memset(w, 0, sizeof(*w));
    if (len < 2 || len >= sizeof(w->ibuf))
        return; /* anonymous (or malformed: treated as anonymous, the least privileged) */
    w->tag = (char)p[0];
    const uint8_t *sep = w->tag == TAG_TOKEN ? memchr(p + 1, ISSUER_SEP, len - 1) : NULL;
    if (sep) {
        size_t il = (size_t)(sep - p) - 1;
        memcpy(w->sbuf, p + 1, il);
        w->issuer = w->sbuf;
        memcpy(w->ibuf, sep + 1, len - il - 2);
    } else {
        memcpy(w->ibuf, p + 1, len - 1);
    }
    w->identity = w->ibuf;
}

static const char *lookup_password(void *ctx, const uint8_t *user, size_t ulen)
{
    struct decider *d = ctx;
    if (d->policy) {
        const char *h = policy_user_password_hash(d->policy, (const char *)user, ulen);
        if (h)
            return h;
    }
    for (size_t i = 0; i < d->cfg.n_users; i++) {
        const char *u = d->cfg.users[i].username;
        if (strlen(u) == ulen && memcmp(u, user, ulen) == 0)
            return d->cfg.users[i].password_hash;
    }
    return NULL;
}

/* --- audit ------------------------------------------------------------------------------ */

#define F(k, v)                                                                                    \
    {                                                                                              \
        .key = (k), .value = (v), .value_len = strlen(v)                                           \
    }
#define FB(k, p, n)                                                                                \
    {                                                                                              \
        .key = (k), .value = (const char *)(p), .value_len = (n)                                   \
    }

static void audit(struct decider *d, const char *event, const struct audit_field *f, size_t n)
{
    if (d->audit && audit_event(d->audit, event, f, n) != 0)
        log_error("audit log write failed: %m");
}

/* --- building ---------------------------------------------------------------------------- */

static size_t issuer_count(struct policy *pol)
{
    const struct policy_token_issuer *pi = NULL;
    return pol ? policy_token_issuers(pol, &pi) : 0;
}

static struct auth_backend *make_token_backend(const struct config *cfg, struct policy *pol,
                                               char *err, size_t errlen)
{
    const struct policy_token_issuer *pi = NULL;
    size_t n = pol ? policy_token_issuers(pol, &pi) : 0;
    if (!n)
        return NULL;
    struct jwt_issuer *iss = calloc(n, sizeof(*iss));
    if (!iss) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        iss[i].name = pi[i].name;
        memcpy(iss[i].public_key, pi[i].ed25519_pk, sizeof(iss[i].public_key));
        iss[i].audience = pi[i].audience;
    }
    struct auth_backend *b = backend_jwt_new(iss, n, cfg->auth.token_leeway_s); /* copies */
    free(iss);
    if (!b)
        snprintf(err, errlen, "%s: the token issuers could not be set up", cfg->policy);
    return b;
}

static void order_chain(struct decider *d)
{
    chain_clear(&d->chain);
    for (size_t i = 0; i < 3 && d->cfg.auth.order[i]; i++) {
        switch (d->cfg.auth.order[i]) {
        case BACKEND_PASSWORD:
            chain_add(&d->chain, d->password);
            break;
        case BACKEND_TOKEN:
            if (d->token)
                chain_add(&d->chain, d->token);
            break;
        case BACKEND_PLUGINS:
            for (size_t j = 0; j < d->n_plugins; j++)
                chain_add(&d->chain, d->plugins[j]);
            break;
        }
    }
}

static struct policy *load_policy(const struct config *cfg, char *err, size_t errlen)
{
    char path[CONFIG_PATH_MAX * 2];
    return policy_load(config_policy_path(cfg, path, sizeof(path)), err, errlen);
}

struct decider *decider_new(const struct config *cfg, char *err, size_t errlen)
{
    struct decider *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->cfg = *cfg;
    d->generation = 1;
    strmap_init(&d->per_client);
    strmap_init(&d->per_principal);
    const struct config_auth *a = &cfg->auth;
    struct bf_config bc = {.free_failures = a->bf_free_failures,
                           .base_delay_ms = a->bf_base_delay_ms,
                           .max_delay_ms = a->bf_max_delay_ms,
                           .window_s = a->bf_window_s,
                           .max_tracked = a->bf_max_tracked};
    d->bf = bf_new(&bc);
    d->vcache = verify_cache_new(a->verify_cache_size, a->verify_cache_ttl_s * 1000u);
    d->password = backend_password_new(lookup_password, d, d->vcache);
    /* A conversation lives as long as its connection may take to finish CONNECT, and there
     * are never more live ones than connections (set at start; a reload keeps them). */
    d->eauth = eauth_new(cfg->limits.max_connections, cfg->limits.connect_timeout_ms);
    if (!d->bf || !d->vcache || !d->password || !d->eauth) {
        snprintf(err, errlen, "out of memory setting up authentication");
        goto fail;
    }
    if (cfg->policy[0] && !(d->policy = load_policy(cfg, err, errlen)))
        goto fail;
    if (cert_check_load(&d->certs, cfg, err, errlen) != 0)
        goto fail;
    d->token = make_token_backend(cfg, d->policy, err, errlen);
    if (!d->token && issuer_count(d->policy))
        goto fail;
    for (size_t i = 0; i < a->n_plugins; i++) {
        char perr[512];
        d->plugins[i] =
            plugin_backend_load(a->plugins[i].path, a->plugins[i].config, perr, sizeof(perr));
        if (!d->plugins[i]) {
            snprintf(err, errlen, "plugin %s: %s", a->plugins[i].path, perr);
            goto fail;
        }
        d->n_plugins++;
    }
    if (a->audit_log[0]) {
        uint8_t key[AUDIT_KEY_BYTES];
        struct audit_options o = {0};
        if (a->audit_key[0]) {
            if (audit_key_load(a->audit_key, key, err, errlen) != 0)
                goto fail;
            o.key = key;
        }
        d->audit = audit_open_opts(a->audit_log, &o, err, errlen);
        memset(key, 0, sizeof(key));
        if (!d->audit)
            goto fail;
    }
    order_chain(d);
    return d;
fail:
    decider_free(d);
    return NULL;
}

void decider_free(struct decider *d)
{
    if (!d)
        return;
    if (d->password)
        d->password->destroy(d->password->ctx);
    if (d->token)
        d->token->destroy(d->token->ctx);
    for (size_t i = 0; i < d->n_plugins; i++)
        if (d->plugins[i])
            d->plugins[i]->destroy(d->plugins[i]->ctx);
    policy_free(d->policy);
    verify_cache_free(d->vcache);
    bf_free(d->bf);
    audit_close(d->audit);
    cert_check_free(&d->certs);
    eauth_free(d->eauth);
    strmap_clear(&d->per_client);
    strmap_clear(&d->per_principal);
    free(d);
}

uint32_t decider_generation(const struct decider *d)
{
    return d->generation;
}

void decider_reload_refused(struct decider *d, const char *why)
{
    /* The first line says where: "FILE:LINE:COLUMN: message". */
    size_t n = strcspn(why, "\n");
    struct audit_field f[] = {F("result", "refused"), FB("reason", why, n)};
    audit(d, "reload", f, 2);
}

int decider_reload(struct decider *d, const struct config *cfg, char *err, size_t errlen)
{
    struct policy *np = NULL;
    if (cfg->policy[0] && !(np = load_policy(cfg, err, errlen))) {
        decider_reload_refused(d, err);
        return -1;
    }
    struct auth_backend *nt = make_token_backend(cfg, np, err, errlen);
    if (!nt && issuer_count(np)) {
        policy_free(np);
        decider_reload_refused(d, err);
        return -1;
    }
    /* Loaded into d->certs only when whole: a broken list keeps the old ones. */
    struct cert_check old_certs = d->certs;
    memset(&d->certs, 0, sizeof(d->certs));
    if (cert_check_load(&d->certs, cfg, err, errlen) != 0) {
        d->certs = old_certs;
        if (nt)
            nt->destroy(nt->ctx);
        policy_free(np);
        decider_reload_refused(d, err);
        return -1;
    }
    cert_check_free(&old_certs);
    /* Plugins and the audit log stay as started: changing them takes a restart. */
    struct config_auth keep = d->cfg.auth;
    d->cfg = *cfg;
    d->cfg.auth.n_plugins = keep.n_plugins;
    memcpy(d->cfg.auth.plugins, keep.plugins, sizeof(keep.plugins));
    memcpy(d->cfg.auth.audit_log, keep.audit_log, sizeof(keep.audit_log));
    memcpy(d->cfg.auth.audit_key, keep.audit_key, sizeof(keep.audit_key));
    policy_free(d->policy);
    d->policy = np;
    if (d->token)
        d->token->destroy(d->token->ctx);
    d->token = nt;
    order_chain(d);
    verify_cache_clear(d->vcache); /* a changed hash or removed user must not hit */
    d->generation++;
    char gen[16];
    snprintf(gen, sizeof(gen), "%u", d->generation);
    struct audit_field f[] = {F("result", "accepted"), F("generation", gen),
                              F("policy", cfg->policy)};
    audit(d, "reload", f, 3);
    return 0;
}

/* --- connection counting ----------------------------------------------------------------- */

static size_t count_key(const char *principal, size_t plen, const uint8_t *cid, size_t clen,
                        char *out, size_t cap)
{
    if (plen + 1 + clen > cap)
        clen = cap - plen - 1;
    memcpy(out, principal, plen);
    out[plen] = '\0';
    memcpy(out + plen + 1, cid, clen);
    return plen + 1 + clen;
}

static uintptr_t get_count(struct strmap *m, const void *k, size_t len)
{
    return (uintptr_t)strmap_get(m, k, len);
}

static void set_count(struct strmap *m, const void *k, size_t len, uintptr_t v)
{
    if (v)
        strmap_put(m, k, len, (void *)v); /* NOLINT(performance-no-int-to-ptr) */
    else
        strmap_del(m, k, len);
}

static void count_add(struct decider *d, const char *pr, size_t plen, const uint8_t *cid,
                      size_t clen, int delta)
{
    char key[256 + 1 + 65536];
    size_t klen = count_key(pr, plen, cid, clen, key, sizeof(key));
    uintptr_t n = get_count(&d->per_client, key, klen);
    if (delta < 0 && n == 0)
        return; /* not counted (e.g. before an auth daemon restart) */
    uintptr_t after = delta > 0 ? n + 1 : n - 1;
    set_count(&d->per_client, key, klen, after);
    if ((n == 0) != (after == 0)) {
        uintptr_t distinct = get_count(&d->per_principal, pr, plen);
        set_count(&d->per_principal, pr, plen, after ? distinct + 1 : distinct - 1);
    }
}

void decider_session_end(struct decider *d, const struct ipc_session_end *r)
{
    count_add(d, (const char *)r->identity.p, r->identity.len, r->client_id.p, r->client_id.len,
              -1);
}

void decider_worker_reset(struct decider *d)
{
    strmap_clear(&d->per_client);
    strmap_clear(&d->per_principal);
}

/* --- decisions ---------------------------------------------------------------------------- */

static struct policy_subject subject_of(const uint8_t *cid, size_t clen, const uint8_t *user,
                                        size_t ulen, bool has_user, const struct who *w,
                                        const struct auth_cert *cert)
{
    return (struct policy_subject){.client_id = (const char *)cid,
                                   .client_id_len = clen,
                                   .username = has_user ? (const char *)user : NULL,
                                   .username_len = has_user ? ulen : 0,
                                   .identity = w->identity,
                                   .cert = cert,
                                   .issuer = w->issuer};
}

static size_t make_principal(char tag, const char *identity, const char *issuer, char *out,
                             size_t cap)
{
    int n = issuer ? snprintf(out, cap, "%c%s%c%s", tag, issuer, ISSUER_SEP, identity)
                   : snprintf(out, cap, "%c%s", tag, identity);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* MQTT 5 enhanced authentication (auth/enhanced_auth.h). Returns 0 when the device proved
 * its key (*o filled: the caller goes on as for any allowed login), 1 when *out is the answer
 * already (a challenge, or a refusal, audited). */
static int enhanced_step(struct decider *d, const struct ipc_connect_req *r, bool step,
                         const char *peer, struct ipc_connect_resp *out, struct auth_outcome *o,
                         struct audit_field *f, size_t nf)
{
    bool has_user = r->flags & IPC_CONN_HAS_USERNAME;
    const char *why = NULL;
    if (!eauth_method_known(r->auth_method.p, r->auth_method.len)) {
        out->reason5 = 0x8C; /* bad authentication method */
        why = "unsupported authentication method";
    } else if (!has_user || !r->username.len) {
        out->rc = MQTT_CONNACK_BAD_CREDENTIALS;
        why = "device login without a user name";
    } else if (!step) {
        if (eauth_challenge(d->eauth, r->conv, clock_ms(), d->nonce_out) != 0) {
            out->rc = MQTT_CONNACK_SERVER_UNAVAILABLE;
            out->reason5 = 0x89; /* server busy */
            why = "too many authentications in progress (max_connections)";
        } else {
            out->rc = MQTT_CONNACK_ACCEPTED;
            out->auth_continue = true;
            out->auth_data = (struct ipc_bytes){.p = d->nonce_out, .len = EAUTH_NONCE_BYTES};
            return 1;
        }
    } else {
        uint8_t pk[32];
        bool have =
            policy_user_device_key(d->policy, (const char *)r->username.p, r->username.len, pk);
        enum eauth_result v =
            eauth_verify(d->eauth, r->conv, clock_ms(), have ? pk : NULL, r->client_id.p,
                         r->client_id.len, r->auth_data.p, r->auth_data.len);
        if (v == EAUTH_OK) {
            bf_success(d->bf, r->username.p, r->username.len);
            memset(o, 0, sizeof(*o));
            snprintf(o->identity, sizeof(o->identity), "%.*s", (int)r->username.len,
                     (const char *)r->username.p);
            snprintf(o->backend, sizeof(o->backend), "device-key");
            return 0;
        }
        bf_failure(d->bf, peer, r->username.p, r->username.len, clock_ms());
        out->rc = MQTT_CONNACK_BAD_CREDENTIALS;
        why = v == EAUTH_NO_CHALLENGE ? "no challenge pending (expired or repeated)"
                                      : "bad device signature";
    }
    f[nf++] = (struct audit_field)F("result", "denied");
    f[nf++] = (struct audit_field)F("backend", "device-key");
    f[nf++] = (struct audit_field)F("reason", why);
    audit(d, "connect", f, nf);
    return 1;
}

static void connect_decide(struct decider *d, const struct ipc_connect_req *r,
                           struct ipc_connect_resp *out, char *principal, size_t cap,
                           const struct auth_cert *cert, bool step)
{
    bool has_user = r->flags & IPC_CONN_HAS_USERNAME;
    bool has_pw = r->flags & IPC_CONN_HAS_PASSWORD;
    char peer[80];
    snprintf(peer, sizeof(peer), "%.*s", (int)r->peer.len, (const char *)r->peer.p);
    memset(out, 0, sizeof(*out));
    out->generation = d->generation;
    out->rc = MQTT_CONNACK_NOT_AUTHORIZED;
    struct audit_field f[8] = {FB("client_id", r->client_id.p, r->client_id.len), F("peer", peer),
                               FB("username", has_user ? r->username.p : (const uint8_t *)"",
                                  has_user ? r->username.len : 0)};
    size_t nf = 3;
    const uint8_t *user = has_user ? r->username.p : NULL;

    uint64_t wait = bf_check(d->bf, peer, user, r->username.len, clock_ms());
    if (wait) {
        char ms[24];
        snprintf(ms, sizeof(ms), "%llu", (unsigned long long)wait);
        f[nf++] = (struct audit_field)F("result", "throttled");
        f[nf++] = (struct audit_field)F("retry_ms", ms);
        audit(d, "connect", f, nf);
        out->reason5 = 0x8A; /* banned (for now): a 5.0 client is told, 3.1.1 gets 5 */
        log_info("connect from %s throttled for %llu ms after failed attempts", peer,
                 (unsigned long long)wait);
        return;
    }
    struct auth_request req = {.client_id = r->client_id.p,
                               .client_id_len = r->client_id.len,
                               .username = user,
                               .username_len = has_user ? r->username.len : 0,
                               .password = has_pw ? r->password.p : NULL,
                               .password_len = has_pw ? r->password.len : 0,
                               .peer = peer,
                               .cert = cert,
                               .now = time(NULL)};
    if (req.password && !req.password_len)
        req.password = (const uint8_t *)""; /* present but empty */
    struct auth_outcome o;
    enum auth_result ar;
    if (r->auth_method.len) {
        if (enhanced_step(d, r, step, peer, out, &o, f, nf))
            return;
        ar = AUTH_ALLOW;
    } else {
        ar = chain_run(&d->chain, &req, &o);
    }
    struct who w = {0};
    if (ar == AUTH_DENY || (ar == AUTH_NO_OPINION && has_user)) {
        bf_failure(d->bf, peer, user, r->username.len, clock_ms());
        out->rc = MQTT_CONNACK_BAD_CREDENTIALS;
        f[nf++] = (struct audit_field)F("result", "denied");
        f[nf++] = (struct audit_field)F("backend", ar == AUTH_DENY ? o.backend : "none");
        f[nf++] = (struct audit_field)F("reason", ar == AUTH_DENY ? o.reason : "unknown user");
        audit(d, "connect", f, nf);
        return;
    }
    if (ar == AUTH_ALLOW) {
        bf_success(d->bf, user, r->username.len);
        snprintf(w.ibuf, sizeof(w.ibuf), "%s", o.identity);
        snprintf(w.sbuf, sizeof(w.sbuf), "%s", o.issuer);
        w.identity = w.ibuf;
        w.issuer = o.issuer[0] ? w.sbuf : NULL;
        w.tag = w.issuer                               ? TAG_TOKEN
                : strcmp(o.backend, "password") == 0   ? TAG_PASSWORD
                : strcmp(o.backend, "device-key") == 0 ? TAG_DEVICE
                                                       : TAG_PLUGIN;
    } else if (cert) {
        snprintf(w.ibuf, sizeof(w.ibuf), "%s", cert->cn);
        w.identity = w.ibuf;
        w.tag = TAG_CERT;
        snprintf(o.backend, sizeof(o.backend), "certificate");
    } else if (!d->cfg.allow_anonymous) {
        f[nf++] = (struct audit_field)F("result", "refused");
        f[nf++] = (struct audit_field)F("reason", "anonymous clients not allowed");
        audit(d, "connect", f, nf);
        return;
    }
    struct policy_subject s =
        subject_of(r->client_id.p, r->client_id.len, user, r->username.len, has_user, &w, cert);
    if (d->policy && !policy_knows(d->policy, &s)) {
        f[nf++] = (struct audit_field)F("result", "refused");
        f[nf++] =
            (struct audit_field)F("reason", w.identity ? "not in the policy for this client id"
                                                       : "no anonymous section in the policy");
        audit(d, "connect", f, nf);
        return;
    }
    size_t plen = w.identity ? make_principal(w.tag, w.identity, w.issuer, principal, cap) : 0;
    if (w.identity && !plen) {
        f[nf++] = (struct audit_field)F("result", "refused");
        f[nf++] = (struct audit_field)F("reason", "identity too long");
        audit(d, "connect", f, nf);
        return;
    }
    if (d->policy) {
        struct policy_limits lim;
        policy_limits_for(d->policy, &s, &lim);
        char key[256 + 1 + 65536];
        size_t klen =
            count_key(principal, plen, r->client_id.p, r->client_id.len, key, sizeof(key));
        bool reconnect = get_count(&d->per_client, key, klen) > 0; /* takes its own place */
        if (lim.max_connections && !reconnect &&
            get_count(&d->per_principal, principal, plen) >= lim.max_connections) {
            f[nf++] = (struct audit_field)F("result", "limit");
            f[nf++] = (struct audit_field)F("reason", "max_connections");
            audit(d, "connect", f, nf);
            out->reason5 = 0x97; /* quota exceeded */
            return;
        }
        out->limits = (struct ipc_limits){.msgs_per_s = lim.msgs_per_s,
                                          .msgs_burst = lim.msgs_burst,
                                          .bytes_per_s = lim.bytes_per_s,
                                          .max_subscriptions = lim.max_subscriptions};
    }
    count_add(d, principal, plen, r->client_id.p, r->client_id.len, +1);
    out->rc = MQTT_CONNACK_ACCEPTED;
    out->identity = (struct ipc_bytes){.p = (const uint8_t *)principal, .len = (uint16_t)plen};
    f[nf++] = (struct audit_field)F("result", "accepted");
    f[nf++] = (struct audit_field)F("backend", ar == AUTH_ALLOW || cert ? o.backend : "anonymous");
    f[nf++] = (struct audit_field)F("identity", w.identity ? w.identity : "");
    audit(d, "connect", f, nf);
}

/* Audit fields naming a certificate; returns how many were added. */
static size_t cert_audit(struct audit_field *f, const struct cert_fields *cf)
{
    size_t n = 0;
    f[n++] = (struct audit_field)F("cert_cn", cf->cert.cn ? cf->cert.cn : "");
    f[n++] = (struct audit_field)F("cert_serial", cf->cert.serial_hex ? cf->cert.serial_hex : "");
    f[n++] = (struct audit_field)F(
        "cert_sha256", cf->cert.fingerprint_sha256_hex ? cf->cert.fingerprint_sha256_hex : "");
    return n;
}

static void connect_or_step(struct decider *d, const struct ipc_connect_req *r,
                            struct ipc_connect_resp *out, char *principal, size_t cap, bool step)
{
    struct cert_fields cf;
    enum cert_verdict v = cert_check(&d->certs, &d->cfg, r->listener, r->cert.p, r->cert.len,
                                     r->client_id.p, r->client_id.len, &cf);
    if (v == CERTCHK_NONE || v == CERTCHK_OK) {
        connect_decide(d, r, out, principal, cap, v == CERTCHK_OK ? &cf.cert : NULL, step);
    } else {
        memset(out, 0, sizeof(*out));
        out->generation = d->generation;
        out->rc = v == CERTCHK_WRONG_ID ? MQTT_CONNACK_ID_REJECTED : MQTT_CONNACK_NOT_AUTHORIZED;
        char peer[80];
        snprintf(peer, sizeof(peer), "%.*s", (int)r->peer.len, (const char *)r->peer.p);
        struct audit_field f[8] = {FB("client_id", r->client_id.p, r->client_id.len),
                                   F("peer", peer), F("result", "refused"),
                                   F("reason", cert_verdict_str(v))};
        size_t nf = 4 + cert_audit(f + 4, &cf);
        audit(d, "connect", f, nf);
        log_info("connect from %s refused: %s", peer, cert_verdict_str(v));
    }
    if (v != CERTCHK_NONE)
        cert_fields_free(&cf);
}

void decider_connect(struct decider *d, const struct ipc_connect_req *r,
                     struct ipc_connect_resp *out, char *principal, size_t cap)
{
    connect_or_step(d, r, out, principal, cap, false);
}

void decider_auth_step(struct decider *d, const struct ipc_connect_req *r,
                       struct ipc_connect_resp *out, char *principal, size_t cap)
{
    if (!r->auth_method.len) { /* an AUTH step outside enhanced authentication */
        memset(out, 0, sizeof(*out));
        out->generation = d->generation;
        out->rc = MQTT_CONNACK_NOT_AUTHORIZED;
        out->reason5 = 0x8C;
        return;
    }
    connect_or_step(d, r, out, principal, cap, true);
}

void decider_tls_refused(struct decider *d, const struct ipc_tls_refused *r)
{
    struct cert_fields cf;
    bool have = r->cert.len && cert_fields_from_der(r->cert.p, r->cert.len, &cf) == 0;
    char listener[8];
    snprintf(listener, sizeof(listener), "%u", (unsigned)r->listener);
    struct audit_field f[8] = {FB("peer", r->peer.p, r->peer.len), F("listener", listener),
                               F("result", "refused"), FB("reason", r->reason.p, r->reason.len)};
    size_t nf = 4;
    if (have) {
        nf += cert_audit(f + nf, &cf);
        cert_fields_free(&cf);
    }
    audit(d, "tls", f, nf);
}

static bool is_sys_topic(const uint8_t *t, size_t len)
{
    return len >= 4 && memcmp(t, "$SYS", 4) == 0 && (len == 4 || t[4] == '/');
}

void decider_acl(struct decider *d, const struct ipc_acl_req *r, struct ipc_acl_resp *out)
{
    struct who w;
    parse_principal(r->identity.p, r->identity.len, &w);
    memset(out, 0, sizeof(*out));
    out->generation = d->generation;
    bool publish = r->action == IPC_ACL_PUBLISH;
    char rule[600] = "built-in rules";
    if (publish && is_sys_topic(r->topic.p, r->topic.len)) {
        snprintf(rule, sizeof(rule), "$SYS is the broker's");
    } else if (!d->policy) {
        struct acl_verdict v = acl_decide(r);
        out->allow = v.allow;
        out->max_qos = v.max_qos;
        out->flags = IPC_ACL_RETAIN_OK;
    } else {
        /* Parsed only where the policy looks at certificates: this runs for every first
         * publish to a topic and every subscription. */
        struct cert_fields cf;
        bool have = r->cert.len && policy_uses_certificates(d->policy) &&
                    cert_fields_from_der(r->cert.p, r->cert.len, &cf) == 0;
        struct policy_subject s =
            subject_of(r->client_id.p, r->client_id.len, r->username.p, r->username.len,
                       r->has_username, &w, have ? &cf.cert : NULL);
        struct policy_decision pd =
            policy_decide(d->policy, &s, publish ? POLICY_PUBLISH : POLICY_SUBSCRIBE,
                          (const char *)r->topic.p, r->topic.len, publish ? 0 : r->qos, false);
        struct policy_limits lim;
        policy_limits_for(d->policy, &s, &lim);
        out->allow = pd.allow;
        out->max_qos = pd.max_qos < lim.max_qos ? pd.max_qos : lim.max_qos;
        out->flags = (pd.retain_allowed && lim.retain_allowed ? IPC_ACL_RETAIN_OK : 0) |
                     (pd.payload_sealed ? IPC_ACL_SEALED : 0);
        out->payload_format = pd.payload_format;
        out->payload_max = pd.payload_max;
        if (pd.rule_line)
            snprintf(rule, sizeof(rule), "%s:%u%s%s", pd.rule_file, pd.rule_line,
                     pd.rule_id[0] ? " " : "", pd.rule_id);
        else
            snprintf(rule, sizeof(rule), "default deny");
        if (have)
            cert_fields_free(&cf);
    }
    if (!out->allow) {
        struct audit_field f[] = {FB("client_id", r->client_id.p, r->client_id.len),
                                  F("identity", w.identity ? w.identity : ""),
                                  F("action", publish ? "publish" : "subscribe"),
                                  FB("topic", r->topic.p, r->topic.len), F("rule", rule)};
        audit(d, "deny", f, 5);
    }
}

bool decider_session_check(struct decider *d, const struct ipc_session_check_req *r)
{
    struct who w;
    parse_principal(r->identity.p, r->identity.len, &w);
    struct cert_fields cf;
    enum cert_verdict v = cert_check(&d->certs, &d->cfg, r->listener, r->cert.p, r->cert.len,
                                     r->client_id.p, r->client_id.len, &cf);
    bool known;
    const char *why = "no longer allowed after reload";
    if (v != CERTCHK_NONE && v != CERTCHK_OK) {
        known = false;
        why = cert_verdict_str(v);
    } else if (w.tag == TAG_CERT && v != CERTCHK_OK) {
        known = false;
    } else if (!w.identity) {
        known = d->cfg.allow_anonymous;
    } else if (w.tag == TAG_PASSWORD && !d->policy) {
        known = lookup_password(d, (const uint8_t *)w.identity, strlen(w.identity)) != NULL;
    } else {
        known = true; /* a token or plugin identity: the policy below is the judge */
    }
    if (known && d->policy) {
        struct policy_subject s =
            subject_of(r->client_id.p, r->client_id.len, r->username.p, r->username.len,
                       r->has_username, &w, v == CERTCHK_OK ? &cf.cert : NULL);
        known = policy_knows(d->policy, &s);
    }
    if (!known) {
        struct audit_field f[8] = {FB("client_id", r->client_id.p, r->client_id.len),
                                   F("identity", w.identity ? w.identity : ""), F("reason", why)};
        size_t nf = 3;
        if (v != CERTCHK_NONE)
            nf += cert_audit(f + nf, &cf);
        audit(d, "disconnect", f, nf);
    }
    if (v != CERTCHK_NONE)
        cert_fields_free(&cf);
    return known;
}

size_t decider_fds(const struct decider *d, int *out, size_t cap)
{
    return audit_fds(d->audit, out, cap);
}
