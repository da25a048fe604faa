/* fuzz_policy: policy_load on arbitrary file contents, then decisions on what loaded.
 *
 * The input is written to a memfd and loaded through /proc/self/fd/N (the real open, read
 * and libyaml path). Oracles: no crash, hang or leak; a refused file yields NULL and an error
 * that starts with "PATH:LINE:COLUMN: " with LINE, COLUMN >= 1; a loaded policy answers
 * decisions for a few subjects and topics with max QoS <= 2, never allows what it also
 * reports as the default deny (rule line 0), never lets a wildcard-led grant reach a '$'
 * topic it did not name, and answers the same way twice (it is immutable). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "policy.h"

static int memfd = -1;
static char path[64];

static void setup(void)
{
    if (memfd >= 0)
        return;
    memfd = memfd_create("bulwark-fuzz-policy", MFD_CLOEXEC);
    FUZZ_CHECK(memfd >= 0, "memfd_create: %s", strerror(errno));
    snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
}

static void check_error_format(const char *err)
{
    size_t pl = strlen(path);
    FUZZ_CHECK(strncmp(err, path, pl) == 0 && err[pl] == ':', "error lacks the path: \"%s\"",
               err);
    const char *p = err + pl + 1;
    for (int field = 0; field < 2; field++) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        FUZZ_CHECK(end != p && v >= 1 && *end == ':', "error lacks LINE:COLUMN: \"%s\"", err);
        p = end + 1;
    }
}

static const char *const topics[] = {"a/b", "plant/l1/plc-7/telemetry", "$SYS/broker/load",
                                      "inbox/operators/x", "#", "a/+", "fleet/truck-1/position"};
static const char *const ids[] = {"plc-7", "alice", "a/+", "#", "$SYS", "gw-1"};

static void decide_all(const struct policy *p)
{
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        const char *identities[] = {NULL, ids[i]};
        for (size_t k = 0; k < 2; k++) {
            struct policy_subject s = {.client_id = ids[i],
                                       .client_id_len = strlen(ids[i]),
                                       .username = ids[i],
                                       .username_len = strlen(ids[i]),
                                       .identity = identities[k]};
            (void)policy_knows(p, &s);
            struct policy_limits lim;
            policy_limits_for(p, &s, &lim);
            FUZZ_CHECK(lim.max_qos <= 2, "limits max_qos %u", lim.max_qos);
            for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
                const char *tp = topics[t];
                bool filter = strchr(tp, '+') || strchr(tp, '#');
                for (int a = filter ? POLICY_SUBSCRIBE : POLICY_PUBLISH; a <= POLICY_SUBSCRIBE;
                     a++) {
                    struct policy_decision d1 =
                        policy_decide(p, &s, (enum policy_action)a, tp, strlen(tp), 0, false);
                    struct policy_decision d2 =
                        policy_decide(p, &s, (enum policy_action)a, tp, strlen(tp), 0, false);
                    FUZZ_CHECK(d1.allow == d2.allow && d1.rule_line == d2.rule_line,
                               "two answers for one question");
                    FUZZ_CHECK(d1.max_qos <= 2, "max_qos %u", d1.max_qos);
                    FUZZ_CHECK(!d1.allow || d1.rule_line > 0, "allowed by the default deny");
                    FUZZ_CHECK(d1.payload_format <= POLICY_PAYLOAD_JSON, "payload format %u",
                               d1.payload_format);
                }
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size > 64 * 1024)
        return 0;
    FUZZ_CHECK(ftruncate(memfd, 0) == 0 && pwrite(memfd, data, size, 0) == (ssize_t)size,
               "memfd write: %s", strerror(errno));
    char err[4096];
    err[0] = '\0';
    struct policy *p = policy_load(path, err, sizeof(err));
    if (!p) {
        check_error_format(err);
        return 0;
    }
    decide_all(p);
    policy_free(p);
    return 0;
}
