/* revlist: the list of revoked certificate serials that `bulwark ca revoke` writes and the
 * auth daemon reads on every reload (docs/CA.md).
 *
 * File format: UTF-8 text, one entry per line, `SERIALHEX<TAB>REVOKED_AT_UNIX<TAB>CN`;
 * lines starting with '#' and blank lines are ignored; a final line may lack its newline
 * and a trailing CR is dropped.
 *
 * Promises:
 *  - revlist_load reads at most REVLIST_MAX_BYTES, accepts the whole file or nothing: on
 *    any error the list is left empty and err says "FILE:LINE:COLUMN: message" (1-based;
 *    the column counts bytes). A zero serial, a serial longer than REVLIST_SERIAL_MAX_HEX
 *    significant digits, a duplicate serial, a time that is not a plain decimal, a CN
 *    longer than REVLIST_CN_MAX bytes or holding control bytes or invalid UTF-8, and a
 *    wrong number of fields are errors.
 *  - Serials are compared in canonical form (serial_normalize): lowercase hex, no ':'
 *    separators, no leading zeros; lookup is a binary search over a sorted array.
 *  - A loaded list does not change until revlist_free; lookups never allocate. */
#ifndef BULWARK_REVLIST_H
#define BULWARK_REVLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REVLIST_MAX_BYTES (16u * 1024 * 1024)
#define REVLIST_SERIAL_MAX_HEX 64 /* significant digits: 32 bytes (RFC 5280 allows 20) */
#define REVLIST_CN_MAX 256

struct revlist_entry {
    char serial[REVLIST_SERIAL_MAX_HEX + 1]; /* canonical */
    int64_t revoked_at;                      /* Unix seconds */
    char *cn;                                /* may be empty */
    size_t line;                             /* where it stood in the file */
};

struct revlist {
    struct revlist_entry *entries; /* sorted by serial (length, then bytes) */
    size_t count;
};

/* Returns 0, or -1 with err set and rl empty. rl needs no initialisation; call revlist_free
 * on it in both cases. */
int revlist_load(struct revlist *rl, const char *path, char *err, size_t errlen);
/* Same, from a buffer already in memory; name is used in error messages. */
int revlist_parse(struct revlist *rl, const char *name, const char *text, size_t len, char *err,
                  size_t errlen);
/* serial_hex in any case, with or without ':' separators and leading zeros. False for a
 * malformed serial. */
bool revlist_contains(const struct revlist *rl, const char *serial_hex);
/* The entry for serial_hex (same forms), or NULL. */
const struct revlist_entry *revlist_find(const struct revlist *rl, const char *serial_hex);
void revlist_free(struct revlist *rl);

/* Writes the canonical form of in to out and returns out, or NULL when in is empty, holds
 * anything but hex digits and single ':' between digits, or has more than
 * REVLIST_SERIAL_MAX_HEX significant digits, or when out (cap bytes) is too small. An
 * all-zero serial becomes "0". */
const char *serial_normalize(const char *in, char *out, size_t cap);

#endif
