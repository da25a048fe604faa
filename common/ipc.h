/* ipc: the worker <-> auth daemon protocol.
 *
 * Frame (all integers big-endian):
 *   u8 version (IPC_VERSION) | u8 type | u16 reserved (0) | u32 request id | u32 length | payload
 * Strings and byte strings in a payload are u16 length + bytes.
 *
 * Promises:
 *  - ipc_decode() is the one place frames are parsed. It is strict: unknown version, type,
 *    non-zero reserved bits, unknown flag bits, a length over IPC_MAX_PAYLOAD, fields
 *    running past the payload, or bytes left after the last field are all errors. It never
 *    reads outside its input and never allocates; strings point into the input.
 *  - Each side treats the other as untrusted: the caller still checks a verdict's request id
 *    against what it asked.
 *  - struct ipc_chan buffers a non-blocking socket both ways with hard bounds on each buffer.
 */
#ifndef BULWARK_IPC_H
#define BULWARK_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_VERSION 1
#define IPC_HEADER_LEN 12
#define IPC_MAX_PAYLOAD (256u * 1024u)

enum ipc_type {
    IPC_HELLO = 1,        /* auth -> worker on a new channel: current generation */
    IPC_CONNECT_REQ = 2,  /* worker -> auth: may this client connect? */
    IPC_CONNECT_RESP = 3, /* auth -> worker: CONNACK return code */
    IPC_ACL_REQ = 4,      /* worker -> auth: may this client publish/subscribe topic? */
    IPC_ACL_RESP = 5,     /* auth -> worker: verdict */
    IPC_GENERATION = 6,   /* auth -> worker: policy changed, drop cached verdicts */
    IPC_SESSION_CHECK_REQ = 7,  /* worker -> auth: is this live session still allowed? */
    IPC_SESSION_CHECK_RESP = 8, /* auth -> worker: verdict */
    IPC_SESSION_END = 9,        /* worker -> auth, no answer: a connection of an identity ended */
    IPC_TLS_REFUSED = 10,       /* worker -> auth, no answer: a client certificate was refused */
    IPC_AUTH_REQ = 11, /* worker -> auth: the client's next AUTH step (payload as CONNECT_REQ) */
};
#define IPC_TYPE_MAX IPC_AUTH_REQ

enum ipc_decode_result {
    IPC_OK = 0,
    IPC_NEED_MORE = 1, /* not a whole frame yet */
    IPC_E_VERSION = -1,
    IPC_E_TYPE = -2,
    IPC_E_RESERVED = -3, /* reserved header bits or unknown flag bits set */
    IPC_E_TOO_LONG = -4,
    IPC_E_TRUNCATED = -5, /* a field runs past the payload */
    IPC_E_TRAILING = -6,  /* bytes left after the last field */
    IPC_E_VALUE = -7,     /* a field holds a value outside its range */
};

const char *ipc_err_str(int err);

struct ipc_bytes {
    const uint8_t *p;
    uint16_t len;
};

#define IPC_CONN_CLEAN 0x01
#define IPC_CONN_HAS_USERNAME 0x02
#define IPC_CONN_HAS_PASSWORD 0x04
#define IPC_CONN_FLAGS_ALL 0x07

struct ipc_connect_req {
    uint8_t proto_level; /* 3, 4 or 5 */
    uint8_t flags;       /* IPC_CONN_* */
    struct ipc_bytes client_id;
    struct ipc_bytes username;
    struct ipc_bytes password;
    struct ipc_bytes peer; /* "address:port" text, for the log and rate limits */
    uint8_t listener;      /* index of the listener in the configuration */
    struct ipc_bytes cert; /* DER of the verified client certificate, empty without one */
    /* MQTT 5 enhanced authentication: the worker's id for the conversation (one per
     * connection), the method and the client's data of this step (CONNECT or AUTH). */
    uint64_t conv;
    struct ipc_bytes auth_method;
    struct ipc_bytes auth_data;
};

/* Per-identity limits decided at CONNECT; 0 means unlimited (the broker's own limits still
 * apply). */
struct ipc_limits {
    uint32_t msgs_per_s;
    uint32_t msgs_burst;
    uint32_t bytes_per_s;
    uint32_t max_subscriptions;
};

struct ipc_connect_resp {
    uint8_t rc; /* enum mqtt_connack_rc */
    uint32_t generation;
    struct ipc_bytes identity; /* who the client was authenticated as ("" = anonymous) */
    struct ipc_limits limits;
    /* Enhanced authentication: true = not decided yet, send auth_data to the client in an
     * AUTH packet (reason 0x18) and wait for its answer. */
    bool auth_continue;
    uint8_t reason5;            /* MQTT 5 reason code when rc alone cannot say it (0: from rc) */
    struct ipc_bytes auth_data; /* server data for the AUTH packet (or the CONNACK) */
};

