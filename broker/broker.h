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

/* One queued outgoing packet. A PUBLISH is written as head|topic|mid|payload straight
 * from the shared message, where mid is the packet id and, at 5.0, the property length and
 * the properties of this delivery (expiry left, subscription ids); the message's own
 * properties precede its payload in one segment. Other packets live in head or big. */
#define OUT_MID_INLINE 24
struct out_item {
    struct out_item *next;
    struct msg *msg;
    uint8_t *big;
    uint32_t len;  /* whole packet */
    uint32_t sent; /* bytes already written */
    uint8_t head_len;
    bool v5; /* a 5.0 PUBLISH: the message's properties go out before its payload */
    uint16_t mid_len;
    uint8_t *mid; /* mid_inline, or heap (many subscription ids) */
    uint8_t mid_inline[OUT_MID_INLINE];
    uint8_t head[12];
};

/* Subscription identifiers one delivery carries (5.0): one inline, more on the heap. */
struct sub_ids {
    uint32_t n;
    uint32_t one;
    uint32_t *many; /* n > 1 */
};

/* MQTT 5.0 state of a connection (proto 5), negotiated in CONNECT/CONNACK. */
struct conn5 {
    uint32_t session_expiry;  /* Session Expiry Interval in force, s */
    bool expiry_was_zero;     /* CONNECT asked 0: DISCONNECT may not raise it (3.14.2.2.2) */
    uint32_t max_out_packet;  /* the client's Maximum Packet Size (0: MQTT's own bound) */
    uint16_t client_recv_max; /* the client's Receive Maximum (caps our inflight to it) */
    uint16_t recv_max;        /* ours, as sent in CONNACK */
    uint16_t alias_max;       /* our Topic Alias Maximum, as sent in CONNACK */
    char **aliases;           /* alias -> topic, 1..alias_max (allocated on first use) */
    uint16_t *alias_lens;
    uint32_t will_delay; /* Will Delay Interval of the will, s */
    uint64_t too_large;  /* messages skipped: over the client's Maximum Packet Size */
    bool id_assigned;    /* the client id was ours: CONNACK names it */
    bool expiry_lowered; /* CONNACK names the Session Expiry Interval we keep */
    bool keepalive_set;  /* CONNACK names the Server Keep Alive */
    char *pend_topic;    /* a paused PUBLISH's topic when its alias named it */
    uint16_t pend_topic_len;
    /* Enhanced authentication (4.12): the method CONNECT named, and whether the server's
     * AUTH challenge is out and the client's answer awaited (state CS_AUTH, reading on). */
    char *auth_method;
    uint16_t auth_method_len;
    bool auth_challenged;
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

    /* TLS (broker/tls.c): NULL on a plain listener. */
    struct tls_conn *tls;
    struct conn5 v5;  /* MQTT 5.0 (zero below 5.0) */
    uint8_t listener; /* index in the configuration's listeners */
};

struct share_group;

struct inflight {
    struct msg *msg; /* NULL once PUBREC arrived (only the id is kept) */
    uint16_t pid;
    uint8_t qos;
    bool retain;
    bool rel_sent;             /* QoS 2: PUBREC received, PUBREL sent */
    struct sub_ids ids;        /* 5.0 subscription identifiers it carries */
    struct share_group *share; /* the shared subscription it came through (referenced) */
};

struct queued {
    struct msg *msg;
    uint8_t qos;
    bool retain;
    struct sub_ids ids;
    struct share_group *share;
};

/* Subscription options byte as 5.0 defines it (the QoS is kept apart). */
#define SUBOPT_NO_LOCAL 0x04
#define SUBOPT_RETAIN_AS_PUBLISHED 0x08
#define SUBOPT_RETAIN_HANDLING(o) (((o) >> 4) & 3)
/* In the topic tree only: the entry is a shared subscription group, not a session. */
#define SUBOPT_SHARED_GROUP 0x80

struct sub_rec {
    char *filter; /* as subscribed; "$share/GROUP/FILTER" for a shared subscription */
    uint16_t len;
    uint8_t qos;
    uint8_t opts;    /* SUBOPT_* bits of the options byte */
    uint32_t sub_id; /* 5.0 Subscription Identifier (0: none) */
    bool shared;
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

