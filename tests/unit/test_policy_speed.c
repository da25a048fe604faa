/* Decision speed of a 1000-rule policy (reported, never asserted: the machine is shared) and
 * the answers on that policy, which are asserted so the measured work is the real work. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"

#define USERS 200
#define GROUPS 20

static char path[64];
static struct policy *p;

/* 400 publish rules, 300 subscribe rules, 200 rules with %c for everyone, 100 denies. */
static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof(path), "/tmp/bulwark-policy-speed-XXXXXX");
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        return -1;
    fprintf(f, "users:\n");
    for (int i = 0; i < USERS; i++)
        fprintf(f, "  - name: u%d\n    password: \"$7$101$c2FsdA$aGFzaA\"\n", i);
    fprintf(f, "groups:\n");
    for (int g = 0; g < GROUPS; g++) {
        fprintf(f, "  - name: g%d\n    members: [", g);
        for (int i = g; i < USERS; i += GROUPS)
            fprintf(f, "%su%d", i == g ? "" : ", ", i);
        fprintf(f, "]\n");
    }
    fprintf(f, "rules:\n");
    for (int i = 0; i < 400; i++)
        fprintf(f,
                "  - {allow: publish, topics: \"tenant/%d/+/telemetry\", groups: [g%d], qos: 1}\n",
                i, i % GROUPS);
    for (int i = 0; i < 300; i++)
        fprintf(f, "  - {allow: subscribe, topics: \"tenant/%d/cmd/#\", groups: [g%d]}\n", i,
                i % GROUPS);
    for (int i = 0; i < 200; i++)
        fprintf(f, "  - {allow: both, topics: \"devices/%%c/%d/#\", everyone: true}\n", i);
    for (int i = 0; i < 100; i++)
        fprintf(f, "  - {deny: both, topics: \"tenant/%d/secret/#\", everyone: true}\n", i);
    fclose(f);
    char err[4096];
    p = policy_load(path, err, sizeof(err));
    unlink(path);
    if (!p)
        fprintf(stderr, "%s\n", err);
    return p ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    policy_free(p);
    return 0;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void test_speed(void **state)
{
    (void)state;
    assert_int_equal(policy_rule_count(p), 1000);
    struct policy_subject s = {.client_id = "c7",
                               .client_id_len = 2,
                               .username = "u7",
                               .username_len = 2,
                               .identity = "u7"};
    static const struct {
        enum policy_action a;
        const char *topic;
        bool allow;
        int iterations;
    } q[] = {
        {POLICY_PUBLISH, "tenant/127/x/telemetry", true, 200000},
        {POLICY_PUBLISH, "tenant/128/x/telemetry", false, 200000},
        {POLICY_PUBLISH, "devices/c7/150/a/b", true, 200000},
        {POLICY_PUBLISH, "unknown/topic/here", false, 200000},
        {POLICY_SUBSCRIBE, "tenant/7/cmd/#", true, 200000},
        {POLICY_SUBSCRIBE, "tenant/7/secret/x", false, 200000},
        {POLICY_SUBSCRIBE, "tenant/+/cmd/#", false, 20000},
        {POLICY_SUBSCRIBE, "#", false, 2000},
    };
    printf("policy_decide on a 1000-rule policy (200 users, 20 groups):\n");
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        size_t len = strlen(q[i].topic);
        struct policy_decision d = policy_decide(p, &s, q[i].a, q[i].topic, len, 0, false);
        assert_true(d.allow == q[i].allow);
        unsigned allowed = 0;
        double t0 = now_ns();
        for (int k = 0; k < q[i].iterations; k++)
            allowed += policy_decide(p, &s, q[i].a, q[i].topic, len, 0, false).allow;
        double ns = (now_ns() - t0) / q[i].iterations;
        assert_int_equal(allowed, q[i].allow ? (unsigned)q[i].iterations : 0);
        printf("  %-9s %-24s %-5s %9.0f ns/decision\n",
               q[i].a == POLICY_PUBLISH ? "publish" : "subscribe", q[i].topic,
               q[i].allow ? "allow" : "deny", ns);
    }
    struct policy_limits l;
    double t0 = now_ns();
    for (int k = 0; k < 200000; k++)
        policy_limits_for(p, &s, &l);
    printf("  policy_limits_for %9.0f ns/call\n", (now_ns() - t0) / 200000);
    t0 = now_ns();
    unsigned known = 0;
    for (int k = 0; k < 200000; k++)
        known += policy_knows(p, &s);
    assert_int_equal(known, 200000);
    printf("  policy_knows      %9.0f ns/call\n", (now_ns() - t0) / 200000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_speed)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
