/* idle: N connections, each CONNECTed and subscribed to its own topic, then left idle;
 * the broker's process-tree RSS before and after gives the memory one connection costs.
 * Run it on a freshly started broker: an allocator keeps freed memory, so a broker that
 * already served connections would show their reuse, not the growth. */
#include "bclient.h"
#include "bench.h"
#include "rss.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int scen_idle(const struct bench_opts *o)
{
    if (o->pid <= 0) {
        bench_note("idle: --pid of the broker is required");
        return 1;
    }
    struct bloop loop;
    if (bloop_init(&loop, o->host, o->port) < 0) {
        bench_note("%s", loop.err);
        return 1;
    }
    unsigned n = o->connections;
    struct bclient *c = calloc(n, sizeof *c);
    struct bclient **all = calloc(n, sizeof *all);
    int rc = 1;
    unsigned inited = 0;
    if (!c || !all)
        goto out;
    long before = rss_tree_kib(o->pid);
    int procs = rss_tree_count();
    if (before < 0) {
        bench_note("idle: cannot read the memory of pid %d", o->pid);
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        char id[48], topic[48];
        snprintf(id, sizeof id, "bb-%d-idle-%u", (int)getpid(), i);
        snprintf(topic, sizeof topic, "bench/idle/%u", i);
        if (bclient_init(&c[i], i, id, 4096, 4096) < 0)
            goto out;
        inited++;
        bclient_set_sub(&c[i], topic, 0);
        all[i] = &c[i];
    }
    if (bloop_connect_all(&loop, all, n, 64, 60000) < 0) {
        bench_note("idle: %s", loop.err);
        goto out;
    }
    /* Let the broker finish whatever bookkeeping follows a SUBACK (logs, lazy frees). */
    sleep_ms(o->settle_ms);
    if (bloop_poll(&loop, 0) < 0) {
        bench_note("idle: %s", loop.err);
        goto out;
    }
    long after = rss_tree_kib(o->pid);
    if (after < 0) {
        bench_note("idle: the broker (pid %d) went away", o->pid);
        goto out;
    }
    bench_note("idle: %d process(es), RSS %ld KiB before, %ld KiB after %u connections", procs,
               before, after, n);
    bench_result("idle", "kib_per_conn", (double)(after - before) / n, "lower");
    bench_result("idle", "rss_kib", (double)after, "lower");
    rc = 0;
out:
    for (unsigned i = 0; i < inited; i++)
        bclient_close(&c[i]);
    bloop_fini(&loop);
    free(all);
    free(c);
    return rc;
}
