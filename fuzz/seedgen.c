/* seedgen: writes the seed corpora under fuzz/corpus/ from the codec's own encoders, so
 * seeds follow the wire formats exactly as the code produces them (run via fuzz/gen-seeds).
 * Usage: seedgen OUTDIR  -> OUTDIR/<harness>/<name> */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ipc.h"
#include "mqtt_codec.h"

static const char *outdir;

static void die(const char *what)
{
    fprintf(stderr, "seedgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void put(const char *harness, const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", outdir, harness);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        die(path);
}

/* A growing byte buffer. */
struct buf {
    uint8_t b[16384];
    size_t n;
};

static void b_byte(struct buf *b, uint8_t v)
{
    if (b->n == sizeof(b->b)) {
        fprintf(stderr, "seedgen: buffer full\n");
        exit(1);
    }
    b->b[b->n++] = v;
}

static void b_bytes(struct buf *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b_byte(b, p[i]);
}

static void b_str(struct buf *b, const char *s)
{
    b_bytes(b, (const uint8_t *)s, strlen(s));
}

/* ---- MQTT packets ----------------------------------------------------------------- */

struct pkt {
    uint8_t b[1024];
    size_t n;
};

static struct pkt connect_pkt(const char *id, bool clean, uint16_t keepalive, const char *user,
                              const char *pass, const char *will_topic, uint8_t will_qos,
                              bool will_retain)
{
    static const uint8_t will_payload[] = "gone";
    struct mqtt_connect_opts o = {
        .proto_level = MQTT_PROTO_311,
        .clean_session = clean,
        .keepalive = keepalive,
        .client_id = id,
        .username = user,
        .password = pass,
        .will_topic = will_topic,
        .will_payload = will_payload,
        .will_payload_len = 4,
        .will_qos = will_qos,
        .will_retain = will_retain,
    };
    struct pkt p;
    p.n = mqtt_encode_connect(p.b, sizeof(p.b), &o);
    return p;
}

static struct pkt connect_simple(const char *id, bool clean)
{
    return connect_pkt(id, clean, 60, NULL, NULL, NULL, 0, false);
}

/* MQTT 3.1 ("MQIsdp", level 3): the encoder writes "MQTT"; swap the name in. */
static struct pkt connect_31(const char *id)
{
    struct pkt v4 = connect_simple(id, true), p;
    /* v4: byte0 | len | 00 04 "MQTT" | 04 | rest ; len < 128 here */
    p.n = 0;
    p.b[p.n++] = v4.b[0];
    p.b[p.n++] = (uint8_t)(v4.b[1] + 2);
    memcpy(p.b + p.n, "\x00\x06MQIsdp\x03", 9);
    p.n += 9;
    memcpy(p.b + p.n, v4.b + 9, v4.n - 9);
    p.n += v4.n - 9;
    return p;
}

static struct pkt connect_v5(const char *id)
{
    struct mqtt_connect_opts o = {
        .proto_level = MQTT_PROTO_5, .clean_session = true, .client_id = id};
    struct pkt p;
    p.n = mqtt_encode_connect(p.b, sizeof(p.b), &o);
    return p;
}

static struct pkt publish_pkt(uint8_t qos, bool dup, bool retain, const char *topic, uint16_t pid,
                              const char *payload)
{
    struct pkt p;
    p.n = mqtt_encode_publish(p.b, sizeof(p.b), qos, dup, retain, topic, pid,
                              (const uint8_t *)payload, strlen(payload));
    return p;
}

static struct pkt subscribe_pkt(uint16_t pid, const char *filter, uint8_t qos)
{
    struct pkt p;
    p.n = mqtt_encode_subscribe(p.b, sizeof(p.b), pid, filter, qos);
    return p;
}

/* SUBSCRIBE with several filters: single-filter encodings joined under one header. */
static struct pkt subscribe_multi(uint16_t pid, const char *const *filters, const uint8_t *qos,
                                  size_t n)
{
    uint8_t body[900];
    size_t bl = 0;
    body[bl++] = (uint8_t)(pid >> 8);
    body[bl++] = (uint8_t)pid;
    for (size_t i = 0; i < n; i++) {
        struct pkt one = subscribe_pkt(pid, filters[i], qos[i]);
        /* one: byte0 | len (1 byte here) | pid(2) | entry */
        memcpy(body + bl, one.b + 4, one.n - 4);
        bl += one.n - 4;
    }
    struct pkt p;
    p.b[0] = MQTT_SUBSCRIBE << 4 | 2;
    p.n = 1 + mqtt_encode_remaining(p.b + 1, (uint32_t)bl);
    memcpy(p.b + p.n, body, bl);
    p.n += bl;
    return p;
}

static struct pkt unsubscribe_pkt(uint16_t pid, const char *filter)
{
    struct pkt p;
    p.n = mqtt_encode_unsubscribe(p.b, sizeof(p.b), pid, filter);
    return p;
}

static struct pkt ack_pkt(uint8_t type, uint16_t pid)
{
    struct pkt p;
    p.n = mqtt_encode_ack(p.b, sizeof(p.b), type, pid);
    return p;
}

