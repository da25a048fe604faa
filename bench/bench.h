/* bench: options, clock and result output shared by the scenarios of bulwark-bench.
 *
 * Promises: every scenario reads its sizes from struct bench_opts (filled with defaults by
 * main), prints its figures only through bench_result() as one machine-readable line
 * "RESULT scenario=S metric=M value=V better=higher|lower", and returns 0, or non-zero
 * after printing why on stderr. */
#ifndef BULWARK_BENCH_H
#define BULWARK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on the sizes a user may ask for: they size allocations. */
#define BENCH_MAX_CLIENTS 100000u
#define BENCH_MAX_MESSAGES 100000000ul
#define BENCH_MIN_PAYLOAD 16u
#define BENCH_MAX_PAYLOAD 65536u
#define BENCH_MAX_USERS 100000u
#define BENCH_CRED_MAX 32 /* a bench user name or password, with its NUL */

struct bench_opts {
    const char *host;
    uint16_t port;
    int pid;                /* broker pid whose process tree the idle scenario weighs */
    unsigned publishers;    /* fanin */
    unsigned subscribers;   /* fanout */
    unsigned connections;   /* idle */
    unsigned long messages; /* per run; fanout: published messages, not deliveries */
    unsigned min_ms;        /* throughput runs keep publishing at least this long */
    unsigned payload;       /* bytes per PUBLISH payload */
    unsigned window;        /* messages sent but not yet received by the subscribers */
    unsigned qos_window;    /* fanin-q1: unacked PUBLISHes per publisher */
    unsigned rate;          /* latency: messages per second */
    unsigned warmup;        /* latency: first messages left out of the percentiles */
    unsigned settle_ms;     /* idle: wait before reading the RSS after setup */
    unsigned timeout_ms;    /* no progress for this long ends a run (the rest counts lost) */
    bool auth;              /* clients log in as bench users (fanin-*-acl, connect-auth-*) */
    unsigned users;         /* bench users taken, bench-u0 .. bench-u<users-1> */
    unsigned long connects; /* connect-auth-cached: CONNECT cycles per run, at least */
    unsigned parallel;      /* connect-auth: cycles in progress at once */
};

uint64_t bench_now_ns(void);

/* How many more messages a throughput run may publish, given how many it has sent and
 * when it started (0: not yet): the rest of --messages, then more until --min-ms has
 * passed, so that fast brokers are timed over a long enough run. Once it returns 0 it sets
 * *closed and keeps returning 0. */
uint64_t bench_left(const struct bench_opts *o, uint64_t sent, uint64_t t_first, bool *closed);

/* better: "higher" or "lower". */
void bench_result(const char *scenario, const char *metric, double value, const char *better);

/* Free-form diagnostics on stderr, prefixed "bench: ". */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fills payload[0..len) with the sender id and sequence number (little endian) then filler;
 * len >= BENCH_MIN_PAYLOAD. */
void bench_fill_payload(uint8_t *payload, unsigned len, uint32_t sender, uint32_t seq);
uint32_t bench_get_u32(const uint8_t *p);
uint64_t bench_get_u64(const uint8_t *p);
void bench_put_u64(uint8_t *p, uint64_t v);

/* The bench users, the same in both brokers' password files (bench/run.sh makes them):
 * user i is "bench-u<i>" with password "bench-pw-<i>". i < BENCH_MAX_USERS. */
void bench_user(unsigned i, char user[BENCH_CRED_MAX], char pw[BENCH_CRED_MAX]);

/* Sorts v[0..n) and returns its median (nearest rank), 0 for n == 0. */
double bench_median(double *v, size_t n);

/* fanin-q0/q1, and fanin-q0-acl/q1-acl when o->auth (every client logs in). */
int scen_fanin(const struct bench_opts *o, int qos);
/* connect-auth-cold (cached false) and connect-auth-cached. */
int scen_connect(const struct bench_opts *o, bool cached);
int scen_fanout(const struct bench_opts *o);
int scen_latency(const struct bench_opts *o);
int scen_idle(const struct bench_opts *o);

#endif
