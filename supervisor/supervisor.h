/* supervisor: the parent process of bulwarkd.
 *
 * Promises: binds every listener before any role starts (so a bad address fails the
 * start, not a role), starts the worker and the auth daemon by re-executing this binary,
 * gives each a fresh worker<->auth channel whenever either (re)starts, restarts a dead role
 * with exponential backoff (logged with its exit status or signal), forwards SIGHUP to the
 * auth daemon, and on SIGTERM/SIGINT stops both roles and exits 0 with no child left.
 * It never reads client traffic and holds no credentials.
 * Sandbox (docs/HARDENING.md): before binding, when root, it resolves each role's user and
 * refuses to start if one is missing or root (unless sandbox.allow_root); after binding it
 * confines itself (capabilities, no_new_privs, Landlock, seccomp) and starts each role with
 * --run-as. A role's violation report ('S' on its control channel) names the system call
 * in the death log line. More than supervisor.max_restarts deaths of one role within
 * restart_window_s stop everything with exit status 1. */
#ifndef BULWARK_SUPERVISOR_H
#define BULWARK_SUPERVISOR_H

#include "cmdline.h"

int supervisor_main(int argc, char **argv, const struct cmdline *cl, const struct config *cfg);

#endif