    /* Lifetime: 3.1.1 sessions are clean (0) or never expire (UINT32_MAX); 5.0 ones have
     * the negotiated Session Expiry Interval. */
    uint32_t expiry_s;
    uint64_t expires_at; /* offline: when it ends (0: never, or online) */
    struct msg *will;    /* 5.0: a will waiting out its Will Delay Interval */
    uint64_t will_at;    /* when it is published (with the session's end at the latest) */
    uint64_t too_large;  /* messages skipped for the client's Maximum Packet Size */
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
    bool retain;  /* a matching subscription has Retain As Published */
    uint32_t ids; /* subscription ids: head of a list in worker.id_links (0: none) */
    uint32_t n_ids;
};

/* One link of a delivery's subscription id list (router.c). */
struct id_link {
    uint32_t id;
    uint32_t next; /* index + 1, 0: end */
};

struct worker {
    const struct config *cfg;
    const struct config_limits *lim;
    struct topic_limits tlim;
    int epfd;
    struct handle listeners[CONFIG_MAX_LISTENERS];
    size_t n_listeners;
    struct tls_server *tls[CONFIG_MAX_LISTENERS]; /* NULL for a plain listener */
    struct conn *tls_kick; /* TLS connections holding plaintext to read this turn */
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
    struct id_link *id_links;
    uint32_t n_id_links, cap_id_links;
    struct share_group **share_hits; /* shared subscriptions matched by the current message */
    uint32_t n_share_hits, cap_share_hits;
    struct strmap shares; /* "$share/GROUP/FILTER" -> struct share_group */
    uint64_t next_expiry; /* earliest offline session end or delayed will (0: none) */
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
/* 5.0: a PUBLISH carrying this delivery's properties (expiry left, subscription ids; ids may
 * be NULL) beside the message's own. Also false when it exceeds the client's Maximum Packet
 * Size (counted in c->v5.too_large). Below 5.0 it is conn_send_publish. */
bool conn_send_publish5(struct worker *w, struct conn *c, struct msg *m, uint8_t qos, bool dup,
                        bool retain, uint16_t pid, const struct sub_ids *ids);
/* Bytes the PUBLISH of m to c would take (0: cannot be encoded), and whether that is
 * within the client's Maximum Packet Size. */
uint64_t conn_publish_size(const struct conn *c, const struct msg *m, uint8_t qos,
                           const struct sub_ids *ids);
bool conn_publish_fits(const struct conn *c, const struct msg *m, uint8_t qos,
                       const struct sub_ids *ids);
/* PUBACK..PUBCOMP with a 5.0 reason code (the plain ack below 5.0). */
void conn_send_ack5(struct worker *w, struct conn *c, uint8_t type, uint16_t pid, uint8_t reason);
/* At 5.0 after CONNACK: DISCONNECT with reason (and why as its Reason String), flushed,
 * then closed. Otherwise it only closes (3.1.1 has no server DISCONNECT). */
void conn_disconnect(struct worker *w, struct conn *c, uint8_t reason, const char *why);
/* Writes what it can. Returns -1 if the connection failed (and was closed). */
int conn_flush(struct worker *w, struct conn *c);
/* Moves up to cap queued output bytes into dst (TLS encrypts them from there). */
size_t conn_take_output(struct worker *w, struct conn *c, uint8_t *dst, size_t cap);
void conn_update_events(struct worker *w, struct conn *c);
bool conn_output_full(const struct worker *w, const struct conn *c);

/* session.c */
struct session *session_new(struct worker *w, const uint8_t *id, uint16_t id_len, bool clean);
void session_destroy(struct worker *w, struct session *s);
/* The session's end (expiry, clean start, takeover by a clean start): a will waiting for
 * its delay is published first (5.0: at the earlier of the delay and the session's end). */
void session_end(struct worker *w, struct session *s);
/* Its connection closed: a clean session ends now, another starts its expiry. */
void session_offline(struct worker *w, struct session *s);
/* A new connection took the session: its parked will is dropped, its expiry stopped. */
void session_online(struct worker *w, struct session *s, struct conn *c);
/* Ends expired sessions and publishes delayed wills that are due (called by the sweep). */
void session_sweep(struct worker *w);
/* Deliveries with 5.0 details: subscription ids (may be NULL) and the shared subscription a
 * message came through (NULL: none). Expired messages and ones too large for the client are
 * skipped. */
void session_deliver5(struct worker *w, struct session *s, struct msg *m, uint8_t qos, bool retain,
                      const struct sub_ids *ids, struct share_group *share);
/* PUBREC with a reason: 0x80 or more ends the exchange without PUBREL (5.0, 4.3.3). */
void session_pubrec5(struct worker *w, struct session *s, uint16_t pid, uint8_t reason);
/* Adds or replaces a subscription with its 5.0 options and identifier; *existed says
 * whether the session had this filter already (Retain Handling 1). Returns 0 or -1. */
int session_add_sub5(struct worker *w, struct session *s, const uint8_t *f, uint16_t len,
                     uint8_t qos, uint8_t opts, uint32_t sub_id, bool *existed);
/* Whether the session's inflight window (max_inflight, and the client's Receive Maximum)
 * has room for one more message. */
bool session_infl_room(struct worker *w, struct session *s);
/* Shared subscriptions: hands what waits in s for group g (queued; with ending, QoS 1 sent
 * but unacknowledged too) back to the group's other members. */
void session_release_share(struct worker *w, struct session *s, struct share_group *g, bool ending);
void sub_ids_free(struct sub_ids *ids);
int sub_ids_copy(struct sub_ids *dst, const struct sub_ids *src);
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
/* Tells the auth daemon (for the audit log) that a client certificate was refused. */
void auth_report_tls_refused(struct worker *w, struct conn *c, const char *reason,
                             const uint8_t *der, uint16_t der_len);
/* Tells the auth daemon a counted connection ended (no answer expected). */
void auth_notify_session_end(struct worker *w, struct conn *c);
/* Outstanding requests (re-checks keep this under a budget). */
uint32_t auth_client_outstanding(const struct worker *w);
/* Queue requests. Return 0, or -1 when the auth daemon is unavailable (fail closed). */
int auth_request_connect(struct worker *w, struct conn *c, const struct mqtt_connect *pk);
/* The client's answer to an AUTH challenge (its Authentication Data), decided like CONNECT. */
int auth_request_auth_step(struct worker *w, struct conn *c, const uint8_t *data, size_t len);
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
/* route_publish for a message from a client's session (No Local compares with it). Returns
 * the number of sessions and shared subscriptions it went to. */
uint32_t route_publish_from(struct worker *w, struct msg *m, const struct session *from);
void route_retained_to(struct worker *w, struct session *s, const uint8_t *filter, size_t flen,
                       uint8_t granted);
/* The same with the subscription's identifier (0: none); expired messages are dropped from
 * the store instead of being sent. */
void route_retained_to5(struct worker *w, struct session *s, const uint8_t *filter, size_t flen,
                        uint8_t granted, uint32_t sub_id);

/* share.c: shared subscriptions ($share/GROUP/FILTER, 5.0 section 4.8.2). A group is one
 * subscriber in the topic tree; each message to it goes to one member, in turn (members
 * online and with inflight room first). */
/* Splits a filter: 0 not shared, 1 shared (group and filter set), -1 a malformed share
 * (no group, a group with '/', '+' or '#', no filter). */
int share_parse(const uint8_t *f, size_t len, struct mqtt_str *group, struct mqtt_str *filter);
/* Adds s to the group of full ("$share/G/F") or updates its options. 1 added, 0 updated,
 * -1 on allocation failure. */
int share_join(struct worker *w, struct session *s, const uint8_t *full, uint16_t len, uint8_t qos,
               uint8_t opts, uint32_t sub_id);
/* Removes s from the group. Messages waiting for s that came through the group go to the
 * remaining members: its queued ones, and with session_ending its unacknowledged QoS 1
 * ones too (QoS 2 ones already sent stay: 4.8.2-5). Returns whether s was a member. */
bool share_leave(struct worker *w, struct session *s, const uint8_t *full, uint16_t len,
                 bool session_ending);
/* Sends m to one member of g (router). Returns false if g has no member. */
bool share_deliver(struct worker *w, struct share_group *g, struct msg *m);
struct share_group *share_ref(struct share_group *g);
void share_unref(struct worker *w, struct share_group *g);
void share_fini(struct worker *w);

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
