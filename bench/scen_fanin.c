/* fanin-q0 / fanin-q1: P publishers on bench/in/<i>, one subscriber on bench/in/#.
 * The -acl variants are the same runs with every client logged in as a bench user, so the
 * broker checks a password at CONNECT and its access rules on every PUBLISH and SUBSCRIBE.
 * Publishers are paced by what the subscriber has received (a global window), so the
 * figure is what the broker forwards end to end, not how fast socket buffers fill.
 * Each publisher's stream is ordered (MQTT 3.1.1 section 4.6), so a sequence number that
 * skips ahead settles the skipped messages as lost and frees their window room at once;
 * only a broker that drops everything in flight makes the run wait for timeout_ms. */
#include "bclient.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOPIC_MAX 32

struct pubstate {
    uint32_t seq;      /* next sequence number to send */
    uint32_t expect;   /* below this, every message arrived or was skipped (lost) */
    unsigned inflight; /* QoS 1: PUBLISHes not yet acked */
    uint16_t next_id;
    char topic[TOPIC_MAX];
};

struct fanin {
    const struct bench_opts *o;
    int qos;
    unsigned np;
    struct bclient *c; /* np publishers, then the subscriber */
    struct pubstate *ps;
    uint64_t sent, recvd, acked;
    uint64_t settled; /* sum of expect: messages received or known lost */
    uint64_t late, gaps, bad;
    uint64_t t_first, t_last;
    uint64_t stalled_ns; /* waits for messages the broker had dropped */
    unsigned stalls;
    unsigned rr;
    bool closed; /* publishing is over */
    struct bloop loop;
};

static void on_sub(struct bclient *c, const struct mqtt_packet *p, void *ctx)
{
    struct fanin *f = ctx;
    if (p->type != MQTT_PUBLISH)
        return;
    const struct mqtt_publish *m = &p->u.publish;
    if (m->qos == 1) {
        uint8_t *dst = bclient_reserve(c, 4);
        if (dst)
            bclient_commit(c, mqtt_encode_ack(dst, 4, MQTT_PUBACK, m->packet_id));
        else
            f->bad++; /* cannot happen with out_max >> one read's worth of acks */
    }
    if (m->payload.len < 8) {
        f->bad++;
        return;
    }
    uint32_t who = bench_get_u32(m->payload.p);
    uint32_t seq = bench_get_u32(m->payload.p + 4);
    if (who >= f->np) {
        f->bad++;
        return;
    }
    struct pubstate *s = &f->ps[who];
    if (seq >= s->seq) {
        f->bad++; /* never sent */
        return;
    }
    f->recvd++;
    f->t_last = c->rx_at;
    if (seq < s->expect) {
        f->late++; /* out of order, or arrived after a timeout wrote it off */
    } else {
        f->gaps += seq - s->expect;
        f->settled += seq + 1 - s->expect;
        s->expect = seq + 1;
    }
}

static void on_pub(struct bclient *c, const struct mqtt_packet *p, void *ctx)
{
    struct fanin *f = ctx;
    if (p->type != MQTT_PUBACK)
        return;
    struct pubstate *s = &f->ps[c->idx];
    if (s->inflight == 0) {
        f->bad++;
        return;
    }
    s->inflight--;
    f->acked++;
}

static int64_t outstanding(const struct fanin *f)
{
    return (int64_t)(f->sent - f->settled);
}

/* Writes up to n PUBLISHes for publisher i in one buffer; returns how many. */
static unsigned publish_batch(struct fanin *f, unsigned i, unsigned n)
{
    struct bclient *c = &f->c[i];
    struct pubstate *s = &f->ps[i];
    size_t one = 16 + TOPIC_MAX + f->o->payload;
    uint8_t *dst = bclient_reserve(c, one * n);
    if (!dst)
        return 0;
    uint8_t payload[BENCH_MAX_PAYLOAD];
    size_t used = 0;
    unsigned k;
    for (k = 0; k < n; k++) {
        uint16_t id = f->qos == 1 ? s->next_id : 0;
        bench_fill_payload(payload, f->o->payload, i, s->seq);
        size_t w = bclient_encode_publish(dst + used, one, (uint8_t)f->qos, s->topic, id, payload,
                                          f->o->payload);
        if (w == 0)
            break;
        used += w;
        s->seq++;
        if (f->qos == 1) {
            s->next_id = (uint16_t)(s->next_id == 65535 ? 1 : s->next_id + 1);
            s->inflight++;
        }
    }
    bclient_commit(c, used);
    return k;
}

/* Tops up the publishers while the global window (and QoS 1 windows) allow. Refills wait
 * until a quarter of the window is free, so writes stay large. */
static int refill(struct fanin *f)
{
    const struct bench_opts *o = f->o;
    int64_t room = (int64_t)o->window - outstanding(f);
    uint64_t left = bench_left(o, f->sent, f->t_first, &f->closed);
    if (left == 0 || room <= 0)
        return 0;
    if (room < (int64_t)(o->window / 4) && (uint64_t)room < left && outstanding(f) > 0)
        return 0;
    unsigned share = (unsigned)((room + f->np - 1) / f->np);
    for (unsigned k = 0; k < f->np && room > 0 && left > 0; k++) {
        unsigned i = (f->rr + k) % f->np;
        unsigned n = share;
        if (f->qos == 1) {
            unsigned avail = o->qos_window - f->ps[i].inflight;
            n = n < avail ? n : avail;
        }
        if ((int64_t)n > room)
            n = (unsigned)room;
        if (n > left)
            n = (unsigned)left;
        if (n == 0)
            continue;
        if (f->t_first == 0)
            f->t_first = bench_now_ns();
        unsigned done = publish_batch(f, i, n);
        if (done == 0) {
            snprintf(f->loop.err, sizeof f->loop.err, "publisher %u: write backlog full", i);
            return -1;
        }
        f->sent += done;
        room -= done;
        left -= done;
        if (bclient_flush(&f->loop, &f->c[i]) < 0)
            return -1;
    }
    f->rr = (f->rr + 1) % f->np;
    return 0;
}

