/* broker: the worker's internal data model, shared by its modules (conn, session,
 * auth_client, protocol, router, worker). Not a public interface. */
#ifndef BULWARK_BROKER_H
#define BULWARK_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ipc.h"
#include "msg.h"
#include "mqtt_codec.h"
#include "strmap.h"
#include "topic.h"
#include "topic_tree.h"

enum handle_kind { H_LISTENER, H_CONN, H_AUTH, H_CTL, H_SIGNAL };

/* First member of everything registered with epoll, so the event tells what it is. */
struct handle {
    enum handle_kind kind;
    int fd;
};

/* One queued outgoing packet. A PUBLISH is written as head|topic|pid|payload straight
 * from the shared message; other packets live in head (small) or big. */
struct out_item {
    struct out_item *next;
    struct msg *msg;
    uint8_t *big;
    uint32_t len;  /* whole packet */
    uint32_t sent; /* bytes already written */
    uint8_t head_len;
    uint8_t pid_len;
    uint8_t pid[2];
    uint8_t head[12];
};

enum conn_state {
    CS_WAIT_CONNECT, /* accepted, no CONNECT yet */
    CS_AUTH,         /* CONNECT sent to the auth daemon, waiting */
    CS_ACTIVE,       /* CONNACK 0 sent */
    CS_CLOSED,       /* socket closed, freed at the end of the loop turn */
};

/* What a paused connection is waiting for. */
enum wait_kind { WAIT_NONE, WAIT_CONNECT, WAIT_WILL_ACL, WAIT_PUBLISH_ACL, WAIT_SUBSCRIBE_ACL };

/* What an auth request is for: a connection's wait, or a re-check after a policy reload. */
enum req_kind {
    REQ_CONNECT = WAIT_CONNECT,
    REQ_WILL_ACL = WAIT_WILL_ACL,
    REQ_PUBLISH_ACL = WAIT_PUBLISH_ACL,
    REQ_SUBSCRIBE_ACL = WAIT_SUBSCRIBE_ACL,
    REQ_RECHECK_SESSION, /* is this session's identity still known? */
    REQ_RECHECK_SUB,     /* is this subscription still allowed? */
};

/* A cached publish verdict (per session and topic), valid for one policy generation. */
struct verdict {
    uint32_t generation;
    bool allow;
    uint8_t max_qos;
    uint8_t flags;          /* IPC_ACL_* */
    uint8_t payload_format; /* enum ipc_payload_format */
    uint32_t payload_max;
};

struct session;

struct conn {
    struct handle h;
    uint64_t id;
    enum conn_state state;
    char peer[64];
    struct conn *prev, *next; /* all connections */
    struct conn *dirty_next;  /* connections with output to flush this turn */
    bool dirty;
    uint32_t ep_events; /* what epoll watches now */

    uint8_t *in; /* bytes of a packet not yet whole */
    uint32_t in_len, in_cap;

    struct out_item *out_head, *out_tail;
    size_t out_bytes;
    uint64_t dropped; /* QoS 0 messages dropped because the output queue was full */

    uint64_t created_ms, last_rx_ms;
    uint16_t keepalive;
    uint8_t proto;
    bool clean_disconnect; /* DISCONNECT received: no will */

    struct session *session;
    char *client_id; /* as given in CONNECT, or assigned */
    uint16_t client_id_len;
    bool clean_session;
    char *username;
    uint16_t username_len;
    bool has_username;
    struct msg *will;
    uint8_t will_qos;
    bool will_retain;

    /* A packet waiting for verdicts (copied out of the input buffer). */
    enum wait_kind wait;
    uint8_t *pend;
    uint32_t pend_len;
    uint8_t pend_byte0;
    uint32_t pend_outstanding; /* verdicts still expected */
    uint8_t *pend_codes;       /* SUBSCRIBE: granted code per filter */
    uint32_t pend_count;       /* SUBSCRIBE: number of filters */
    uint8_t connack_rc;
    uint32_t reqs_in_flight; /* auth requests that still name this connection */

    /* Set by the auth daemon's CONNECT verdict. */
    char *identity;
    uint16_t identity_len;
    bool counted; /* the auth daemon counts this connection: tell it when it ends */
    struct ipc_limits limits;
    /* Token buckets for limits.msgs_per_s / bytes_per_s, in thousandths of a token. */
    uint64_t msg_milli, byte_milli;
    uint64_t bucket_ms;
    uint64_t rate_resume_ms; /* reading paused by a rate limit until then (0: not paused) */
};

struct inflight {
    struct msg *msg; /* NULL once PUBREC arrived (only the id is kept) */
    uint16_t pid;
    uint8_t qos;
    bool retain;
    bool rel_sent; /* QoS 2: PUBREC received, PUBREL sent */
};

struct queued {
    struct msg *msg;
    uint8_t qos;
    bool retain;
};

