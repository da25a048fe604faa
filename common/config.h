/* config: the server configuration (bulwark.yaml) and the quick-start command line.
 *
 * Promises:
 *  - config_defaults() gives a complete, safe configuration (no listeners, anonymous
 *    access refused, every limit set).
 *  - config_load_file() parses with libyaml and either fills *cfg completely or leaves it
 *    untouched and writes "FILE:LINE:COLUMN: message" into err. Unknown keys, wrong types,
 *    out-of-range numbers and duplicate keys are errors.
 *  - Every limit the broker enforces lives in struct config_limits with a key in the file.
 *  - sandbox: the users the roles drop to; supervisor: the crash-loop limit.
 */
#ifndef BULWARK_CONFIG_H
#define BULWARK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTENERS 16
#define CONFIG_MAX_USERS 1024
#define CONFIG_NAME_MAX 64           /* system user and group names, with the NUL */
#define CONFIG_MAX_RESTARTS_MAX 1000 /* bound of supervisor.max_restarts */

#define CONFIG_PATH_MAX 512

/* Client certificates on a TLS listener. */
enum config_client_certs {
    CLIENT_CERTS_NONE = 0,     /* not asked for */
    CLIENT_CERTS_OPTIONAL = 1, /* asked for; a client without one may still connect */
    CLIENT_CERTS_REQUIRED = 2, /* the handshake fails without a valid one */
};

/* A TLS listener (docs/TLS.md). Relative paths are resolved against the configuration file's
 * directory when the file is loaded. */
struct config_tls {
    bool enabled;
    char cert[CONFIG_PATH_MAX];    /* server certificate chain, PEM: read by the worker */
    char key[CONFIG_PATH_MAX];     /* its private key, PEM: read by the auth daemon only */
    char ca[CONFIG_PATH_MAX];      /* CAs that issue client certificates, PEM ("" = none) */
    char revoked[CONFIG_PATH_MAX]; /* `bulwark ca` revocation list, re-read on SIGHUP */
    uint8_t client_certs;          /* enum config_client_certs */
    uint8_t min_version;           /* 12 (TLS 1.2, default) or 13 */
    bool bind_client_id;           /* a certificate's CN must equal the client id (default) */
    char ciphers[512];             /* wolfSSL cipher list, "" = the built-in strong list */
    uint32_t handshake_timeout_ms; /* a TLS handshake not done by then is dropped */
};

struct config_listener {
    char host[64]; /* numeric IPv4/IPv6 address or "localhost" */
    uint16_t port; /* 0: pick a free port (tests) */
    struct config_tls tls;
};

struct config_user {
    char username[128];
    char password_hash[192]; /* libsodium crypto_pwhash_str (argon2id) string */
};

struct config_limits {
    uint32_t max_packet_size;     /* bytes of a whole packet, incoming */
    uint32_t max_connections;     /* concurrent client connections */
    uint32_t max_inflight;        /* outgoing QoS 1/2 messages awaiting ack, per session */
    uint32_t max_queued_messages; /* QoS 1/2 messages queued beyond inflight, per session */
    uint32_t max_queued_bytes;    /* bytes waiting in one connection's output queue */
    uint32_t max_topic_length;    /* bytes */
    uint32_t max_topic_levels;
    uint32_t max_client_id_length;
    uint32_t connect_timeout_ms; /* socket closed if no CONNECT by then */
    uint32_t auth_timeout_ms;    /* a CONNECT waiting longer for the auth daemon is refused */
    uint32_t verdict_cache_size; /* cached ACL verdicts per session */
    uint32_t max_inbound_qos2;   /* incoming QoS 2 packet ids awaiting PUBREL, per session */
    uint32_t max_sessions;       /* online + offline sessions */
    /* MQTT 5.0 (docs/MQTT5.md). */
    uint32_t max_properties;      /* properties in one packet, user properties included */
    uint32_t max_properties_size; /* bytes of one packet's properties */
    uint32_t topic_alias_maximum; /* inbound topic aliases per connection (0: none) */
    uint32_t receive_maximum;     /* inbound QoS 1/2 publishes unacknowledged, per connection */
    uint32_t max_keepalive;       /* seconds; 5.0 clients asking more (or 0) get this (0: no cap) */
    uint32_t max_session_expiry_s; /* 5.0 Session Expiry Interval cap (4294967295: none) */
};