static bool finished(const struct fanin *f)
{
    if (!f->closed || f->settled < f->sent)
        return false;
    return f->qos == 0 || f->acked == f->sent;
}

static int run(struct fanin *f)
{
    const struct bench_opts *o = f->o;
    uint64_t timeout = (uint64_t)o->timeout_ms * 1000000u;
    uint64_t last_progress = bench_now_ns();
    uint64_t seen = 0;
    while (!finished(f)) {
        if (refill(f) < 0)
            return -1;
        if (bloop_poll(&f->loop, 100 * 1000000) < 0)
            return -1;
        uint64_t now = bench_now_ns();
        uint64_t progress = f->sent + f->recvd + f->acked;
        if (progress != seen) {
            seen = progress;
            last_progress = now;
            continue;
        }
        if (now - last_progress < timeout)
            continue;
        if (f->closed && (f->qos == 0 || f->acked == f->sent))
            break; /* all sent and acked: what has not arrived by now is lost */
        if (outstanding(f) <= 0) {
            snprintf(f->loop.err, sizeof f->loop.err,
                     "stalled: %llu sent, %llu acked, %llu received", (unsigned long long)f->sent,
                     (unsigned long long)f->acked, (unsigned long long)f->recvd);
            return -1;
        }
        for (unsigned i = 0; i < f->np; i++) {
            f->settled += f->ps[i].seq - f->ps[i].expect;
            f->ps[i].expect = f->ps[i].seq;
        }
        f->stalled_ns += now - last_progress;
        f->stalls++;
        last_progress = now;
    }
    return 0;
}

int scen_fanin(const struct bench_opts *o, int qos)
{
    const char *name =
        o->auth ? (qos ? "fanin-q1-acl" : "fanin-q0-acl") : (qos ? "fanin-q1" : "fanin-q0");
    struct fanin f = {.o = o, .qos = qos, .np = o->publishers};
    if (bloop_init(&f.loop, o->host, o->port) < 0) {
        bench_note("%s", f.loop.err);
        return 1;
    }
    f.c = calloc(f.np + 1, sizeof *f.c);
    f.ps = calloc(f.np, sizeof *f.ps);
    struct bclient **all = calloc(f.np + 1, sizeof *all);
    int rc = 1;
    unsigned inited = 0;
    if (!f.c || !f.ps || !all)
        goto out;
    size_t pub_out = (size_t)o->window * (16 + TOPIC_MAX + o->payload) + 65536;
    for (unsigned i = 0; i <= f.np; i++) {
        char id[48];
        bool sub = i == f.np;
        snprintf(id, sizeof id, "bb-%d-%s-%s%u", (int)getpid(), name, sub ? "s" : "p", i);
        if (bclient_init(&f.c[i], i, id, 256 * 1024, sub ? 1024 * 1024 : pub_out) < 0)
            goto out;
        inited++;
        f.c[i].ctx = &f;
        f.c[i].on_packet = sub ? on_sub : on_pub;
        all[i] = &f.c[i];
        if (o->auth) {
            char user[BENCH_CRED_MAX], pw[BENCH_CRED_MAX];
            bench_user(i % o->users, user, pw);
            bclient_set_auth(&f.c[i], user, pw);
        }
        if (!sub) {
            snprintf(f.ps[i].topic, TOPIC_MAX, "bench/in/%u", i);
            f.ps[i].next_id = 1;
        }
    }
    bclient_set_sub(&f.c[f.np], "bench/in/#", (uint8_t)qos);
    /* Subscriber first, so no early PUBLISH can miss it. */
    if (bloop_connect_all(&f.loop, &all[f.np], 1, 1, 10000) < 0 ||
        bloop_connect_all(&f.loop, all, f.np, 64, 10000) < 0 || run(&f) < 0) {
        bench_note("%s: %s", name, f.loop.err);
        goto out;
    }
    /* The rate leaves out the timeouts spent on dropped messages: loss is its own figure. */
    double secs = (double)(f.t_last - f.t_first - f.stalled_ns) / 1e9;
    uint64_t lost = f.sent > f.recvd ? f.sent - f.recvd : 0;
    bench_result(name, "msgs_per_s", secs > 0 ? (double)f.recvd / secs : 0, "higher");
    bench_result(name, "lost", (double)lost, "lower");
    if (lost || f.late || f.bad)
        bench_note("%s: %llu of %llu lost (%llu skipped, %u stalls of %u ms not timed), "
                   "%llu late, %llu unexpected packets",
                   name, (unsigned long long)lost, (unsigned long long)f.sent,
                   (unsigned long long)f.gaps, f.stalls, o->timeout_ms, (unsigned long long)f.late,
                   (unsigned long long)f.bad);
    rc = 0;
out:
    for (unsigned i = 0; i < inited; i++)
        bclient_close(&f.c[i]);
    bloop_fini(&f.loop);
    free(all);
    free(f.ps);
    free(f.c);
    return rc;
}
