#include "cli_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"

#define TAIL_MAX 100000L
#define CHUNK 65536

static int usage(void)
{
    fprintf(stderr,
            "usage: bulwark audit verify [--key KEYFILE] [--head HEADFILE | --no-head] FILE...\n"
            "         check the hash chain of FILE (several files: oldest first, one chain);\n"
            "         the head defaults to the last FILE + \".head\" when it exists\n"
            "       bulwark audit tail [-n N] FILE\n"
            "         print the last N lines (default 10), control bytes shown as '?'\n"
            "       bulwark audit keygen KEYFILE\n"
            "         write a new random chain key (mode 0600) for the auth daemon\n");
    return 2;
}

static int cmd_verify(int argc, char **argv)
{
    const char *key_path = NULL, *head_path = NULL;
    bool no_head = false;
    char **files = calloc((size_t)argc, sizeof(*files));
    size_t nfiles = 0;
    if (!files)
        return 1;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--key") && i + 1 < argc) {
            key_path = argv[++i];
        } else if (!strcmp(argv[i], "--head") && i + 1 < argc) {
            head_path = argv[++i];
        } else if (!strcmp(argv[i], "--no-head")) {
            no_head = true;
        } else if (!strcmp(argv[i], "--")) {
            while (++i < argc)
                files[nfiles++] = argv[i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "bulwark audit verify: unknown or incomplete option '%s'\n", argv[i]);
            goto out;
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if (nfiles == 0 || (no_head && head_path)) {
        usage();
        goto out;
    }
    rc = 1;
    uint8_t key[AUDIT_KEY_BYTES];
    char msg[512];
    if (key_path) {
        if (audit_key_load(key_path, key, msg, sizeof(msg)) != 0) {
            fprintf(stderr, "bulwark audit verify: %s\n", msg);
            goto out;
        }
    }
    struct audit_verifier v;
    audit_verifier_init(&v, key_path ? key : NULL);
    sodium_memzero(key, sizeof(key));

    char auto_head[4096];
    struct stat st;
    if (!head_path && !no_head) {
        int n = snprintf(auto_head, sizeof(auto_head), "%s.head", files[nfiles - 1]);
        if (n > 0 && (size_t)n < sizeof(auto_head) && stat(auto_head, &st) == 0) {
            head_path = auto_head;
            fprintf(stderr, "%s: using it as the head (--no-head to skip)\n", auto_head);
        }
    }
    if (head_path && audit_verifier_head(&v, head_path, msg, sizeof(msg)) != 0) {
        printf("%s: %s\n", head_path, msg);
        audit_verifier_finish(&v, msg, sizeof(msg));
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++) {
        uint64_t lines;
        if (audit_verifier_file(&v, files[i], &lines, msg, sizeof(msg)) != 0) {
            printf("%s: %s\n", files[i], msg);
            audit_verifier_finish(&v, msg, sizeof(msg));
            goto out;
        }
        printf("%s: ok, %llu lines\n", files[i], (unsigned long long)lines);
        if (msg[0])
            fprintf(stderr, "%s: note: %s\n", files[i], msg);
    }
    if (audit_verifier_finish(&v, msg, sizeof(msg)) != 0) {
        printf("%s\n", msg);
        goto out;
    }
    if (msg[0])
        fprintf(stderr, "note: %s\n", msg);
    if (!head_path)
        fprintf(stderr, "note: no head file: lines deleted from the end cannot be detected\n");
    rc = 0;
out:
    fflush(stdout);
    free(files);
    return rc;
}

/* Copies [from, end of file) to stdout, showing bytes that could drive a terminal as '?'. */
static int copy_out(int fd, off_t from)
{
    char buf[CHUNK];
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof(buf), from);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        for (ssize_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)buf[i];
            if ((c < 0x20 && c != '\n') || c > 0x7e)
                buf[i] = '?';
        }
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
            return -1;
        from += n;
    }
}

static int cmd_tail(int argc, char **argv)
{
    long want = 10;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            char *end;
            errno = 0;
            want = strtol(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || want < 1 || want > TAIL_MAX) {
                fprintf(stderr, "bulwark audit tail: -n takes 1..%ld\n", TAIL_MAX);
                return 2;
            }
        } else if (argv[i][0] == '-' || path) {
            return usage();
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return usage();
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        fprintf(stderr, "bulwark audit tail: %s: %s\n", path, strerror(errno));
        return 1;
    }
    /* One pass keeping the start offsets of the last `want` lines in a ring. */
    off_t *ring = calloc((size_t)want, sizeof(*ring));
    char *buf = malloc(CHUNK);
    int rc = 1;
    if (!ring || !buf)
        goto out;
    size_t count = 0;
    off_t pos = 0, line_start = 0;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "bulwark audit tail: %s: %s\n", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n')
                continue;
            ring[count++ % (size_t)want] = line_start;
            line_start = pos + i + 1;
        }
        pos += n;
    }
    if (line_start < pos)
        ring[count++ % (size_t)want] = line_start;
    off_t from = count == 0 ? pos : ring[count < (size_t)want ? 0 : count % (size_t)want];
    if (copy_out(fd, from) != 0) {
        fprintf(stderr, "bulwark audit tail: %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (line_start < pos)
        putchar('\n'); /* the last line was cut short */
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    free(ring);
    free(buf);
    close(fd);
    return rc;
}

int cli_audit(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "verify"))
        return cmd_verify(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tail"))
        return cmd_tail(argc - 1, argv + 1);
    if (!strcmp(argv[1], "keygen")) {
        if (argc != 3 || argv[2][0] == '-')
            return usage();
        char err[512];
        if (audit_key_generate(argv[2], err, sizeof(err)) != 0) {
            fprintf(stderr, "bulwark audit keygen: %s\n", err);
            return 1;
        }
        printf("%s: new audit key written (mode 0600)\n", argv[2]);
        return 0;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage();
        return 0;
    }
    fprintf(stderr, "bulwark audit: unknown subcommand '%s'\n", argv[1]);
    return usage();
}