static struct pkt pingreq_pkt(void)
{
    struct pkt p;
    p.n = mqtt_encode_pingreq(p.b, sizeof(p.b));
    return p;
}

static struct pkt disconnect_pkt(void)
{
    struct pkt p;
    p.n = mqtt_encode_disconnect(p.b, sizeof(p.b));
    return p;
}

/* ---- fuzz_mqtt_decode ------------------------------------------------------------------ */

static void mqtt_seed(const char *name, uint8_t sel, const struct pkt *pk, size_t n)
{
    struct buf b = {.n = 0};
    b_byte(&b, sel);
    for (size_t i = 0; i < n; i++)
        b_bytes(&b, pk[i].b, pk[i].n);
    put("mqtt_decode", name, b.b, b.n);
}

#define SEL_SERVER_311 0x05
#define SEL_CLIENT_311 0x01
#define SEL_SERVER_31 0x04
#define SEL_SERVER_5 0x06

static void gen_mqtt(void)
{
    const char *filters[] = {"a/+/c", "#", "$SYS/#", "/+"};
    const uint8_t qos[] = {0, 1, 2, 1};
    struct pkt p[8];
    p[0] = connect_pkt("client-1", true, 30, "user", "secret", "will/topic", 1, true);
    mqtt_seed("connect_full", SEL_SERVER_311, p, 1);
    p[0] = connect_simple("c", false);
    mqtt_seed("connect_min", SEL_SERVER_311, p, 1);
    p[0] = connect_31("old");
    mqtt_seed("connect_31", SEL_SERVER_31, p, 1);
    p[0] = connect_v5("five");
    mqtt_seed("connect_v5", SEL_SERVER_5, p, 1);
    p[0] = publish_pkt(0, false, false, "a/b", 0, "hello");
    p[1] = publish_pkt(1, false, true, "a/b/c", 7, "x");
    p[2] = publish_pkt(2, true, false, "t", 65535, "");
    mqtt_seed("publish", SEL_SERVER_311, p, 3);
    p[0] = subscribe_multi(10, filters, qos, 4);
    p[1] = unsubscribe_pkt(11, "a/+/c");
    mqtt_seed("subscribe", SEL_SERVER_311, p, 2);
    p[0] = ack_pkt(MQTT_PUBACK, 1);
    p[1] = ack_pkt(MQTT_PUBREC, 2);
    p[2] = ack_pkt(MQTT_PUBREL, 2);
    p[3] = ack_pkt(MQTT_PUBCOMP, 2);
    p[4] = pingreq_pkt();
    p[5] = disconnect_pkt();
    mqtt_seed("acks", SEL_SERVER_311, p, 6);
    uint8_t codes[3] = {0, 1, 0x80};
    p[0].n = mqtt_encode_connack(p[0].b, sizeof(p[0].b), true, 0);
    p[1].n = mqtt_encode_suback(p[1].b, sizeof(p[1].b), 10, codes, 3);
    p[2] = ack_pkt(MQTT_UNSUBACK, 11);
    p[3].n = mqtt_encode_pingresp(p[3].b, sizeof(p[3].b));
    p[4] = publish_pkt(1, false, false, "x/y", 3, "payload");
    mqtt_seed("client_side", SEL_CLIENT_311, p, 5);
}

/* ---- fuzz_ipc_decode ------------------------------------------------------------------- */

static size_t ipc_enc(uint8_t *out, size_t cap, const struct ipc_msg *m)
{
    size_t n = ipc_encode(m, out, cap);
    if (!n) {
        fprintf(stderr, "seedgen: ipc_encode refused type %u\n", m->type);
        exit(1);
    }
    return n;
}

static struct ipc_bytes ib(const char *s)
{
    return (struct ipc_bytes){(const uint8_t *)s, (uint16_t)strlen(s)};
}

/* Stands in for a client certificate: the codec carries DER without reading it. */
static const uint8_t ipc_cert[] = {0x30, 0x0e, 0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03,
                                   0x55, 0x04, 0x03, 0x0c, 0x03, 'd',  'e',  'v'};

static struct ipc_bytes ib_bin(const uint8_t *p, size_t n)
{
    return (struct ipc_bytes){p, (uint16_t)n};
}