/* The system user a role drops to when bulwarkd starts as root. */
struct config_role_user {
    char user[CONFIG_NAME_MAX];
    char group[CONFIG_NAME_MAX]; /* "" (only from --user): the user's primary group */
};

struct config_sandbox {
    struct config_role_user worker; /* default bulwark-worker:bulwark */
    struct config_role_user auth;   /* default bulwark-auth:bulwark */
    bool allow_root;                /* a role may run as uid or gid 0 */
};

/* Crash-loop limit: more than max_restarts deaths of one role within restart_window_s
 * make the supervisor stop everything and exit non-zero. */
struct config_supervisor {
    uint32_t max_restarts;
    uint32_t restart_window_s;
};

#define CONFIG_MAX_PLUGINS 8

/* The authentication chain of the auth daemon (docs/POLICY.md, docs/PLUGINS.md). */
enum config_backend { BACKEND_PASSWORD = 1, BACKEND_TOKEN = 2, BACKEND_PLUGINS = 3 };

struct config_plugin {
    char path[CONFIG_PATH_MAX];
    char config[1024]; /* handed to the plugin's init; may hold a secret: never logged */
};

struct config_auth {
    uint8_t order[3]; /* enum config_backend, in the order asked; 0 ends the list */
    struct config_plugin plugins[CONFIG_MAX_PLUGINS];
    size_t n_plugins;
    uint32_t token_leeway_s;
    char audit_log[CONFIG_PATH_MAX]; /* "" = no audit log */
    char audit_key[CONFIG_PATH_MAX]; /* "" = unkeyed chain */
    /* Brute-force throttling (auth/bruteforce.h). */
    uint32_t bf_free_failures;
    uint32_t bf_base_delay_ms;
    uint32_t bf_max_delay_ms;
    uint32_t bf_window_s;
    uint32_t bf_max_tracked;
    /* Successful password verifications remembered (auth/verify_cache.h). */
    uint32_t verify_cache_size;
    uint32_t verify_cache_ttl_s;
};

struct config {
    char path[512]; /* file loaded, "" for command line only */
    char policy[CONFIG_PATH_MAX]; /* access policy file, "" = the built-in rules */
    struct config_auth auth;
    struct config_listener listeners[CONFIG_MAX_LISTENERS];
    size_t n_listeners;
    bool allow_anonymous;
    struct config_user users[CONFIG_MAX_USERS];
    size_t n_users;
    struct config_limits limits;
    struct config_sandbox sandbox;
    struct config_supervisor supervisor;
    int log_level; /* enum log_level */
};

void config_defaults(struct config *cfg);
/* A listener's TLS settings before its `tls:` block: disabled, TLS 1.2 minimum, client ids
 * bound to certificates, 10 s handshake timeout. */
void config_tls_defaults(struct config_tls *t);
/* Returns 0 on success, -1 with err filled otherwise. */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);
/* Parses "HOST:PORT" or "[V6]:PORT" into a listener. Returns 0 or -1 with err. */
int config_parse_listen(struct config_listener *l, const char *spec, char *err, size_t errlen);
/* true if name can be a system user or group name: 1..CONFIG_NAME_MAX-1 bytes of letters,
 * digits, '_', '.', '-', not starting with '-'. */
bool config_name_ok(const char *name);
/* The policy file as the auth daemon opens it: a relative `policy` is relative to the
 * configuration file's directory. "" when the built-in rules apply. Returns out. */
const char *config_policy_path(const struct config *cfg, char *out, size_t cap);

#endif
