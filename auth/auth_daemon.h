/* auth_daemon: the role that decides who may connect and what they may do.
 *
 * Promises: answers every request of the worker over the IPC channel, in order, and
 * never trusts it further than the protocol allows; holds the credentials (the worker
 * never sees a password hash); reloads the configuration on SIGHUP atomically (an invalid
 * file keeps the previous state and logs why), bumping the generation the worker tags its
 * cached verdicts with. Has no network socket of its own. */
#ifndef BULWARK_AUTH_DAEMON_H
#define BULWARK_AUTH_DAEMON_H

#include "cmdline.h"

int auth_main(int argc, char **argv, const struct cmdline *cl, struct config *cfg);

#endif