static void gen_ipc(void)
{
    static const uint8_t client_first[] = {'n', ',', ',', 'n', '=', 'a', ',', 'r', '=', 0x01};
    static const uint8_t server_first[] = {'r', '=', 0x01, 0x02, ',', 's', '=', 0x00, 0xFF};
    struct ipc_msg m[IPC_TYPE_MAX];
    static const char *const names[IPC_TYPE_MAX] = {
        "hello",       "connect_req", "connect_resp",      "acl_req",
        "acl_resp",    "generation",  "session_check_req", "session_check_resp",
        "session_end", "tls_refused", "auth_req"};
    memset(m, 0, sizeof(m));
    /* One frame per type, every field filled; m[t - 1] has type t. */
    m[IPC_HELLO - 1] = (struct ipc_msg){.type = IPC_HELLO, .req_id = 0, .u.hello.generation = 1};
    m[IPC_CONNECT_REQ - 1].type = IPC_CONNECT_REQ;
    m[IPC_CONNECT_REQ - 1].req_id = 1;
    m[IPC_CONNECT_REQ - 1].u.connect_req = (struct ipc_connect_req){
        .proto_level = 4,
        .flags = IPC_CONN_CLEAN | IPC_CONN_HAS_USERNAME | IPC_CONN_HAS_PASSWORD,
        .client_id = ib("client-1"),
        .username = ib("alice"),
        .password = ib("pw"),
        .peer = ib("127.0.0.1:50000"),
        .listener = 1,
        .cert = ib_bin(ipc_cert, sizeof(ipc_cert)),
        .conv = 0x0000000100000002u,
        .auth_method = ib("SCRAM-SHA-256"),
        .auth_data = ib_bin(client_first, sizeof(client_first)),
    };
    m[IPC_CONNECT_RESP - 1] = (struct ipc_msg){
        .type = IPC_CONNECT_RESP,
        .req_id = 1,
        .u.connect_resp = {.rc = 0,
                           .generation = 1,
                           .identity = ib("palice"),
                           .limits = {100, 10, 65536, 50},
                           .auth_continue = true,
                           .reason5 = 0x18,
                           .auth_data = ib_bin(server_first, sizeof(server_first))}};
    m[IPC_ACL_REQ - 1].type = IPC_ACL_REQ;
    m[IPC_ACL_REQ - 1].req_id = 2;
    m[IPC_ACL_REQ - 1].u.acl_req = (struct ipc_acl_req){.action = IPC_ACL_SUBSCRIBE,
                                                        .qos = 1,
                                                        .has_username = true,
                                                        .client_id = ib("client-1"),
                                                        .username = ib("alice"),
                                                        .identity = ib("palice"),
                                                        .topic = ib("a/+/#"),
                                                        .listener = 1,
                                                        .cert = ib_bin(ipc_cert, sizeof(ipc_cert))};
    m[IPC_ACL_RESP - 1] = (struct ipc_msg){.type = IPC_ACL_RESP,
                                           .req_id = 2,
                                           .u.acl_resp = {.allow = true,
                                                          .max_qos = 1,
                                                          .generation = 1,
                                                          .flags = IPC_ACL_RETAIN_OK,
                                                          .payload_format = IPC_PAYLOAD_JSON,
                                                          .payload_max = 4096}};
    m[IPC_GENERATION - 1] =
        (struct ipc_msg){.type = IPC_GENERATION, .req_id = 0, .u.generation.generation = 2};
    m[IPC_SESSION_CHECK_REQ - 1].type = IPC_SESSION_CHECK_REQ;
    m[IPC_SESSION_CHECK_REQ - 1].req_id = 3;
    m[IPC_SESSION_CHECK_REQ - 1].u.check_req =
        (struct ipc_session_check_req){.has_username = true,
                                       .client_id = ib("client-1"),
                                       .username = ib("alice"),
                                       .identity = ib("palice"),
                                       .listener = 1,
                                       .cert = ib_bin(ipc_cert, sizeof(ipc_cert))};
    m[IPC_SESSION_CHECK_RESP - 1] =
        (struct ipc_msg){.type = IPC_SESSION_CHECK_RESP,
                         .req_id = 3,
                         .u.check_resp = {.allow = false, .generation = 3}};
    m[IPC_SESSION_END - 1].type = IPC_SESSION_END;
    m[IPC_SESSION_END - 1].u.session_end =
        (struct ipc_session_end){.client_id = ib("client-1"), .identity = ib("palice")};
    m[IPC_TLS_REFUSED - 1].type = IPC_TLS_REFUSED;
    m[IPC_TLS_REFUSED - 1].u.tls_refused =
        (struct ipc_tls_refused){.listener = 2,
                                 .peer = ib("[::1]:40000"),
                                 .reason = ib("certificate revoked"),
                                 .cert = ib_bin(ipc_cert, sizeof(ipc_cert))};
    m[IPC_AUTH_REQ - 1].type = IPC_AUTH_REQ;
    m[IPC_AUTH_REQ - 1].req_id = 4;
    m[IPC_AUTH_REQ - 1].u.connect_req = (struct ipc_connect_req){
        .proto_level = 5,
        .flags = IPC_CONN_CLEAN | IPC_CONN_HAS_USERNAME,
        .client_id = ib("client-1"),
        .username = ib("alice"),
        .peer = ib("127.0.0.1:50000"),
        .listener = 1,
        .cert = ib_bin(ipc_cert, sizeof(ipc_cert)),
        .conv = 0x0000000100000002u,
        .auth_method = ib("SCRAM-SHA-256"),
        .auth_data = ib("c=biws,r=x,p=dGVzdA=="),
    };
    uint8_t frame[512];
    struct buf all = {.n = 0};
    b_byte(&all, 0x07);
    for (int i = 0; i < IPC_TYPE_MAX; i++) {
        struct buf b = {.n = 0};
        /* Chunk-size seeds and all four output bounds. */
        b_byte(&b, (uint8_t)(i * 0x47 + 0x40 * (i % 4)));
        size_t n = ipc_enc(frame, sizeof(frame), &m[i]);
        b_bytes(&b, frame, n);
        b_bytes(&all, frame, n);
        put("ipc_decode", names[i], b.b, b.n);
    }
    put("ipc_decode", "all_types", all.b, all.n);

    /* Policy re-checks and session ends. */
    struct buf rc = {.n = 0};
    b_byte(&rc, 0x45);
    for (int t = IPC_SESSION_CHECK_REQ; t <= IPC_SESSION_END; t++) {
        size_t n = ipc_enc(frame, sizeof(frame), &m[t - 1]);
        b_bytes(&rc, frame, n);
    }
    put("ipc_decode", "recheck_and_end", rc.b, rc.n);

    /* An enhanced-authentication conversation: CONNECT with a method, a challenge, the
     * client's AUTH step, the final verdict with the server's last data. */
    struct ipc_msg fin = m[IPC_CONNECT_RESP - 1];
    fin.req_id = 4;
    fin.u.connect_resp.auth_continue = false;
    fin.u.connect_resp.reason5 = 0;
    fin.u.connect_resp.auth_data = ib("v=c2lnbmF0dXJl");
    const struct ipc_msg *conv[4] = {&m[IPC_CONNECT_REQ - 1], &m[IPC_CONNECT_RESP - 1],
                                     &m[IPC_AUTH_REQ - 1], &fin};
    struct buf ea = {.n = 0};
    b_byte(&ea, 0xC1);
    for (int i = 0; i < 4; i++) {
        size_t n = ipc_enc(frame, sizeof(frame), conv[i]);
        b_bytes(&ea, frame, n);
    }
    put("ipc_decode", "enhanced_auth", ea.b, ea.n);

    /* A publish request without a username, then a truncated frame. */
    struct ipc_msg pub = {.type = IPC_ACL_REQ, .req_id = 9};
    pub.u.acl_req = (struct ipc_acl_req){
        .action = IPC_ACL_PUBLISH, .qos = 2, .client_id = ib("anon"), .topic = ib("$SYS/x")};
    struct buf b = {.n = 0};
    b_byte(&b, 0x80);
    size_t n = ipc_enc(frame, sizeof(frame), &pub);
    b_bytes(&b, frame, n);
    b_bytes(&b, frame, n - 3);
    put("ipc_decode", "acl_publish_truncated", b.b, b.n);
}

