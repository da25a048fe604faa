/* supervisor: the parent process of bulwarkd.
 *
 * Promises: binds every listener before any role starts (so a bad address fails the
 * start, not a role), starts the worker and the auth daemon by re-executing this binary,
 * gives each a fresh worker<->auth channel whenever either (re)starts, restarts a dead role
 * with exponential backoff (logged with its exit status or signal), forwards SIGHUP to the
 * auth daemon, and on SIGTERM/SIGINT stops both roles and exits 0 with no child left.
 * It never reads client traffic and holds no credentials. */
#ifndef BULWARK_SUPERVISOR_H
#define BULWARK_SUPERVISOR_H

#include "cmdline.h"

int supervisor_main(int argc, char **argv, const struct config *cfg);

#endif
