/* readfile: a whole file into memory, bounded.
 *
 * Promises: reads at most max bytes (a larger file is an error, so a parser never grows with
 * or blocks on its input), retries EINTR, and on failure returns NULL with
 * "PATH: cannot open|cannot read|larger than N bytes|out of memory" in err. The buffer has
 * max + 1 bytes; the caller frees it. */
#ifndef BULWARK_READFILE_H
#define BULWARK_READFILE_H

#include <stddef.h>

char *read_file_bounded(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#endif
