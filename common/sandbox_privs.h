/* sandbox_privs: descriptors, core dumps, users and capabilities.
 *
 * Promises: every function either does all of its job or returns -1 with err filled (or
 * errno set), so a caller never continues half-dropped. */
#ifndef BULWARK_SANDBOX_PRIVS_H
#define BULWARK_SANDBOX_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Closes every descriptor above 2 not listed in keep[]. Returns 0 or -1 (errno). */
int sandbox_close_fds_except(const int *keep, size_t n);

/* RLIMIT_CORE 0 and PR_SET_DUMPABLE 0: no core file, no ptrace by the same uid. */
int sandbox_no_core(char *err, size_t errlen);

/* setgroups(none), setresgid, setresuid to uid/gid, then checks that every id changed and
 * that uid 0 cannot be regained. uid or gid 0 is refused unless allow_root. */
int sandbox_switch_user(uid_t uid, gid_t gid, bool allow_root, char *err, size_t errlen);

/* The supervisor, when root: keeps only CAP_SETUID, CAP_SETGID (the roles switch users),
 * CAP_KILL (to signal them), CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (the roles' setup sees
 * files as root would) in every capability set, bounding set included, and only those it
 * has: a bounding set already reduced (systemd's CapabilityBoundingSet) is fine. */
int sandbox_limit_caps(char *err, size_t errlen);

/* Resolves a role's user and group names ("" group: the user's primary group). key names
 * the configuration section in messages ("sandbox.worker"). uid or gid 0 is refused unless
 * allow_root. The error says how to create a missing user. */
int sandbox_resolve_ids(const char *key, const char *user, const char *group, bool allow_root,
                        uid_t *uid, gid_t *gid, char *err, size_t errlen);

#endif