/* ---- fuzz_config ----------------------------------------------------------------------- */

static void gen_config(void)
{
    static const char *const docs[][2] = {
        {"full", "listeners:\n"
                 "  - host: 127.0.0.1\n"
                 "    port: 1883\n"
                 "  - host: \"::1\"\n"
                 "    port: 0\n"
                 "allow_anonymous: false\n"
                 "users:\n"
                 "  - username: alice\n"
                 "    password_hash: \"$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g\"\n"
                 "limits:\n"
                 "  max_packet_size: 1048576\n"
                 "  max_connections: 10000\n"
                 "  max_inflight: 20\n"
                 "  max_queued_messages: 1000\n"
                 "  max_queued_bytes: 8388608\n"
                 "  max_topic_length: 1024\n"
                 "  max_topic_levels: 32\n"
                 "  max_client_id_length: 256\n"
                 "  connect_timeout_ms: 10000\n"
                 "  auth_timeout_ms: 5000\n"
                 "  verdict_cache_size: 256\n"
                 "  max_inbound_qos2: 1000\n"
                 "  max_sessions: 100000\n"
                 "log_level: info\n"},
        {"flow", "{listeners: [{host: localhost, port: 8883}], allow_anonymous: yes, "
                 "limits: {max_inflight: 1}, log_level: debug}\n"},
        {"empty", ""},
        {"anchors", "limits: &l {max_sessions: 5}\nlisteners: [{host: 0.0.0.0, port: 1}]\n"
                    "log_level: warn\n"},
        {"bad_dup", "log_level: info\nlog_level: error\n"},
        {"bad_range", "limits:\n  max_inflight: 70000\n"},
        {"two_docs", "---\nallow_anonymous: true\n...\n---\nlog_level: error\n"},
        {"listen_line", "[::1]:1883\nallow_anonymous: true\n"},
        {"sandbox_supervisor", "sandbox:\n"
                               "  worker: {user: bulwark, group: bulwark}\n"
                               "  auth:\n"
                               "    user: bulwark-auth\n"
                               "  allow_root: no\n"
                               "supervisor: {max_restarts: 5, restart_window_s: 60}\n"},
        {"auth_policy", "policy: /etc/bulwark/policy.yaml\n"
                        "auth:\n"
                        "  backends: [password, token, plugins]\n"
                        "  plugins:\n"
                        "    - {path: /usr/lib/bulwark/p.so, config: /etc/bulwark/p.conf}\n"
                        "  token_leeway_s: 30\n"
                        "  audit_log: /var/log/bulwark/audit.jsonl\n"
                        "  bf_free_failures: 3\n"
                        "  bf_base_delay_ms: 100\n"
                        "  bf_max_delay_ms: 50\n"
                        "  verify_cache_size: 0\n"},
        {"users_dup", "users:\n"
                      "  - {username: a, password_hash: \"$argon2id$v=19$x\"}\n"
                      "  - {username: a, password_hash: \"$argon2i$v=19$y\"}\n"},
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        put("config", docs[i][0], (const uint8_t *)docs[i][1], strlen(docs[i][1]));
}

/* ---- fuzz_topic ------------------------------------------------------------------------ */

static void t_rec(struct buf *b, uint8_t op, const char *s)
{
    b_byte(b, op);
    b_str(b, s);
    b_byte(b, 0xFF);
}

/* Subscriber ids are bits 3-6 of the op byte and options bits 5-7 (they overlap). */
#define T_SUB(who, opts) (uint8_t)(2 | (who) << 3 | (opts) << 5)
#define T_UNSUB(who) (uint8_t)(3 | (who) << 3)
#define T_ROUTE 4
#define T_RETAIN 5
#define T_CLEAR (5 | 8)
#define T_LOOKUP 6

static void gen_topic(void)
{
    struct buf b = {.n = 0};
    b_byte(&b, 0x00);
    t_rec(&b, T_SUB(0, 1), "a/+/c");
    t_rec(&b, T_SUB(1, 2), "a/#");
    t_rec(&b, T_SUB(2, 0), "#");
    t_rec(&b, T_SUB(3, 1), "+/+/+");
    t_rec(&b, T_SUB(0, 0), "$SYS/#");
    t_rec(&b, T_ROUTE, "a/b/c");
    t_rec(&b, T_ROUTE, "a");
    t_rec(&b, T_ROUTE, "$SYS/load");
    t_rec(&b, T_UNSUB(1), "a/#");
    t_rec(&b, T_ROUTE, "a/x/c");
    put("topic", "subscriptions", b.b, b.n);

    b.n = 0;
    b_byte(&b, 0x10);
    t_rec(&b, T_RETAIN, "home/kitchen/temp");
    t_rec(&b, T_RETAIN, "home/hall/temp");
    t_rec(&b, T_RETAIN, "$SYS/uptime");
    t_rec(&b, T_RETAIN, "/leading");
    t_rec(&b, T_LOOKUP, "home/+/temp");
    t_rec(&b, T_LOOKUP, "#");
    t_rec(&b, T_LOOKUP, "+/#");
    t_rec(&b, T_CLEAR, "home/hall/temp");
    t_rec(&b, T_LOOKUP, "home/#");
    t_rec(&b, T_LOOKUP, "/+");
    put("topic", "retained", b.b, b.n);

    b.n = 0; /* many subscribers on one filter, most of them leaving again */
    b_byte(&b, 0x00);
    for (int who = 0; who < 12; who++)
        t_rec(&b, T_SUB(who, 0), "s/+");
    t_rec(&b, T_ROUTE, "s/x");
    for (int who = 0; who < 10; who++)
        t_rec(&b, T_UNSUB(who), "s/+");
    t_rec(&b, T_ROUTE, "s/x");
    put("topic", "shared_filter", b.b, b.n);

    b.n = 0;
    b_byte(&b, 0x05); /* max length 8, max levels 1 */
    t_rec(&b, 0, "a//b");
    t_rec(&b, 0, "sport/tennis/player1/#");
    t_rec(&b, 0, "sport+");
    t_rec(&b, 0, "#/a");
    t_rec(&b, 0, "\xc3\xa9t\xc3\xa9/+");
    t_rec(&b, 0, "\xed\xa0\x80");
    t_rec(&b, 0, "/");
    put("topic", "checks", b.b, b.n);
}

/* ---- fuzz_session ---------------------------------------------------------------------- */

enum {
    A_FEED = 0,
    A_ANSWER = 3,
    A_TIME = 4,
    A_CLOSE = 5,
    A_OPEN = 6,
    A_DEAF = 7,
    A_AUTHCH = 8,
    A_GEN = 9
};

static void s_op(struct buf *b, int action, int slot)
{
    b_byte(b, (uint8_t)(action << 2 | slot));
}

static void s_feed(struct buf *b, int slot, struct pkt p)
{
    s_op(b, A_FEED, slot);
    if (p.n < 128) {
        b_byte(b, (uint8_t)p.n);
    } else {
        b_byte(b, (uint8_t)(0x80 | p.n >> 8));
        b_byte(b, (uint8_t)p.n);
    }
    b_bytes(b, p.b, p.n);
}

static void s_arg(struct buf *b, int action, uint8_t arg)
{
    s_op(b, action, 0);
    b_byte(b, arg);
}

/* AUTH ANSWER takes two bytes: what to answer and the policy details (0: plain allow). */
static void s_answer(struct buf *b, uint8_t arg, uint8_t extra)
{
    s_op(b, A_ANSWER, 0);
    b_byte(b, arg);
    b_byte(b, extra);
}

#define ANSWER_ALL(b) s_answer(b, 0, 0)
#define SEL_ROOMY 0x7F /* large limits */
#define SEL_TIGHT 0x80 /* tiny limits, small socket buffers */

static void gen_session(void)
{
    struct buf b;

    b.n = 0; /* one client: connect, ping, disconnect */
    b_byte(&b, SEL_ROOMY);
    s_feed(&b, 0, connect_simple("c1", true));
    ANSWER_ALL(&b);
    s_feed(&b, 0, pingreq_pkt());
    s_feed(&b, 0, disconnect_pkt());
    put("session", "connect_ping_disconnect", b.b, b.n);

    b.n = 0; /* publish/subscribe at every QoS between two clients */
    b_byte(&b, SEL_ROOMY);
    s_feed(&b, 0, connect_simple("sub", true));
    s_feed(&b, 1, connect_pkt("pub", true, 10, "user", "pw", NULL, 0, false));
    ANSWER_ALL(&b);
    s_feed(&b, 0, subscribe_pkt(1, "a/+", 2));
    ANSWER_ALL(&b);
    s_feed(&b, 1, publish_pkt(0, false, false, "a/b", 0, "zero"));
    ANSWER_ALL(&b);
    s_feed(&b, 1, publish_pkt(1, false, false, "a/b", 1, "one"));
    s_feed(&b, 1, publish_pkt(2, false, false, "a/b", 2, "two"));
    s_feed(&b, 1, publish_pkt(2, true, false, "a/b", 2, "two"));
    s_feed(&b, 1, ack_pkt(MQTT_PUBREL, 2));
    s_feed(&b, 0, ack_pkt(MQTT_PUBACK, 1));
    s_feed(&b, 0, ack_pkt(MQTT_PUBREC, 2));
    s_feed(&b, 0, ack_pkt(MQTT_PUBCOMP, 2));
    s_feed(&b, 0, unsubscribe_pkt(3, "a/+"));
    s_feed(&b, 1, disconnect_pkt());
    put("session", "pubsub_qos", b.b, b.n);

    b.n = 0; /* will and retained messages */
    b_byte(&b, SEL_ROOMY);
    s_feed(&b, 0, connect_pkt("dies", true, 0, NULL, NULL, "status/dies", 1, true));
    ANSWER_ALL(&b);
    s_feed(&b, 1, connect_simple("watch", true));
    ANSWER_ALL(&b);
    s_feed(&b, 1, publish_pkt(1, false, true, "status/watch", 5, "up"));
    ANSWER_ALL(&b);
    s_op(&b, A_CLOSE, 0);
    s_feed(&b, 2, connect_simple("late", true));
    ANSWER_ALL(&b);
    s_feed(&b, 2, subscribe_pkt(9, "status/#", 1));
    ANSWER_ALL(&b);
    s_feed(&b, 1, publish_pkt(0, false, true, "status/watch", 0, ""));
    put("session", "will_retained", b.b, b.n);

    b.n = 0; /* session takeover and a persistent session's queue */
    b_byte(&b, SEL_ROOMY);
    s_feed(&b, 0, connect_simple("same", false));
    ANSWER_ALL(&b);
    s_feed(&b, 0, subscribe_pkt(1, "q/#", 1));
    ANSWER_ALL(&b);
    s_op(&b, A_CLOSE, 0);
    s_feed(&b, 1, connect_simple("other", true));
    ANSWER_ALL(&b);
    s_feed(&b, 1, publish_pkt(1, false, false, "q/1", 1, "m1"));
    ANSWER_ALL(&b);
    s_feed(&b, 1, publish_pkt(1, false, false, "q/1", 2, "m2"));
    s_feed(&b, 0, connect_simple("same", false));
    ANSWER_ALL(&b);
    s_feed(&b, 2, connect_simple("same", false));
    ANSWER_ALL(&b);
    s_feed(&b, 2, ack_pkt(MQTT_PUBACK, 1));
    put("session", "takeover_queue", b.b, b.n);

    b.n = 0; /* the auth daemon is slow, then gone, then back */
    b_byte(&b, SEL_ROOMY);
    s_feed(&b, 0, connect_simple("slow", true));
    s_arg(&b, A_TIME, 4);
    s_feed(&b, 1, connect_simple("lost", true));
    s_arg(&b, A_AUTHCH, 1);
    s_arg(&b, A_AUTHCH, 2);
    s_feed(&b, 2, connect_simple("back", true));
    ANSWER_ALL(&b);
    s_feed(&b, 2, subscribe_pkt(4, "x", 0));
    s_arg(&b, A_AUTHCH, 1);
    s_feed(&b, 2, publish_pkt(1, false, false, "x", 5, "p"));
    put("session", "auth_timeout_and_loss", b.b, b.n);

    b.n = 0; /* refusals and a misbehaving auth daemon */
    b_byte(&b, SEL_ROOMY);
    s_feed(&b, 0, connect_simple("denied", true));
    s_answer(&b, 0x08 | 0x20, 0);
    s_feed(&b, 1, connect_simple("ok", true));
    ANSWER_ALL(&b);
    s_feed(&b, 1, subscribe_pkt(2, "deny/me", 1));
    s_answer(&b, 0x10, 0);
    s_feed(&b, 1, publish_pkt(1, false, false, "$SYS/x", 3, "no"));
    ANSWER_ALL(&b);
    s_feed(&b, 2, connect_simple("bad", true));
    s_answer(&b, 0x40, 0);
    put("session", "refusals", b.b, b.n);

    b.n = 0; /* keep-alive and connect timeouts, generations */
    b_byte(&b, SEL_ROOMY);
    s_feed(&b, 0, connect_pkt("ka", true, 1, NULL, NULL, "ka/will", 0, false));
    ANSWER_ALL(&b);
    s_op(&b, A_OPEN, 1);
    s_feed(&b, 0, publish_pkt(0, false, false, "ka/t", 0, "v"));
    ANSWER_ALL(&b);
    s_arg(&b, A_GEN, 7);
    s_feed(&b, 0, publish_pkt(0, false, false, "ka/t", 0, "v"));
    ANSWER_ALL(&b);
    s_arg(&b, A_TIME, 6);
    s_arg(&b, A_TIME, 5);
    put("session", "timeouts_generation", b.b, b.n);

    b.n = 0; /* back-pressure: a subscriber that does not read fills its socket and queue */
    b_byte(&b, SEL_TIGHT | 0x03);
    s_feed(&b, 0, connect_simple("deaf", true));
    s_feed(&b, 1, connect_simple("loud", true));
    ANSWER_ALL(&b);
    s_feed(&b, 0, subscribe_pkt(1, "f", 1));
    ANSWER_ALL(&b);
    s_op(&b, A_DEAF, 0);
    char payload[1000];
    memset(payload, 'p', sizeof(payload) - 1);
    payload[sizeof(payload) - 1] = '\0';
    s_feed(&b, 1, publish_pkt(0, false, false, "f", 0, payload));
    ANSWER_ALL(&b);
    for (uint16_t i = 1; i <= 12; i++)
        s_feed(&b, 1, publish_pkt(i % 3 ? 0 : 1, false, false, "f", i, payload));
    s_feed(&b, 0, pingreq_pkt()); /* read while the output is full: parked */
    s_op(&b, A_DEAF, 0);
    s_feed(&b, 0, ack_pkt(MQTT_PUBACK, 1));
    s_feed(&b, 0, ack_pkt(MQTT_PUBACK, 2));
    put("session", "backpressure", b.b, b.n);

    b.n = 0; /* CONNECT edge cases under tight limits (ids of 8, two sessions, 16-byte topics) */
    b_byte(&b, 0x03 | 0x04 | 0x20);
    s_feed(&b, 0, connect_simple("", true)); /* the broker assigns an id */
    ANSWER_ALL(&b);
    s_feed(&b, 1, connect_simple("", false));         /* CONNACK 2 */
    s_feed(&b, 1, connect_simple("123456789", true)); /* over max_client_id_length */
    s_feed(&b, 1, connect_pkt("w", true, 0, NULL, NULL, "a/+", 0, false));
    s_feed(&b, 1, connect_pkt("w", true, 0, NULL, NULL, "a/b/c/d", 0, false));
    s_feed(&b, 1, connect_pkt("w", true, 0, NULL, NULL, "long/topic/name/x", 0, false));
    s_feed(&b, 1, connect_simple("keep1", false));
    ANSWER_ALL(&b);
    s_op(&b, A_CLOSE, 1);
    s_feed(&b, 2, connect_simple("keep2", false)); /* third session: CONNACK 3 */
    ANSWER_ALL(&b);
    s_op(&b, A_OPEN, 1);
    s_op(&b, A_OPEN, 2); /* over max_connections before the old sockets are noticed */
    put("session", "connect_edges", b.b, b.n);

    b.n = 0; /* one SUBSCRIBE with many filters, verdicts one at a time, some refused */
    b_byte(&b, 0x03 | 0x04 | 0x08 | 0x10 | 0x20);
    s_feed(&b, 0, connect_simple("many", true));
    ANSWER_ALL(&b);
    {
        const char *fs[] = {"a", "a/+",       "a/#", "+/+/+/+", "b/c", "$SYS/x",
                            "#", "a/b/c/d/e", "x/y", "x/+",     "y/#", "z"};
        const uint8_t qs[] = {0, 1, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2};
        s_feed(&b, 0, subscribe_multi(7, fs, qs, 12));
    }
    s_answer(&b, 2, 0);
    s_answer(&b, 1, 0x30);
    s_answer(&b, 1, 0x10);
    s_answer(&b, 0, 0x20);
    s_feed(&b, 1, connect_simple("pub2", true));
    ANSWER_ALL(&b);
    s_feed(&b, 1, publish_pkt(2, false, false, "x/y", 9, "to many"));
    ANSWER_ALL(&b);
    s_feed(&b, 0, ack_pkt(MQTT_PUBREC, 1));
    s_feed(&b, 0, ack_pkt(MQTT_PUBCOMP, 1));
    put("session", "many_filters", b.b, b.n);

    b.n = 0; /* outgoing QoS 2 and the inflight window of 2, queue overflow while offline */
    b_byte(&b, 0x03 | 0x04 | 0x10 | 0x20 | 0x40);
    s_feed(&b, 0, connect_simple("slowsub", false));
    s_feed(&b, 1, connect_simple("fastpub", true));
    ANSWER_ALL(&b);
    s_feed(&b, 0, subscribe_pkt(1, "q", 2));
    ANSWER_ALL(&b);
    s_feed(&b, 1, publish_pkt(2, false, false, "q", 1, "m1"));
    ANSWER_ALL(&b);
    for (uint16_t i = 2; i <= 5; i++)
        s_feed(&b, 1, publish_pkt(2, false, false, "q", i, "mN"));
    for (uint16_t i = 1; i <= 5; i++)
        s_feed(&b, 1, ack_pkt(MQTT_PUBREL, i));
    s_feed(&b, 0, ack_pkt(MQTT_PUBREC, 1));
    s_feed(&b, 0, ack_pkt(MQTT_PUBREC, 1));
    s_feed(&b, 0, ack_pkt(MQTT_PUBCOMP, 1));
    s_feed(&b, 0, ack_pkt(MQTT_PUBREC, 2));
    s_op(&b, A_CLOSE, 0);
    for (uint16_t i = 6; i <= 12; i++)
        s_feed(&b, 1, publish_pkt(1, false, false, "q", i, "offline"));
    s_feed(&b, 0, connect_simple("slowsub", false));
    ANSWER_ALL(&b);
    s_feed(&b, 0, ack_pkt(MQTT_PUBCOMP, 2));
    s_feed(&b, 0, ack_pkt(MQTT_PUBACK, 3));
    put("session", "qos2_inflight_queue", b.b, b.n);

    b.n = 0; /* per-identity limits, payload rules, a policy reload and its re-checks */
    b_byte(&b, SEL_ROOMY);
    s_feed(&b, 0, connect_pkt("limited", false, 60, "alice", "pw", NULL, 0, false));
    s_answer(&b, 0, 0x01); /* tight limits: 1 msg/s, 64 B/s, one subscription */
    s_feed(&b, 0, subscribe_pkt(1, "j/+", 1));
    s_feed(&b, 0, subscribe_pkt(2, "k/#", 0));
    ANSWER_ALL(&b);
    s_feed(&b, 1, connect_pkt("json", true, 60, "bob", NULL, NULL, 0, false));
    ANSWER_ALL(&b);
    s_feed(&b, 1, publish_pkt(1, false, false, "j/1", 1, "{\"t\": [1, 2.5e3, null]}"));
    s_answer(&b, 0, 0x20 | 0x80); /* JSON payloads of at most 64 bytes */
    s_feed(&b, 1, publish_pkt(1, false, true, "j/1", 2, "not json"));
    for (uint16_t i = 3; i < 6; i++)
        s_feed(&b, 0, publish_pkt(0, false, false, "j/2", 0, "rate"));
    ANSWER_ALL(&b);
    s_arg(&b, A_TIME, 5);
    s_arg(&b, A_GEN, 9);
    s_answer(&b, 0x08, 0); /* re-checks: the session is no longer allowed */
    s_arg(&b, A_TIME, 2);
    put("session", "limits_payload_recheck", b.b, b.n);

    b.n = 0; /* packets split across reads, several in one read, MQTT 3.1 */
    b_byte(&b, SEL_ROOMY);
    struct pkt c = connect_31("old"), part = c;
    part.n = 5;
    s_feed(&b, 0, part);
    memmove(part.b, c.b + 5, c.n - 5);
    part.n = c.n - 5;
    s_feed(&b, 0, part);
    ANSWER_ALL(&b);
    struct pkt two = subscribe_pkt(1, "s/+", 1);
    struct pkt pub = publish_pkt(1, false, false, "s/1", 2, "both");
    memcpy(two.b + two.n, pub.b, pub.n);
    two.n += pub.n;
    s_feed(&b, 0, two);
    s_answer(&b, 1, 0);
    s_answer(&b, 1, 0);
    s_feed(&b, 1, connect_v5("five"));
    put("session", "split_and_batched", b.b, b.n);
}

/* ---- fuzz_jwt (written by fuzz_jwt.c's author; its modes are in its header) ---------- */

static void jwt_seed(const char *name, uint8_t sel, const char *a, const char *b)
{
    struct buf j = {.n = 0};
    b_byte(&j, sel);
    b_str(&j, a);
    if (b) {
        b_byte(&j, 0xFF);
        b_str(&j, b);
    }
    put("jwt", name, j.b, j.n);
}

static void gen_jwt(void)
{
    jwt_seed("json", 0, "{\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"\\u00e9\\n\"}}",
             NULL);
    jwt_seed("json_dup", 0, "{\"k\": 1, \"k\": 2}", NULL);
    jwt_seed("token_shape", 1, "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln", NULL);
    jwt_seed("signed_a", 2, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}",
             "{\"sub\":\"alice\",\"iss\":\"iss-a\",\"aud\":\"aud-a\",\"iat\":1699999000,"
             "\"nbf\":1699999000,\"exp\":1700000100}");
    jwt_seed("signed_b_kid", 2 | 4, "{\"alg\":\"EdDSA\",\"kid\":\"kb\"}",
             "{\"sub\":\"bob\",\"iss\":\"iss-b\",\"aud\":[\"x\",\"aud-b\"],"
             "\"exp\":1700000000}");
    jwt_seed("signed_expired", 2 | 0x08, "{\"alg\":\"EdDSA\"}",
             "{\"sub\":\"carol\",\"iss\":\"iss-a\",\"aud\":\"aud-a\",\"exp\":1600000000}");
    jwt_seed("password", 3, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seedgen OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
        die(outdir);
    gen_mqtt();
    gen_ipc();
    gen_config();
    gen_topic();
    gen_session();
    gen_jwt();
    return 0;
}