struct sub_rec {
    char *filter;
    uint16_t len;
    uint8_t qos;
};

struct session {
    char *client_id;
    uint16_t id_len;
    struct conn *conn; /* NULL while offline */
    bool clean;

    struct sub_rec *subs;
    uint32_t n_subs, cap_subs;

    struct inflight *infl; /* ring in send order */
    uint32_t infl_head, n_infl, cap_infl;
    struct queued *queue; /* ring, waiting for an inflight slot or for the client */
    uint32_t q_head, q_len, q_cap;
    uint64_t q_dropped;
    uint16_t next_pid;

    uint8_t *qos2_in; /* bitmap of inbound QoS 2 ids awaiting PUBREL (8 KiB, lazily) */
    uint32_t n_qos2_in;

    struct strmap verdicts; /* publish topic -> encoded verdict, tagged with generation */

    uint64_t match_stamp; /* de-duplicates overlapping subscriptions per publish */
    uint32_t match_slot;

    char *owner; /* principal of the identity that made it (see auth/decider.c) */
    uint16_t owner_len;
    uint32_t reqs_in_flight; /* auth requests (re-checks) that name this session */
    uint32_t checked_gen;    /* policy generation its subscriptions were checked under */
};

struct pending_req {
    uint32_t req_id;
    enum req_kind kind;
    struct conn *conn; /* NULL: the connection went away, drop the answer */
    struct session *s; /* re-checks: the session (NULL once it is gone) */
    char *filter;      /* REQ_RECHECK_SUB: the filter being re-checked (owned) */
    uint16_t filter_len;
    uint32_t index; /* SUBSCRIBE: which filter */
    uint64_t deadline;
    bool failed; /* timed out: the answer, if it ever comes, is ignored */
};

struct delivery {
    struct session *s;
    uint8_t qos;
};

struct worker {
    const struct config *cfg;
    const struct config_limits *lim;
    struct topic_limits tlim;
    int epfd;
    struct handle listeners[CONFIG_MAX_LISTENERS];
    size_t n_listeners;
    struct handle ctl;
    struct handle sig;
    bool stopping;

    struct handle auth_h;
    struct ipc_chan auth;
    bool auth_up;
    bool auth_dirty;
    /* Verdicts are tagged with a worker-local epoch that moves whenever the auth daemon's
     * generation changes or a new auth daemon attaches: a restarted daemon counts from 1
     * again, and must not revive verdicts cached under an older policy. */
    uint32_t generation;
    uint32_t auth_generation; /* the auth daemon's own counter, last seen */
    uint32_t next_req_id;
    struct pending_req *pend; /* FIFO ring: the auth daemon answers in order */
    uint32_t pend_head, pend_len, pend_cap;

    struct strmap sessions;
    struct sub_tree *subs;
    struct retained_store *retained;

    struct conn *conns;
    uint32_t n_conns;
    struct conn *dirty;
    struct conn *graveyard; /* closed this turn, freed after it */
    uint64_t next_conn_id;
    uint64_t now;

    uint8_t *rbuf;
    size_t rbuf_cap;

    uint32_t recheck_gen; /* generation the current re-check pass works towards (0: none) */

    struct delivery *deliv;
    uint32_t n_deliv, cap_deliv;
    uint64_t match_stamp;
    uint64_t out_items_free_count;
    struct out_item *out_free; /* recycled out_items */
};

/* conn.c */
struct conn *conn_new(struct worker *w, int fd);
void conn_close(struct worker *w, struct conn *c, const char *why);
void conn_free(struct worker *w, struct conn *c);
void conn_mark_dirty(struct worker *w, struct conn *c);
int conn_send_bytes(struct worker *w, struct conn *c, const uint8_t *p, size_t len);
/* Queues a PUBLISH of m. QoS 0 is dropped (returns false) when the output queue is full. */
bool conn_send_publish(struct worker *w, struct conn *c, struct msg *m, uint8_t qos, bool dup,
                       bool retain, uint16_t pid);
void conn_send_ack(struct worker *w, struct conn *c, uint8_t type, uint16_t pid);
/* Writes what it can. Returns -1 if the connection failed (and was closed). */
int conn_flush(struct worker *w, struct conn *c);
void conn_update_events(struct worker *w, struct conn *c);
bool conn_output_full(const struct worker *w, const struct conn *c);

/* session.c */
struct session *session_new(struct worker *w, const uint8_t *id, uint16_t id_len, bool clean);
void session_destroy(struct worker *w, struct session *s);
int session_set_owner(struct session *s, const char *principal, uint16_t len);
void session_deliver(struct worker *w, struct session *s, struct msg *m, uint8_t qos, bool retain);
void session_resume(struct worker *w, struct session *s); /* resend inflight, then pump */
void session_puback(struct worker *w, struct session *s, uint16_t pid);
void session_pubrec(struct worker *w, struct session *s, uint16_t pid);
void session_pubcomp(struct worker *w, struct session *s, uint16_t pid);
bool session_qos2_has(struct session *s, uint16_t pid);
int session_qos2_add(struct worker *w, struct session *s, uint16_t pid);
void session_qos2_del(struct session *s, uint16_t pid);
int session_add_sub(struct worker *w, struct session *s, const uint8_t *f, uint16_t len,
                    uint8_t qos);
