#include "sandbox_privs.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_KEEP 64
#define NAME_BUF 16384 /* getpwnam_r/getgrnam_r scratch space */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* close_range where the kernel has it (5.9+), one close() per descriptor otherwise. */
static int close_span(unsigned lo, unsigned hi)
{
    if (close_range(lo, hi, 0) == 0)
        return 0;
    if (errno != ENOSYS)
        return -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rlim_t top =
        rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
    for (unsigned fd = lo; fd <= hi && fd < top; fd++)
        close((int)fd);
    return 0;
}

int sandbox_close_fds_except(const int *keep, size_t n)
{
    int sorted[MAX_KEEP] = {0};
    if (n > MAX_KEEP) {
        errno = EINVAL;
        return -1;
    }
    if (n)
        memcpy(sorted, keep, n * sizeof(int));
    qsort(sorted, n, sizeof(int), cmp_int);
    unsigned next = 3;
    for (size_t i = 0; i < n; i++) {
        if (sorted[i] < (int)next)
            continue; /* 0..2, negatives and repeats */
        if ((unsigned)sorted[i] > next && close_span(next, (unsigned)sorted[i] - 1) != 0)
            return -1;
        next = (unsigned)sorted[i] + 1;
    }
    return close_span(next, ~0u);
}

int sandbox_no_core(char *err, size_t errlen)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) {
        snprintf(err, errlen, "setrlimit(RLIMIT_CORE): %s", strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        snprintf(err, errlen, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
        return -1;
    }
    return 0;
}

int sandbox_switch_user(uid_t uid, gid_t gid, bool allow_root, char *err, size_t errlen)
{
    if (!allow_root && (uid == 0 || gid == 0)) {
        snprintf(err, errlen, "refusing to run as uid %u gid %u: root needs sandbox.allow_root",
                 (unsigned)uid, (unsigned)gid);
        return -1;
    }
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
        snprintf(err, errlen, "cannot switch to uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
                 strerror(errno));
        return -1;
    }
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 || r != uid || e != uid ||
        s != uid || rg != gid || eg != gid || sg != gid || getgroups(0, NULL) != 0) {
        snprintf(err, errlen, "switching to uid %u gid %u did not take", (unsigned)uid,
                 (unsigned)gid);
        return -1;
    }
    if (uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "uid 0 could be regained after switching to uid %u", (unsigned)uid);
        return -1;
    }
    return 0;
}

/* What the roles need from root before they drop to their users: switching (SETUID,
 * SETGID), being signalled by the supervisor (KILL), and seeing files as root does while
 * they read their configuration, policy, keys and plugins and create their logs
 * (DAC_OVERRIDE, DAC_READ_SEARCH; Landlock confines writing to the log directories). */
#define KEPT_CAPS                                                                                  \
    ((1u << CAP_SETUID) | (1u << CAP_SETGID) | (1u << CAP_KILL) | (1u << CAP_DAC_OVERRIDE) |       \
     (1u << CAP_DAC_READ_SEARCH))

static bool cap_kept(unsigned cap)
{
    return cap < 32 && (KEPT_CAPS & (1u << cap));
}

int sandbox_limit_caps(char *err, size_t errlen)
{
    for (unsigned cap = 0; cap < 64; cap++) {
        int in_set = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in_set < 0)
            break; /* past the kernel's last */
        /* Already gone (systemd's CapabilityBoundingSet): nothing to do, and dropping
         * would need CAP_SETPCAP, which may be gone too. */
        if (in_set == 0 || cap_kept(cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            snprintf(err, errlen, "dropping capability %u from the bounding set: %s", cap,
                     strerror(errno));
            return -1;
        }
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); /* EINVAL before 4.3: none */
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) != 0) {
        snprintf(err, errlen, "capget: %s", strerror(errno));
        return -1;
    }
    data[0].permitted &= KEPT_CAPS;
    data[0].effective = data[0].permitted;
    data[0].inheritable = 0;
    data[1].permitted = data[1].effective = data[1].inheritable = 0;
    if (syscall(SYS_capset, &hdr, data) != 0) {
        snprintf(err, errlen, "capset: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int sandbox_resolve_ids(const char *key, const char *user, const char *group, bool allow_root,
                        uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    static char buf[NAME_BUF];
    struct passwd pw, *pwp = NULL;
    int rc = getpwnam_r(user, &pw, buf, sizeof(buf), &pwp);
    if (!pwp) {
        if (rc != 0 && rc != ENOENT && rc != ESRCH)
            snprintf(err, errlen, "%s.user: cannot look up '%s': %s", key, user, strerror(rc));
        else
            snprintf(err, errlen,
                     "%s.user: there is no user '%s' on this system: create it with "
                     "scripts/ensure-users.sh (useradd --system --no-create-home --shell "
                     "/usr/sbin/nologin %s), or set %s.user to an existing unprivileged user",
                     key, user, user, key);
        return -1;
    }
    uid_t u = pwp->pw_uid;
    gid_t g = pwp->pw_gid;
    if (group[0]) {
        struct group gr, *grp = NULL;
        rc = getgrnam_r(group, &gr, buf, sizeof(buf), &grp);
        if (!grp) {
            if (rc != 0 && rc != ENOENT && rc != ESRCH)
                snprintf(err, errlen, "%s.group: cannot look up '%s': %s", key, group,
                         strerror(rc));
            else
                snprintf(err, errlen,
                         "%s.group: there is no group '%s' on this system: create it with "
                         "scripts/ensure-users.sh (groupadd --system %s)",
                         key, group, group);
            return -1;
        }
        g = grp->gr_gid;
    }
    if (!allow_root && u == 0) {
        snprintf(err, errlen,
                 "%s.user: '%s' is uid 0; roles never run as root unless sandbox.allow_root is "
                 "true",
                 key, user);
        return -1;
    }
    if (!allow_root && g == 0) {
        snprintf(err, errlen,
                 "%s.group: gid 0 (root's group); roles never run with it unless "
                 "sandbox.allow_root is true",
                 key);
        return -1;
    }
    *uid = u;
    *gid = g;
    return 0;
}
