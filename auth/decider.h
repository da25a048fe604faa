/* decider: everything the auth daemon decides, and the state it decides with.
 *
 * Promises:
 *  - CONNECT: brute-force throttling first (a locked-out address or username is refused
 *    without verifying anything), then the backend chain in configured order (password,
 *    token, plugins); no opinion means anonymous, allowed only with allow_anonymous. With a
 *    policy, the client must also be known to it (client-id bindings) and within the
 *    identity's max_connections. The answer names a principal (the identity, tagged with
 *    the token issuer that vouched for it) and carries the identity's limits.
 *  - PUBLISH/SUBSCRIBE: the policy decides (deny by default); without a policy file, the
 *    built-in rules (auth/acl.h). Publishing to $SYS is never allowed to a client.
 *  - Every authentication result, denial, limit hit and reload goes to the audit log; no
 *    password, token or key ever does.
 *  - decider_reload() is atomic: a configuration or policy that does not load leaves every
 *    piece of the old state in place and says why. */
#ifndef BULWARK_DECIDER_H
#define BULWARK_DECIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ipc.h"

struct decider;

/* cfg is copied. Returns NULL with err filled. */
struct decider *decider_new(const struct config *cfg, char *err, size_t errlen);
void decider_free(struct decider *d);
/* Takes the new configuration (and its policy) or keeps everything. Returns 0 or -1. */
int decider_reload(struct decider *d, const struct config *cfg, char *err, size_t errlen);
/* Audits a reload refused before the decider saw it (e.g. bulwark.yaml did not load). */
void decider_reload_refused(struct decider *d, const char *why);
uint32_t decider_generation(const struct decider *d);

/* The principal string in out->identity points into principal (cap >= 256). */
void decider_connect(struct decider *d, const struct ipc_connect_req *r,
                     struct ipc_connect_resp *out, char *principal, size_t cap);
/* The next step of an MQTT 5 enhanced authentication the CONNECT started
 * (auth/enhanced_auth.h); answered like a CONNECT. */
void decider_auth_step(struct decider *d, const struct ipc_connect_req *r,
                       struct ipc_connect_resp *out, char *principal, size_t cap);
void decider_acl(struct decider *d, const struct ipc_acl_req *r, struct ipc_acl_resp *out);
bool decider_session_check(struct decider *d, const struct ipc_session_check_req *r);
void decider_session_end(struct decider *d, const struct ipc_session_end *r);
/* Audits a client certificate the worker's TLS layer refused. */
void decider_tls_refused(struct decider *d, const struct ipc_tls_refused *r);
/* The worker channel was replaced (a new worker): every counted connection is gone. */
void decider_worker_reset(struct decider *d);
/* Descriptors the decider keeps open (the audit log), for the sandbox's keep list. */
size_t decider_fds(const struct decider *d, int *out, size_t cap);

#endif
