/* Unit tests for common/keysign.c: the worker <-> auth daemon signature messages, strict
 * decoding, and keysign_call() over a real socketpair against a signer in a child process. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keysign.h"

static void test_request_roundtrip(void **state)
{
    (void)state;
    struct keysign_req r = {.listener = 3, .seq = 0x01020304, .hash_len = 48};
    memset(r.hash, 0xab, sizeof(r.hash));
    uint8_t buf[KEYSIGN_REQ_MAX];
    size_t n = keysign_req_encode(&r, buf, sizeof(buf));
    assert_int_equal(n, 7 + 48);
    struct keysign_req d;
    assert_int_equal(keysign_req_decode(buf, n, &d), 0);
    assert_int_equal(d.listener, 3);
    assert_int_equal(d.seq, 0x01020304);
    assert_int_equal(d.hash_len, 48);
    assert_memory_equal(d.hash, r.hash, 48);
    /* one byte short, one byte long, wrong version, zero and oversize hash lengths */
    assert_int_equal(keysign_req_decode(buf, n - 1, &d), -1);
    assert_int_equal(keysign_req_decode(buf, n + 1, &d), -1);
    buf[0] = 2;
    assert_int_equal(keysign_req_decode(buf, n, &d), -1);
    buf[0] = KEYSIGN_VERSION;
    buf[6] = 0;
    assert_int_equal(keysign_req_decode(buf, 7, &d), -1);
    buf[6] = KEYSIGN_HASH_MAX + 1;
    assert_int_equal(keysign_req_decode(buf, 7 + KEYSIGN_HASH_MAX + 1, &d), -1);
    r.hash_len = 0;
    assert_int_equal(keysign_req_encode(&r, buf, sizeof(buf)), 0);
    r.hash_len = 32;
    assert_int_equal(keysign_req_encode(&r, buf, 10), 0); /* cap too small */
}

static void test_response_rules(void **state)
{
    (void)state;
    struct keysign_resp r = {.status = KEYSIGN_OK, .seq = 9, .sig_len = 71};
    memset(r.sig, 0x5a, r.sig_len);
    uint8_t buf[KEYSIGN_RESP_MAX];
    size_t n = keysign_resp_encode(&r, buf, sizeof(buf));
    assert_int_equal(n, 8 + 71);
    struct keysign_resp d;
    assert_int_equal(keysign_resp_decode(buf, n, &d), 0);
    assert_int_equal(d.sig_len, 71);
    assert_int_equal(d.seq, 9);
    /* an OK without a signature, or an error with one, is malformed both ways */
    r.sig_len = 0;
    assert_int_equal(keysign_resp_encode(&r, buf, sizeof(buf)), 0);
    r.status = KEYSIGN_ERROR;
    n = keysign_resp_encode(&r, buf, sizeof(buf));
    assert_int_equal(n, 8);
    buf[1] = KEYSIGN_OK;
    assert_int_equal(keysign_resp_decode(buf, n, &d), -1);
    buf[1] = 7; /* unknown status */
    assert_int_equal(keysign_resp_decode(buf, n, &d), -1);
    r.status = KEYSIGN_OK;
    r.sig_len = KEYSIGN_SIG_MAX + 1;
    assert_int_equal(keysign_resp_encode(&r, buf, sizeof(buf)), 0);
}

/* The signer: answers a stale seq first, then the real one (reversed hash as "signature"). */
static void signer(int fd, bool refuse, bool stale_first, bool silent)
{
    uint8_t buf[KEYSIGN_RESP_MAX];
    ssize_t n = read(fd, buf, sizeof(buf));
    struct keysign_req q;
    if (n <= 0 || keysign_req_decode(buf, (size_t)n, &q) != 0)
        _exit(1);
    if (silent) {
        sleep(2);
        _exit(0);
    }
    struct keysign_resp r = {.seq = q.seq};
    if (stale_first) {
        r.seq = q.seq - 1;
        r.status = KEYSIGN_OK;
        r.sig_len = 1;
        r.sig[0] = 0xee;
        size_t m = keysign_resp_encode(&r, buf, sizeof(buf));
        if (write(fd, buf, m) != (ssize_t)m)
            _exit(1);
        r.seq = q.seq;
    }
    r.status = refuse ? KEYSIGN_ERROR : KEYSIGN_OK;
    r.sig_len = refuse ? 0 : q.hash_len;
    for (size_t i = 0; i < r.sig_len; i++)
        r.sig[i] = q.hash[q.hash_len - 1 - i];
    size_t m = keysign_resp_encode(&r, buf, sizeof(buf));
    if (write(fd, buf, m) != (ssize_t)m)
        _exit(1);
    _exit(0);
}

static int call_with(bool refuse, bool stale_first, bool silent, uint8_t *sig, size_t *sig_len)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 300000};
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        signer(sv[1], refuse, stale_first, silent);
    }
    close(sv[1]);
    uint8_t hash[32];
    for (int i = 0; i < 32; i++)
        hash[i] = (uint8_t)i;
    int rc = keysign_call(sv[0], 0, hash, sizeof(hash), sig, sig_len);
    close(sv[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return rc;
}

static void test_call(void **state)
{
    (void)state;
    uint8_t sig[KEYSIGN_SIG_MAX];
    size_t len = sizeof(sig);
    assert_int_equal(call_with(false, false, false, sig, &len), 0);
    assert_int_equal(len, 32);
    assert_int_equal(sig[0], 31);
    /* a stale answer to an earlier request is skipped, never taken */
    len = sizeof(sig);
    assert_int_equal(call_with(false, true, false, sig, &len), 0);
    assert_int_equal(len, 32);
    assert_int_equal(sig[31], 0);
    len = sizeof(sig);
    assert_int_equal(call_with(true, false, false, sig, &len), -1);
    /* a signer that never answers: the receive timeout ends the wait */
    len = sizeof(sig);
    assert_int_equal(call_with(false, false, true, sig, &len), -1);
    /* no channel at all */
    assert_int_equal(keysign_call(-1, 0, sig, 32, sig, &len), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_roundtrip),
        cmocka_unit_test(test_response_rules),
        cmocka_unit_test(test_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
