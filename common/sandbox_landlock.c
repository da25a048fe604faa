#include "sandbox_landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Rights newer than Debian 12's kernel headers (values from the kernel's ABI). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* The ruleset attribute as of ABI 6; older kernels accept it while the new fields are 0. */
struct ll_ruleset {
    uint64_t handled_fs;
    uint64_t handled_net;
    uint64_t scoped;
};

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* Writing and creating regular files (an append-only log and its head file). */
#define FS_WRITE                                                                                   \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_TRUNCATE)

static uint64_t fs_rights(int abi)
{
    uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */
    if (abi >= 2)
        r |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        r |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return r;
}

int sandbox_landlock_abi(void)
{
#ifdef SYS_landlock_create_ruleset
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
#else
    return 0;
#endif
}

#ifdef SYS_landlock_create_ruleset
/* Allows access beneath dir; a directory that does not exist is skipped. */
static int allow_dir(int ruleset, const char *dir, uint64_t access, char *err, size_t errlen)
{
    int fd = open(dir, O_PATH | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0) {
        snprintf(err, errlen, "landlock: cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    struct landlock_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "landlock: rule for %s: %s", dir, strerror(e));
        return -1;
    }
    return 0;
}

/* The directory part of path into out ("." for a bare name). */
static void dir_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(out, len, ".");
    } else if (slash == path) {
        snprintf(out, len, "/");
    } else {
        snprintf(out, len, "%.*s", (int)(slash - path), path);
    }
}

/* Allows access beneath the directory of each path, and of its resolved path if a symlink
 * leads elsewhere. */
static int allow_dirs_of(int ruleset, const char *const *paths, size_t n, uint64_t access,
                         char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX], real_dir[PATH_MAX];
        dir_of(paths[i], dir, sizeof(dir));
        if (allow_dir(ruleset, dir, access, err, errlen) != 0)
            return -1;
        char *real = realpath(paths[i], NULL);
        if (!real)
            continue; /* not there (yet): what opens it will say so */
        dir_of(real, real_dir, sizeof(real_dir));
        free(real);
        char *real_of_dir = realpath(dir, NULL);
        bool same = real_of_dir && strcmp(real_of_dir, real_dir) == 0;
        free(real_of_dir);
        if (!same && allow_dir(ruleset, real_dir, access, err, errlen) != 0)
            return -1;
    }
    return 0;
}
#endif

int sandbox_landlock(enum sandbox_role role, const struct sandbox_paths *paths, char *err,
                     size_t errlen)
{
#ifdef SYS_landlock_create_ruleset
    int abi = sandbox_landlock_abi();
    if (abi <= 0)
        return 0;
    struct ll_ruleset rs = {0};
    rs.handled_fs = fs_rights(abi);
    if (role == SANDBOX_SUPERVISOR)
        rs.handled_fs &= ~(LANDLOCK_ACCESS_FS_EXECUTE | FS_READ);
    if (abi >= 4)
        rs.handled_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
    if (abi >= 6)
        rs.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &rs, sizeof(rs), 0);
    if (ruleset < 0) {
        snprintf(err, errlen, "landlock_create_ruleset (ABI %d): %s", abi, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (role == SANDBOX_AUTH)
        rc = allow_dirs_of(ruleset, paths->read, paths->n_read, FS_READ, err, errlen);
    if (role == SANDBOX_SUPERVISOR)
        rc = allow_dirs_of(ruleset, paths->write, paths->n_write, rs.handled_fs & FS_WRITE, err,
                           errlen);
    if (rc != 0) {
        close(ruleset);
        return -1;
    }
    long r = syscall(SYS_landlock_restrict_self, ruleset, 0);
    int e = errno;
    close(ruleset);
    if (r != 0) {
        snprintf(err, errlen, "landlock_restrict_self: %s", strerror(e));
        return -1;
    }
    return abi;
#else
    (void)role;
    (void)paths;
    (void)err;
    (void)errlen;
    return 0;
#endif
}