bool session_del_sub(struct worker *w, struct session *s, const uint8_t *f, uint16_t len);
/* Cached publish verdict for topic under the current generation, or NULL. */
const struct verdict *session_verdict_get(struct worker *w, struct session *s, const uint8_t *t,
                                          size_t len);
void session_verdict_put(struct worker *w, struct session *s, const uint8_t *t, size_t len,
                         const struct verdict *v);
void session_verdicts_clear(struct session *s);

/* auth_client.c */
void auth_client_attach(struct worker *w, int fd);
void auth_client_detach(struct worker *w, const char *why);
void auth_client_on_readable(struct worker *w);
void auth_client_flush(struct worker *w);
void auth_client_check_timeouts(struct worker *w);
void auth_client_forget_conn(struct worker *w, struct conn *c);
void auth_client_forget_session(struct worker *w, struct session *s);
/* Re-check requests after a policy reload. Return 0, or -1 (not sent). */
int auth_request_session_check(struct worker *w, struct session *s);
int auth_request_sub_check(struct worker *w, struct session *s, const char *filter, uint16_t len,
                           uint8_t qos);
/* Tells the auth daemon a counted connection ended (no answer expected). */
void auth_notify_session_end(struct worker *w, struct conn *c);
/* Outstanding requests (re-checks keep this under a budget). */
uint32_t auth_client_outstanding(const struct worker *w);
/* Queue requests. Return 0, or -1 when the auth daemon is unavailable (fail closed). */
int auth_request_connect(struct worker *w, struct conn *c, const struct mqtt_connect *pk);
int auth_request_acl(struct worker *w, struct conn *c, enum wait_kind kind, uint32_t index,
                     uint8_t action, uint8_t qos, const uint8_t *topic, size_t tlen);

/* protocol.c */
/* Handles one whole packet. Returns false when the connection was closed. */
bool proto_handle(struct worker *w, struct conn *c, uint8_t byte0, const uint8_t *body,
                  uint32_t len);
/* resp is NULL when the request failed closed (CONNACK 3, or deny). */
void proto_connect_verdict(struct worker *w, struct conn *c, uint8_t rc,
                           const struct ipc_connect_resp *resp);
void proto_acl_verdict(struct worker *w, struct conn *c, enum wait_kind kind, uint32_t index,
                       const struct ipc_acl_resp *resp);

/* recheck.c: after a policy reload, every session and subscription is decided again. */
void recheck_start(struct worker *w);
void recheck_continue(struct worker *w);
void recheck_session_verdict(struct worker *w, struct session *s, bool allow);
void recheck_sub_verdict(struct worker *w, struct session *s, const char *filter, uint16_t len,
                         const struct ipc_acl_resp *resp);

/* ratelimit.c: per-connection limits from the auth daemon's CONNECT verdict. */
void rate_init(struct worker *w, struct conn *c);
/* Takes one message of size bytes. False when over the limit: the caller stops reading this
 * connection until c->rate_resume_ms (back-pressure, nothing is dropped). */
bool rate_take(struct worker *w, struct conn *c, uint32_t bytes);

/* router.c */
void route_publish(struct worker *w, struct msg *m);
void route_retained_to(struct worker *w, struct session *s, const uint8_t *filter, size_t flen,
                       uint8_t granted);

/* worker.c */
/* Sets up an empty worker (epoll, trees, buffers) without sockets or signals, so the loop's
 * pieces can also be driven in-process (fuzzing). Returns 0 or -1. */
int worker_init(struct worker *w, const struct config *cfg);
/* End of a loop turn: flush dirty connections and the auth channel, free closed ones. */
void worker_end_turn(struct worker *w);
/* Closes every connection (no wills), drops all state, closes epoll. */
void worker_fini(struct worker *w);
void worker_process_input(struct worker *w, struct conn *c);
/* Timers: closes connections past connect_timeout_ms or 1.5 x keep-alive at w->now and
 * fails auth requests past their deadline (the loop calls it every 100 ms). */
void worker_sweep(struct worker *w);
/* One epoll event of a client connection, handled as the loop does (read, parse, close on
 * a lost peer, flush on EPOLLOUT); exposed so fuzz/fuzz_session.c drives the real path. */
void worker_conn_event(struct worker *w, struct conn *c, uint32_t events);
void worker_publish_will(struct worker *w, struct conn *c);

#endif
