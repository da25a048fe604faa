/* acl: publish/subscribe decisions until the YAML policy exists (issue: policy).
 *
 * Promises: deny by default for what clients must never do: publishing to a topic that
 * starts with '$' (reserved for the broker); everything else is allowed to an
 * authenticated (or, if configured, anonymous) client at up to QoS 2. */
#ifndef BULWARK_ACL_H
#define BULWARK_ACL_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc.h"

struct acl_verdict {
    bool allow;
    uint8_t max_qos;
};

struct acl_verdict acl_decide(const struct ipc_acl_req *req);

#endif
