/* sandbox_landlock: file, TCP and signal confinement with Landlock (Linux 5.13+).
 *
 * Promises: sandbox_landlock() restricts the calling process (which must already have
 * no_new_privs) with every right the kernel's Landlock ABI knows, as the role needs:
 *  - supervisor: no file may be written, created, removed or renamed (reading and executing
 *    stay open: roles still load libraries and the configuration); no TCP bind or connect;
 *  - worker: no file access at all, no TCP bind or connect;
 *  - auth: reading files and directories beneath the configuration file's directory (and
 *    the directory of its resolved path, if a symlink leads elsewhere), nothing else; no TCP
 *    bind or connect.
 * From ABI 6 on, no role may signal a process or reach an abstract unix socket outside its
 * own Landlock domain. Returns the ABI version applied (>= 1), 0 when the kernel has no
 * Landlock (nothing done), -1 with err filled on failure. */
#ifndef BULWARK_SANDBOX_LANDLOCK_H
#define BULWARK_SANDBOX_LANDLOCK_H

#include <stddef.h>

#include "sandbox.h"

int sandbox_landlock(enum sandbox_role role, const char *config_path, char *err, size_t errlen);

/* The kernel's Landlock ABI version, 0 if it has none. */
int sandbox_landlock_abi(void);

#endif
