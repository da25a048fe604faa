/* Regression test for what fuzz_session found first: a client that hangs up while its
 * connection is paused (its CONNECT or SUBSCRIBE waiting for the auth daemon, so EPOLLIN is
 * not watched) made the worker spin. Level-triggered EPOLLHUP/EPOLLERR are reported even
 * when not asked for, and the read path returned at once for a paused connection, so every
 * epoll_wait returned immediately until the verdict came (up to auth_timeout_ms per
 * connection, at full CPU). The harness reports it as "the loop does not go quiet".
 * Fixed in broker/worker.c (worker_conn_event): such a connection is closed.
 *
 * test_replay: the script, replayed through the harness's entry point (fuzz/triage), so
 * every invariant the harness checks applies: client 0's CONNECT waits for the auth
 * daemon and the client hangs up; client 1 connects, its SUBSCRIBE waits for the ACL
 * verdict and it hangs up. It fails without the fix.
 * test_hangup_while_paused: the same through the worker's API, independent of the
 * harness's input format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The harness reports a broken invariant as a test failure instead of aborting. */
#define FUZZ_FAIL(...) fail_msg(__VA_ARGS__)
#include "../../fuzz/fuzz_session.c"

static const uint8_t input[] = {
    0x7f,                                                       /* roomy limits */
    0x00, 0x13,                                                 /* client 0 sends 19 bytes: */
    0x10, 0x11, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, /* CONNECT "waits" */
    0x00, 0x3c, 0x00, 0x05, 0x77, 0x61, 0x69, 0x74, 0x73,       /* */
    0x14,                                                       /* client 0 hangs up */
    0x01, 0x12,                                                 /* client 1 sends 18 bytes: */
    0x10, 0x10, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, /* CONNECT "subs" */
    0x00, 0x3c, 0x00, 0x04, 0x73, 0x75, 0x62, 0x73,             /* */
    0x0c, 0x00, 0x00,                                           /* the auth daemon answers */
    0x01, 0x0a,                                                 /* client 1 sends 10 bytes: */
    0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 0x61, 0x2f, 0x2b, 0x01, /* SUBSCRIBE 1 "a/+" QoS 1 */
    0x15,                                                       /* client 1 hangs up */
    0x0c, 0x00, 0x00,                                           /* the auth daemon answers */
};

static void test_replay(void **state)
{
    (void)state;
    assert_int_equal(LLVMFuzzerTestOneInput(input, sizeof(input)), 0);
}

static void test_hangup_while_paused(void **state)
{
    (void)state;
    init_once();
    setup(0x7f);
    auth_attach(0);
    pump();
    slot_open(&slots[0], 0);
    static const uint8_t connect[] = {0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54,
                                      0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00};
    assert_int_equal(write(slots[0].peer, connect, sizeof(connect)), (ssize_t)sizeof(connect));
    pump();
    struct conn *c = find_conn(slots[0].conn_id);
    assert_non_null(c);
    assert_int_equal(c->wait, WAIT_CONNECT); /* paused: the auth daemon was not answered */
    assert_false(c->ep_events & EPOLLIN);

    slot_reset(&slots[0]); /* the client hangs up */
    struct epoll_event ev;
    assert_int_equal(epoll_wait(w.epfd, &ev, 1, 0), 1); /* reported though not asked for */
    assert_ptr_equal(ev.data.ptr, &c->h);
    assert_true(ev.events & EPOLLHUP);
    worker_conn_event(&w, c, ev.events);
    assert_int_equal(c->state, CS_CLOSED);
    worker_end_turn(&w);
    assert_int_equal(epoll_wait(w.epfd, &ev, 1, 0), 0); /* quiet again */
    assert_int_equal(w.n_conns, 0);

    worker_fini(&w);
    auth_close();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_hangup_while_paused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
