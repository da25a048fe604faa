/* recheck: after a policy reload (a new generation from the auth daemon), every live
 * session's identity and every session's subscriptions are decided again: an identity the
 * policy no longer knows is disconnected, a subscription no longer allowed is removed, and
 * one whose maximum QoS dropped is downgraded. The pass is spread over loop turns with a
 * bounded number of outstanding requests, so a large broker keeps serving meanwhile. */
#include <string.h>

#include "broker.h"
#include "log.h"

/* Outstanding auth requests the pass may use; the rest of the FIFO stays free for
 * connects, subscribes and first publishes. */
#define RECHECK_BUDGET 2048u

void recheck_start(struct worker *w)
{
    w->recheck_gen = w->generation;
    recheck_continue(w);
}

struct pass {
    struct worker *w;
    bool out_of_budget;
};

static bool check_one(void *ctx, const void *key, size_t len, void *value)
{
    (void)key;
    (void)len;
    struct pass *ps = ctx;
    struct worker *w = ps->w;
    struct session *s = value;
    if (ps->out_of_budget || s->checked_gen == w->recheck_gen)
        return false;
    if (auth_client_outstanding(w) + 1 + s->n_subs > RECHECK_BUDGET &&
        auth_client_outstanding(w) > 0) {
        ps->out_of_budget = true;
        return false;
    }
    s->checked_gen = w->recheck_gen;
    if (s->conn && s->conn->state == CS_ACTIVE && auth_request_session_check(w, s) != 0)
        return false;
    for (uint32_t i = 0; i < s->n_subs; i++) {
        /* A shared subscription is decided on its filter part, as when it was made. */
        const struct sub_rec *r = &s->subs[i];
        struct mqtt_str g, f = {(const uint8_t *)r->filter, r->len};
        if (r->shared)
            share_parse((const uint8_t *)r->filter, r->len, &g, &f);
        auth_request_sub_check(w, s, (const char *)f.p, (uint16_t)f.len, r->qos);
    }
    return false;
}

void recheck_continue(struct worker *w)
{
    if (!w->recheck_gen || !w->auth_up)
        return;
    if (w->recheck_gen != w->generation) {
        w->recheck_gen = w->generation; /* another reload meanwhile: start over */
    }
    struct pass ps = {.w = w};
    strmap_each(&w->sessions, check_one, &ps);
    if (!ps.out_of_budget) {
        log_info("re-check of %zu sessions under the new policy sent", strmap_count(&w->sessions));
        w->recheck_gen = 0;
    }
}

void recheck_session_verdict(struct worker *w, struct session *s, bool allow)
{
    if (allow || !s->conn)
        return;
    char id[96];
    log_info("client \"%s\" is no longer allowed by the policy: disconnecting",
             log_sanitize((const uint8_t *)s->client_id, s->id_len, id, sizeof(id)));
    /* A session whose identity is gone is not kept for a later reconnect either
     * (a clean session is destroyed by the close itself). */
    bool persistent = !s->clean;
    /* Its will was allowed under the old policy: an identity that lost its rights does not
     * get a last publish under the new one. */
    msg_unref(s->conn->will);
    s->conn->will = NULL;
    conn_disconnect(w, s->conn, MQTT_RC_NOT_AUTHORIZED, "identity removed from the policy");
    if (persistent)
        session_destroy(w, s);
}

/* The filter a subscription is decided on: a shared one's filter part (4.8.2). */
static bool decided_on(const struct sub_rec *r, const char *filter, uint16_t len)
{
    struct mqtt_str g, f = {(const uint8_t *)r->filter, r->len};
    if (r->shared)
        share_parse((const uint8_t *)r->filter, r->len, &g, &f);
    return f.len == len && memcmp(f.p, filter, len) == 0;
}

void recheck_sub_verdict(struct worker *w, struct session *s, const char *filter, uint16_t len,
                         const struct ipc_acl_resp *resp)
{
    /* Every subscription decided on this filter gets the verdict (a plain one and shared
     * ones may share it). The list shrinks on removal: walk it backwards. */
    for (uint32_t i = s->n_subs; i-- > 0;) {
        struct sub_rec *r = &s->subs[i];
        if (!decided_on(r, filter, len))
            continue;
        char id[96], f[160];
        if (!resp->allow) {
            log_info("subscription \"%s\" of \"%s\" no longer allowed: removed",
                     log_sanitize((const uint8_t *)r->filter, r->len, f, sizeof(f)),
                     log_sanitize((const uint8_t *)s->client_id, s->id_len, id, sizeof(id)));
            /* It reads the filter before it frees it. */
            session_del_sub(w, s, (const uint8_t *)r->filter, r->len);
        } else if (resp->max_qos < r->qos) {
            session_add_sub(w, s, (const uint8_t *)r->filter, r->len, resp->max_qos);
        }
    }
}
