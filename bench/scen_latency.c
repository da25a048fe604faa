/* latency: one QoS 0 publisher at a fixed rate, one subscriber; each payload carries its
 * CLOCK_MONOTONIC send time, taken just before the write. Sends follow a fixed schedule
 * (message i is due at start + i/rate); a late loop sends what is due in one write. */
#include "bclient.h"
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOPIC "bench/lat"
#define NOT_SEEN UINT64_MAX

struct latency {
    const struct bench_opts *o;
    struct bclient c[2]; /* subscriber, publisher */
    uint64_t *lat_ns;    /* per sequence number */
    uint64_t sent, recvd, bad;
    struct bloop loop;
};

static void on_sub(struct bclient *c, const struct mqtt_packet *p, void *ctx)
{
    struct latency *t = ctx;
    if (p->type != MQTT_PUBLISH || p->u.publish.payload.len < 16) {
        t->bad++;
        return;
    }
    const uint8_t *pl = p->u.publish.payload.p;
    uint32_t seq = bench_get_u32(pl + 4);
    uint64_t at = bench_get_u64(pl + 8);
    if (seq >= t->sent || t->lat_ns[seq] != NOT_SEEN || at > c->rx_at) {
        t->bad++;
        return;
    }
    t->lat_ns[seq] = c->rx_at - at;
    t->recvd++;
}

static int send_due(struct latency *t, uint64_t n)
{
    const struct bench_opts *o = t->o;
    struct bclient *pub = &t->c[1];
    size_t one = 16 + sizeof TOPIC + o->payload;
    uint8_t *dst = bclient_reserve(pub, one * n);
    if (!dst) {
        snprintf(t->loop.err, sizeof t->loop.err, "publisher: write backlog full");
        return -1;
    }
    uint8_t payload[BENCH_MAX_PAYLOAD];
    uint64_t now = bench_now_ns();
    size_t used = 0;
    for (uint64_t k = 0; k < n; k++) {
        bench_fill_payload(payload, o->payload, 0, (uint32_t)t->sent);
        bench_put_u64(payload + 8, now);
        size_t w = bclient_encode_publish(dst + used, one, 0, TOPIC, 0, payload, o->payload);
        if (w == 0)
            break;
        used += w;
        t->sent++;
    }
    bclient_commit(pub, used);
    return bclient_flush(&t->loop, pub);
}

static int run(struct latency *t)
{
    const struct bench_opts *o = t->o;
    uint64_t period = 1000000000u / o->rate;
    uint64_t start = bench_now_ns();
    uint64_t timeout = (uint64_t)o->timeout_ms * 1000000u;
    uint64_t last_rx = start, seen = 0;
    while (t->recvd < o->messages) {
        uint64_t now = bench_now_ns();
        if (t->sent < o->messages) {
            uint64_t due = (now - start) / period + 1;
            due = due < o->messages ? due : o->messages;
            if (due > t->sent && send_due(t, due - t->sent) < 0)
                return -1;
        }
        int64_t wait = 100 * 1000000;
        if (t->sent < o->messages) {
            uint64_t next = start + t->sent * period;
            now = bench_now_ns();
            wait = next > now ? (int64_t)(next - now) : 0;
        }
        if (bloop_poll(&t->loop, wait) < 0)
            return -1;
        now = bench_now_ns();
        if (t->recvd != seen) {
            seen = t->recvd;
            last_rx = now;
        } else if (t->sent == o->messages && now - last_rx > timeout) {
            break; /* the rest is lost */
        }
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n), in microseconds. */
static double pct_us(const uint64_t *v, size_t n, double q)
{
    size_t rank = (size_t)ceil(q * (double)n);
    rank = rank < 1 ? 1 : rank;
    return (double)v[rank - 1] / 1000.0;
}

static void report(struct latency *t)
{
    const struct bench_opts *o = t->o;
    size_t n = 0;
    /* Compact the measured samples (after warmup) to the front and sort them. */
    for (uint64_t i = o->warmup; i < t->sent; i++) {
        if (t->lat_ns[i] != NOT_SEEN)
            t->lat_ns[n++] = t->lat_ns[i];
    }
    uint64_t lost = t->sent - t->recvd;
    if (n == 0) {
        bench_note("latency: no samples after warmup");
        bench_result("latency", "lost", (double)lost, "lower");
        return;
    }
    qsort(t->lat_ns, n, sizeof *t->lat_ns, cmp_u64);
    bench_result("latency", "p50_us", pct_us(t->lat_ns, n, 0.50), "lower");
    bench_result("latency", "p90_us", pct_us(t->lat_ns, n, 0.90), "lower");
    bench_result("latency", "p99_us", pct_us(t->lat_ns, n, 0.99), "lower");
    bench_result("latency", "p99.9_us", pct_us(t->lat_ns, n, 0.999), "lower");
    bench_result("latency", "max_us", (double)t->lat_ns[n - 1] / 1000.0, "lower");
    bench_result("latency", "lost", (double)lost, "lower");
    if (t->bad)
        bench_note("latency: %llu unexpected packets", (unsigned long long)t->bad);
}

int scen_latency(const struct bench_opts *o)
{
    struct latency t = {.o = o};
    if (bloop_init(&t.loop, o->host, o->port) < 0) {
        bench_note("%s", t.loop.err);
        return 1;
    }
    int rc = 1;
    unsigned inited = 0;
    t.lat_ns = malloc(o->messages * sizeof *t.lat_ns);
    if (!t.lat_ns)
        goto out;
    for (uint64_t i = 0; i < o->messages; i++)
        t.lat_ns[i] = NOT_SEEN;
    for (unsigned i = 0; i < 2; i++) {
        char id[48];
        snprintf(id, sizeof id, "bb-%d-latency-%s", (int)getpid(), i ? "p" : "s");
        size_t out_max = i ? 4 * 1024 * 1024 : 4096;
        if (bclient_init(&t.c[i], i, id, 256 * 1024, out_max) < 0)
            goto out;
        inited++;
        t.c[i].ctx = &t;
    }
    t.c[0].on_packet = on_sub;
    bclient_set_sub(&t.c[0], TOPIC, 0);
    struct bclient *all[2] = {&t.c[0], &t.c[1]};
    if (bloop_connect_all(&t.loop, all, 2, 2, 10000) < 0 || run(&t) < 0) {
        bench_note("latency: %s", t.loop.err);
        goto out;
    }
    report(&t);
    rc = 0;
out:
    for (unsigned i = 0; i < inited; i++)
        bclient_close(&t.c[i]);
    bloop_fini(&t.loop);
    free(t.lat_ns);
    return rc;
}
