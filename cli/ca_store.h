/* ca_store: the CA directory of `bulwark ca` (docs/CA.md): index.tsv, serial-state, the
 * revoked file, and how files in it are created.
 *
 * Promises:
 *  - Every change happens under an exclusive flock on the directory itself (readers take a
 *    shared one), so two `bulwark ca` runs never interleave.
 *  - index.tsv, serial-state and revoked are replaced atomically (a temporary file in the
 *    directory, fsync, rename, fsync of the directory): a crash leaves the old or the new
 *    file, never a mix.
 *  - New key and certificate files are created with O_EXCL and their final mode from the
 *    start: a private key is never readable by others, not even briefly, and no existing
 *    file is ever overwritten.
 *  - Files read are bounded (index 16 MiB, serial-state 4 KiB) and parsed strictly; errors
 *    name the file and line.
 *  - serial-state counts the certificates ever issued; an index with fewer entries than that
 *    count, or without the last serial issued, is refused as truncated or replaced. */
#ifndef BULWARK_CA_STORE_H
#define BULWARK_CA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "revlist.h"
#include "strmap.h"

#define CA_STORE_CN_MAX 128
#define CA_INDEX_MAX_BYTES (16u * 1024 * 1024)

enum ca_rec_kind { CA_REC_CLIENT, CA_REC_SERVER };

struct ca_record {
    char serial[REVLIST_SERIAL_MAX_HEX + 1]; /* canonical hex */
    enum ca_rec_kind kind;
    int64_t issued_at, not_after, revoked_at; /* revoked_at 0: not revoked */
    char cn[CA_STORE_CN_MAX + 1];
};

struct ca_index {
    struct ca_record **recs; /* in issue order, each its own allocation */
    size_t count, cap;
    uint64_t issued;                       /* serial-state's count */
    char last[REVLIST_SERIAL_MAX_HEX + 1]; /* serial-state's last serial, "" if none */
    struct strmap by_serial;
};

const char *ca_rec_kind_name(enum ca_rec_kind k);
/* "valid", "revoked" or "expired" at time now. */
const char *ca_rec_status(const struct ca_record *r, int64_t now);

/* Locks dir (LOCK_EX or LOCK_SH). Returns the descriptor to pass to ca_unlock, or -1. */
int ca_lock(const char *dir, bool exclusive, char *err, size_t errlen);
void ca_unlock(int fd);

void ca_index_init(struct ca_index *ix); /* empty */
/* Reads index.tsv and serial-state of dir and checks them against each other. */
int ca_index_load(const char *dir, struct ca_index *ix, char *err, size_t errlen);
void ca_index_free(struct ca_index *ix);
const struct ca_record *ca_index_find(const struct ca_index *ix, const char *serial);
/* Appends r (serial must be new) and counts it as issued. */
int ca_index_add(struct ca_index *ix, const struct ca_record *r, char *err, size_t errlen);
/* Writes index.tsv, then serial-state, then revoked. */
int ca_index_save(const char *dir, const struct ca_index *ix, char *err, size_t errlen);

/* Writes a fresh CA directory's empty index.tsv, serial-state and revoked. */
int ca_store_init(const char *dir, char *err, size_t errlen);

/* Creates path with O_EXCL and mode, writes data, fsyncs. On failure nothing is left. */
int ca_write_new(const char *path, const void *data, size_t len, mode_t mode, char *err,
                 size_t errlen);
/* Replaces dir/name atomically with data (mode). */
int ca_write_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
                    char *err, size_t errlen);

/* "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void ca_iso8601(int64_t t, char *out, size_t cap);

#endif
