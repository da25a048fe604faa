/* fanout: one QoS 0 publisher on bench/out, N subscribers on the same topic. The publisher
 * keeps at most `window` messages per subscriber in flight (counted over all deliveries),
 * so the figure is the broker's delivery rate, not socket buffering. As in fanin, a
 * sequence number that skips ahead settles the skipped deliveries as lost. */
#include "bclient.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOPIC "bench/out"

struct fanout {
    const struct bench_opts *o;
    unsigned ns;
    struct bclient *c; /* ns subscribers, then the publisher */
    uint64_t *got;     /* per subscriber */
    uint32_t *expect;  /* per subscriber: below this, delivered or skipped */
    uint64_t sent, delivered, settled, late, bad;
    uint64_t t_first, t_last;
    bool closed;         /* publishing is over */
    uint64_t stalled_ns; /* waits for deliveries the broker had dropped */
    unsigned stalls;
    struct bloop loop;
};

static void on_sub(struct bclient *c, const struct mqtt_packet *p, void *ctx)
{
    struct fanout *f = ctx;
    if (p->type != MQTT_PUBLISH || p->u.publish.payload.len < 8) {
        f->bad++;
        return;
    }
    uint32_t seq = bench_get_u32(p->u.publish.payload.p + 4);
    if (seq >= f->sent) {
        f->bad++;
        return;
    }
    f->got[c->idx]++;
    f->delivered++;
    f->t_last = c->rx_at;
    uint32_t *e = &f->expect[c->idx];
    if (seq < *e) {
        f->late++;
        return;
    }
    f->settled += seq + 1 - *e;
    *e = seq + 1;
}

static int64_t outstanding(const struct fanout *f)
{
    return (int64_t)(f->sent * f->ns - f->settled);
}

static int refill(struct fanout *f)
{
    const struct bench_opts *o = f->o;
    int64_t room = ((int64_t)o->window * f->ns - outstanding(f)) / f->ns;
    uint64_t left = bench_left(o, f->sent, f->t_first, &f->closed);
    if (left == 0 || room <= 0)
        return 0;
    if (room < (int64_t)(o->window / 4) && (uint64_t)room < left && outstanding(f) > 0)
        return 0;
    unsigned n = (uint64_t)room < left ? (unsigned)room : (unsigned)left;
    struct bclient *pub = &f->c[f->ns];
    size_t one = 16 + sizeof TOPIC + o->payload;
    uint8_t *dst = bclient_reserve(pub, one * n);
    if (!dst) {
        snprintf(f->loop.err, sizeof f->loop.err, "publisher: write backlog full");
        return -1;
    }
    uint8_t payload[BENCH_MAX_PAYLOAD];
    size_t used = 0;
    if (f->t_first == 0)
        f->t_first = bench_now_ns();
    for (unsigned k = 0; k < n; k++) {
        bench_fill_payload(payload, o->payload, 0, (uint32_t)f->sent);
        size_t w = bclient_encode_publish(dst + used, one, 0, TOPIC, 0, payload, o->payload);
        if (w == 0)
            break;
        used += w;
        f->sent++;
    }
    bclient_commit(pub, used);
    return bclient_flush(&f->loop, pub);
}

static int run(struct fanout *f)
{
    const struct bench_opts *o = f->o;
    uint64_t timeout = (uint64_t)o->timeout_ms * 1000000u;
    uint64_t last_progress = bench_now_ns();
    uint64_t seen = 0;
    while (!f->closed || outstanding(f) > 0) {
        if (refill(f) < 0)
            return -1;
        if (bloop_poll(&f->loop, 100 * 1000000) < 0)
            return -1;
        uint64_t now = bench_now_ns();
        if (f->sent + f->delivered != seen) {
            seen = f->sent + f->delivered;
            last_progress = now;
            continue;
        }
        if (now - last_progress < timeout)
            continue;
        if (f->closed)
            break;
        for (unsigned i = 0; i < f->ns; i++) {
            f->settled += f->sent - f->expect[i];
            f->expect[i] = (uint32_t)f->sent;
        }
        f->stalled_ns += now - last_progress;
        f->stalls++;
        last_progress = now;
    }
    return 0;
}

int scen_fanout(const struct bench_opts *o)
{
    struct fanout f = {.o = o, .ns = o->subscribers};
    if (bloop_init(&f.loop, o->host, o->port) < 0) {
        bench_note("%s", f.loop.err);
        return 1;
    }
    f.c = calloc(f.ns + 1, sizeof *f.c);
    f.got = calloc(f.ns, sizeof *f.got);
    f.expect = calloc(f.ns, sizeof *f.expect);
    struct bclient **all = calloc(f.ns + 1, sizeof *all);
    int rc = 1;
    unsigned inited = 0;
    if (!f.c || !f.got || !f.expect || !all)
        goto out;
    size_t pub_out = (size_t)o->window * (16 + sizeof TOPIC + o->payload) + 65536;
    for (unsigned i = 0; i <= f.ns; i++) {
        char id[48];
        bool pub = i == f.ns;
        snprintf(id, sizeof id, "bb-%d-fanout-%s%u", (int)getpid(), pub ? "p" : "s", i);
        if (bclient_init(&f.c[i], i, id, pub ? 4096 : 256 * 1024, pub ? pub_out : 4096) < 0)
            goto out;
        inited++;
        f.c[i].ctx = &f;
        f.c[i].on_packet = pub ? NULL : on_sub;
        if (!pub)
            bclient_set_sub(&f.c[i], TOPIC, 0);
        all[i] = &f.c[i];
    }
    if (bloop_connect_all(&f.loop, all, f.ns + 1, 64, 10000) < 0 || run(&f) < 0) {
        bench_note("fanout: %s", f.loop.err);
        goto out;
    }
    /* The rate leaves out the timeouts spent on dropped messages: loss is its own figure. */
    double secs = (double)(f.t_last - f.t_first - f.stalled_ns) / 1e9;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < f.ns; i++) {
        lo = f.got[i] < lo ? f.got[i] : lo;
        hi = f.got[i] > hi ? f.got[i] : hi;
    }
    bench_result("fanout", "deliveries_per_s", secs > 0 ? (double)f.delivered / secs : 0, "higher");
    uint64_t want = f.sent * f.ns;
    bench_result("fanout", "lost", want > f.delivered ? (double)(want - f.delivered) : 0, "lower");
    if (lo != hi || f.late || f.bad || f.stalls)
        bench_note("fanout: per-subscriber deliveries %llu..%llu, %u stalls of %u ms not timed, "
                   "%llu late, %llu unexpected packets",
                   (unsigned long long)lo, (unsigned long long)hi, f.stalls, o->timeout_ms,
                   (unsigned long long)f.late, (unsigned long long)f.bad);
    rc = 0;
out:
    for (unsigned i = 0; i < inited; i++)
        bclient_close(&f.c[i]);
    bloop_fini(&f.loop);
    free(all);
    free(f.expect);
    free(f.got);
    free(f.c);
    return rc;
}
