/* ratelimit: per-connection token buckets for the identity's messages and bytes per
 * second. Over the limit, the connection is not read until the bucket has refilled:
 * back-pressure through TCP, so a fast client slows down and nothing is lost. */
#include "broker.h"

/* Buckets hold thousandths of a token so that refills every few ms are exact. */
#define MILLI 1000u

static uint64_t capacity(uint32_t rate, uint32_t burst)
{
    return (uint64_t)(burst ? burst : rate) * MILLI;
}

void rate_init(struct worker *w, struct conn *c)
{
    c->msg_milli = capacity(c->limits.msgs_per_s, c->limits.msgs_burst);
    c->byte_milli = capacity(c->limits.bytes_per_s, 0);
    c->bucket_ms = w->now;
    c->rate_resume_ms = 0;
}

static void refill(uint64_t *bucket, uint32_t rate, uint64_t cap, uint64_t elapsed_ms)
{
    /* rate tokens per second = rate thousandths per ms */
    uint64_t add = elapsed_ms * rate;
    *bucket = *bucket + add > cap ? cap : *bucket + add;
}

/* Milliseconds until bucket holds need thousandths. */
static uint64_t wait_ms(uint64_t bucket, uint64_t need, uint32_t rate)
{
    return need <= bucket ? 0 : (need - bucket + rate - 1) / rate;
}

bool rate_take(struct worker *w, struct conn *c, uint32_t bytes)
{
    uint32_t mr = c->limits.msgs_per_s, br = c->limits.bytes_per_s;
    if (!mr && !br)
        return true;
    uint64_t elapsed = w->now - c->bucket_ms;
    c->bucket_ms = w->now;
    uint64_t mcap = capacity(mr, c->limits.msgs_burst);
    /* A message larger than a whole second's byte budget could never pass: let it take
     * the whole bucket instead, so the rate still holds on average. */
    uint64_t bcap = capacity(br, 0);
    uint64_t bneed = (uint64_t)bytes * MILLI > bcap ? bcap : (uint64_t)bytes * MILLI;
    if (mr)
        refill(&c->msg_milli, mr, mcap, elapsed);
    if (br)
        refill(&c->byte_milli, br, bcap, elapsed);
    uint64_t wait = 0;
    if (mr)
        wait = wait_ms(c->msg_milli, MILLI, mr);
    if (br) {
        uint64_t bw = wait_ms(c->byte_milli, bneed, br);
        wait = bw > wait ? bw : wait;
    }
    if (wait) {
        c->rate_resume_ms = w->now + wait;
        return false;
    }
    if (mr)
        c->msg_milli -= MILLI;
    if (br)
        c->byte_milli -= bneed;
    return true;
}