enum ipc_acl_action { IPC_ACL_PUBLISH = 1, IPC_ACL_SUBSCRIBE = 2 };

struct ipc_acl_req {
    uint8_t action; /* enum ipc_acl_action */
    uint8_t qos;    /* 0..2 */
    bool has_username;
    struct ipc_bytes client_id;
    struct ipc_bytes username;
    struct ipc_bytes identity; /* from the CONNECT_RESP of this connection */
    struct ipc_bytes topic;    /* name for publish, filter for subscribe */
    uint8_t listener;
    struct ipc_bytes cert; /* as in the connection's CONNECT_REQ */
};

#define IPC_ACL_RETAIN_OK 0x01 /* publish: the retain flag may be set */
#define IPC_ACL_SEALED 0x02    /* publish: payloads must be sealed envelopes */
#define IPC_ACL_FLAGS_ALL 0x03

enum ipc_payload_format { IPC_PAYLOAD_ANY = 0, IPC_PAYLOAD_UTF8 = 1, IPC_PAYLOAD_JSON = 2 };

struct ipc_acl_resp {
    bool allow;
    uint8_t max_qos; /* 0..2: the highest QoS granted */
    uint32_t generation;
    uint8_t flags;          /* IPC_ACL_* */
    uint8_t payload_format; /* enum ipc_payload_format */
    uint32_t payload_max;   /* bytes, 0 = no limit beyond max_packet_size */
};

struct ipc_session_check_req {
    bool has_username;
    struct ipc_bytes client_id;
    struct ipc_bytes username;
    struct ipc_bytes identity;
    uint8_t listener;
    struct ipc_bytes cert; /* re-checked: a certificate revoked since CONNECT ends the session */
};

/* A TLS handshake failed on the client certificate: the auth daemon audits it. */
struct ipc_tls_refused {
    uint8_t listener;
    struct ipc_bytes peer;
    struct ipc_bytes reason; /* short text, e.g. "certificate expired" */
    struct ipc_bytes cert;   /* DER of the refused certificate, empty if none was sent */
};

struct ipc_session_check_resp {
    bool allow;
    uint32_t generation;
};

struct ipc_session_end {
    struct ipc_bytes client_id;
    struct ipc_bytes identity;
};

struct ipc_generation {
    uint32_t generation;
};

struct ipc_msg {
    uint8_t type; /* enum ipc_type */
    uint32_t req_id;
    union {
        struct ipc_generation hello;
        struct ipc_connect_req connect_req;
        struct ipc_connect_resp connect_resp;
        struct ipc_acl_req acl_req;
        struct ipc_acl_resp acl_resp;
        struct ipc_generation generation;
        struct ipc_session_check_req check_req;
        struct ipc_session_check_resp check_resp;
        struct ipc_session_end session_end;
        struct ipc_tls_refused tls_refused;
    } u;
};

/* Decodes one frame from buf[0..len). On IPC_OK, *consumed is the frame's size. */
int ipc_decode(const uint8_t *buf, size_t len, struct ipc_msg *out, size_t *consumed);
/* Encodes m; returns bytes written or 0 if cap is too small or a field is out of range. */
size_t ipc_encode(const struct ipc_msg *m, uint8_t *out, size_t cap);

/* A non-blocking framed channel over a connected stream socket. */
struct ipc_chan {
    int fd;
    uint8_t *in;
    size_t in_len, in_cap;
    size_t in_off; /* start of undecoded bytes */
    uint8_t *out;
    size_t out_len, out_cap, out_off;
    size_t out_max; /* hard bound on queued output */
};

int ipc_chan_init(struct ipc_chan *c, int fd, size_t out_max);
void ipc_chan_free(struct ipc_chan *c); /* does not close fd */
/* Reads what is available. Returns >0 bytes read, 0 on EOF, -1 on error (errno),
 * -2 when nothing is available (EAGAIN). */
long ipc_chan_read(struct ipc_chan *c);
/* Next decoded message from the input buffer: IPC_OK, IPC_NEED_MORE or an error (the
 * channel is then unusable and should be closed). Strings in *m stay valid until the
 * next ipc_chan_read(). */
int ipc_chan_next(struct ipc_chan *c, struct ipc_msg *m);
/* Queues m; -1 if it does not fit in out_max or does not encode. */
int ipc_chan_send(struct ipc_chan *c, const struct ipc_msg *m);
/* Writes queued output. Returns 0 when all is written, 1 when some remains (EAGAIN),
 * -1 on error. */
int ipc_chan_flush(struct ipc_chan *c);
bool ipc_chan_pending_output(const struct ipc_chan *c);

#endif
