#include "acl.h"

struct acl_verdict acl_decide(const struct ipc_acl_req *req)
{
    struct acl_verdict v = {.allow = true, .max_qos = 2};
    if (req->action == IPC_ACL_PUBLISH && req->topic.len > 0 && req->topic.p[0] == '$')
        v.allow = false;
    return v;
}
