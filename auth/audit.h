/* audit: the auth daemon's tamper-evident audit log (docs/AUDIT.md has the format).
 *
 * Promises: one event is one JSON line, written with one write(2) (continued if the kernel
 * writes short); a failed write leaves the file as it was. Lines are hash-chained with BLAKE2b
 * (crypto_generichash), optionally keyed, so a changed, inserted, reordered or deleted line fails
 * verification; `path.head` (kept by default) records the chain's end so that deleting lines at the
 * end is caught too. Field names that look like secrets (pass, pwd, token, key, secret, cred) are
 * refused, and values are escaped by json_out to printable ASCII. Single writer: an exclusive
 * flock(2) on the log refuses a second writer; one struct audit_log must not be used by two threads
 * at once. */
#ifndef BULWARK_AUDIT_H
#define BULWARK_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_KEY_BYTES 32u       /* crypto_generichash_KEYBYTES */
#define AUDIT_HASH_BYTES 32u      /* crypto_generichash_BYTES */
#define AUDIT_LINE_MAX (1u << 20) /* whole line, escaped, newline included */
#define AUDIT_FIELDS_MAX 32u
#define AUDIT_NAME_MAX 64u /* event names and field keys */

struct audit_log;

struct audit_options {
    const uint8_t *key; /* AUDIT_KEY_BYTES, or NULL for an unkeyed chain; copied */
    bool no_head;       /* do not keep path.head */
    bool sync_each;     /* fdatasync the log (and the head) after every line */
};

/* Opens (creating with mode 0600, or appending to) path. Appending: the last line must be
 * whole and its hash must verify under the key, and must not be behind path.head; then an
 * "audit_resume" line is written. A new or empty file starts with an "audit_start" line that
 * continues the chain recorded in path.head when there is one (the log was rotated away),
 * else starts a new chain. The log and path.head are both open on return (no open(2) per
 * event). Returns NULL with err saying what is wrong and what to do. */
struct audit_log *audit_open(const char *path, char *err, size_t errlen);
struct audit_log *audit_open_opts(const char *path, const struct audit_options *o, char *err,
                                  size_t errlen);
/* Closes the file and wipes the key. NULL is fine. */
void audit_close(struct audit_log *a);

/* One event = one line: ts, seq, prev, event, the fields in order, then h. Event names are
 * [a-z0-9_.]{1,64} and must not start with "audit_" (the module's own); keys are
 * [a-z0-9_]{1,64}, unique, not ts/seq/prev/event/h, and not secret-looking. Values are
 * untrusted bytes (value NULL means empty). Returns 0, or -1 with errno: EINVAL (bad name,
 * key or count), EMSGSIZE (line over AUDIT_LINE_MAX), EIO (an earlier write failed and could
 * not be undone: the log is closed to writes), or the write(2) error. A failure to update
 * the head file does not fail the event (it is logged once). */
struct audit_field {
    const char *key;
    const char *value;
    size_t value_len;
};
int audit_event(struct audit_log *a, const char *event, const struct audit_field *f, size_t n);
/* fdatasync the log, then rewrite the head durably. Returns 0 or -1 (errno). */
int audit_sync(struct audit_log *a);
/* The descriptors the open log writes through (for the sandbox's keep list). Returns how many
 * were written to out (at most 2). */
size_t audit_fds(const struct audit_log *a, int *out, size_t cap);
/* For log rotation: if path no longer names the open file (it was renamed away), opens it
 * anew; a new file continues this chain. Returns 0, or -1 with err (the old file stays in
 * use). */
int audit_reopen(struct audit_log *a, char *err, size_t errlen);
/* The last line written: its seq and hash (for anchoring elsewhere). */
uint64_t audit_last_seq(const struct audit_log *a);
void audit_last_hash(const struct audit_log *a, uint8_t out[AUDIT_HASH_BYTES]);

/* Key files: 64 hex digits and a newline, mode 0600. Load refuses a file that group or
 * others may read. Generate creates the file (never replaces one). Return 0 or -1 + err. */
int audit_key_load(const char *path, uint8_t key[AUDIT_KEY_BYTES], char *err, size_t errlen);
int audit_key_generate(const char *path, char *err, size_t errlen);

/* Verification of one chain, possibly spread over several files given oldest first.
 * Memory is bounded by AUDIT_LINE_MAX whatever the files hold. */
struct audit_verifier {
    uint8_t key[AUDIT_KEY_BYTES];
    bool keyed;
    bool started;       /* a line has been checked */
    uint64_t first_seq; /* of the first line checked */
    uint64_t last_seq;
    uint8_t last_h[AUDIT_HASH_BYTES];
    bool expect; /* a head was loaded */
    bool expect_seen;
    uint64_t expect_seq;
    uint8_t expect_h[AUDIT_HASH_BYTES];
    char expect_path[256];
};
void audit_verifier_init(struct audit_verifier *v, const uint8_t *key);
/* Loads a head file (path.head, or a copy kept elsewhere): the chain must reach its seq with
 * its hash. Returns 0, or 1 with msg. */
int audit_verifier_head(struct audit_verifier *v, const char *head_path, char *msg, size_t msglen);
/* Checks the next file of the chain. Returns 0 (msg holds a note, or is empty) or 1 with msg
 * naming the first bad line and why; *lines counts the lines that verified. */
int audit_verifier_file(struct audit_verifier *v, const char *path, uint64_t *lines, char *msg,
                        size_t msglen);
/* After the last file: checks the head's seq was reached. Returns 0 (msg: a note or empty)
 * or 1 with msg. Wipes the key. */
int audit_verifier_finish(struct audit_verifier *v, char *msg, size_t msglen);

/* Unkeyed, no head: returns 0 if the whole file verifies, else 1 with a message naming the
 * first bad line number and why (hash mismatch, broken prev link, seq gap, truncated final
 * line, not JSON-shaped as written). */
int audit_verify_file(const char *path, char *msg, size_t msglen, uint64_t *lines_ok);

#endif
