/* sandbox_landlock: file, TCP and signal confinement with Landlock (Linux 5.13+).
 *
 * Promises: sandbox_landlock() restricts the calling process (which must already have
 * no_new_privs) with every right the kernel's Landlock ABI knows, as the role needs:
 *  - supervisor (and so, until their own ruleset, the roles it starts): no file may be
 *    written, created, removed or renamed, except beneath the directory of each write
 *    path (write, create, truncate); reading and executing stay open (roles still load
 *    libraries and read their configuration);
 *  - worker: no file access at all;
 *  - auth: reading files and directories beneath the directory of each read path (and of
 *    its resolved path, if a symlink leads elsewhere), nothing else; descriptors opened
 *    before (the audit log) keep working;
 *  - all: no TCP bind or connect (ABI 4+); no signal to, and no abstract unix socket of, a
 *    process outside its own Landlock domain (ABI 6+).
 * A path whose directory does not exist is skipped (what needs it fails on its own, with
 * its own message). Returns the ABI version applied (>= 1), 0 when the kernel has no
 * Landlock (nothing done), -1 with err filled on failure. */
#ifndef BULWARK_SANDBOX_LANDLOCK_H
#define BULWARK_SANDBOX_LANDLOCK_H

#include <stddef.h>

#include "sandbox.h"

struct sandbox_paths {
    const char *const *read; /* auth: files whose directories stay readable */
    size_t n_read;
    const char *const *write; /* supervisor: files whose directories stay writable */
    size_t n_write;
};

int sandbox_landlock(enum sandbox_role role, const struct sandbox_paths *paths, char *err,
                     size_t errlen);

/* The kernel's Landlock ABI version, 0 if it has none. */
int sandbox_landlock_abi(void);

#endif
