/* Clock, result lines and payload layout shared by the scenarios. */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_left(const struct bench_opts *o, uint64_t sent, uint64_t t_first, bool *closed)
{
    if (*closed)
        return 0;
    if (sent < o->messages)
        return o->messages - sent;
    if (t_first == 0 || bench_now_ns() - t_first < (uint64_t)o->min_ms * 1000000u)
        return UINT32_MAX; /* the window bounds what is actually sent */
    *closed = true;
    return 0;
}

void bench_result(const char *scenario, const char *metric, double value, const char *better)
{
    printf("RESULT scenario=%s metric=%s value=%.2f better=%s\n", scenario, metric, value, better);
    fflush(stdout);
}

void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t bench_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void bench_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t bench_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void bench_fill_payload(uint8_t *payload, unsigned len, uint32_t sender, uint32_t seq)
{
    put_u32(payload, sender);
    put_u32(payload + 4, seq);
    memset(payload + 8, 'x', len - 8);
}

void bench_user(unsigned i, char user[BENCH_CRED_MAX], char pw[BENCH_CRED_MAX])
{
    snprintf(user, BENCH_CRED_MAX, "bench-u%u", i);
    snprintf(pw, BENCH_CRED_MAX, "bench-pw-%u", i);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return v[(n - 1) / 2];
}
