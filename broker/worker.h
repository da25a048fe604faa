/* worker: the broker role. One epoll loop serves every client connection.
 *
 * Promises: the loop never blocks (sockets, the auth channel and the supervisor channel
 * are all non-blocking); a CONNECT, every SUBSCRIBE filter and the first PUBLISH of a
 * session to a topic wait in a paused state for the auth daemon's verdict while everyone
 * else is served; every buffer and queue is bounded by struct config_limits; a connection
 * that breaks a rule is closed alone. See docs/ARCHITECTURE.md for the data model. */
#ifndef BULWARK_WORKER_H
#define BULWARK_WORKER_H

#include "cmdline.h"

int worker_main(const struct cmdline *cl, const struct config *cfg);

#endif
