#include "bruteforce.h"

#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct bf_entry {
    uint32_t failures;
    uint64_t last_failure_ms;
    uint64_t blocked_until_ms;
};

struct bruteforce {
    struct bf_config cfg;
    struct strmap keys; /* "a:" + address or "u:" + username -> struct bf_entry */
};

struct bruteforce *bf_new(const struct bf_config *cfg)
{
    struct bruteforce *bf = calloc(1, sizeof(*bf));
    if (!bf)
        return NULL;
    bf->cfg = *cfg;
    strmap_init(&bf->keys);
    return bf;
}

static bool drop_entry(void *ctx, const void *key, size_t len, void *value)
{
    (void)ctx;
    (void)key;
    (void)len;
    free(value);
    return true;
}

void bf_free(struct bruteforce *bf)
{
    if (!bf)
        return;
    strmap_each(&bf->keys, drop_entry, NULL);
    strmap_clear(&bf->keys);
    free(bf);
}

size_t bf_tracked(const struct bruteforce *bf)
{
    return strmap_count(&bf->keys);
}

/* The address part of "a.b.c.d:port" or "[v6]:port", prefixed "a:". */
static size_t addr_key(const char *peer, char *out, size_t cap)
{
    const char *end = strrchr(peer, ':');
    size_t n = end ? (size_t)(end - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    if (n + 2 > cap)
        n = cap - 2;
    out[0] = 'a';
    out[1] = ':';
    memcpy(out + 2, peer, n); /* NOLINT(bugprone-not-null-terminated-result): a length-keyed map key */
    return n + 2;
}

static size_t user_key(const uint8_t *user, size_t ulen, char *out, size_t cap)
{
    if (ulen + 2 > cap)
        ulen = cap - 2;
    out[0] = 'u';
    out[1] = ':';
    memcpy(out + 2, user, ulen);
    return ulen + 2;
}

static uint64_t wait_of(const struct bruteforce *bf, const char *key, size_t len, uint64_t now)
{
    const struct bf_entry *e = strmap_get(&bf->keys, key, len);
    return e && e->blocked_until_ms > now ? e->blocked_until_ms - now : 0;
}

uint64_t bf_check(struct bruteforce *bf, const char *peer, const uint8_t *user, size_t ulen,
                  uint64_t now_ms)
{
    char key[300];
    uint64_t wait = wait_of(bf, key, addr_key(peer, key, sizeof(key)), now_ms);
    if (user) {
        uint64_t uw = wait_of(bf, key, user_key(user, ulen, key, sizeof(key)), now_ms);
        wait = uw > wait ? uw : wait;
    }
    return wait;
}

struct oldest {
    uint64_t now, window_ms;
    const void *key;
    size_t len;
    uint64_t when;
};

static bool expire_or_find_oldest(void *ctx, const void *key, size_t len, void *value)
{
    struct oldest *o = ctx;
    struct bf_entry *e = value;
    if (o->now - e->last_failure_ms >= o->window_ms && e->blocked_until_ms <= o->now) {
        free(e);
        return true;
    }
    if (!o->key || e->last_failure_ms < o->when) {
        o->key = key;
        o->len = len;
        o->when = e->last_failure_ms;
    }
    return false;
}

static struct bf_entry *entry_for(struct bruteforce *bf, const char *key, size_t len, uint64_t now)
{
    struct bf_entry *e = strmap_get(&bf->keys, key, len);
    if (e)
        return e;
    if (strmap_count(&bf->keys) >= bf->cfg.max_tracked) {
        struct oldest o = {.now = now, .window_ms = (uint64_t)bf->cfg.window_s * 1000u};
        strmap_each(&bf->keys, expire_or_find_oldest, &o);
        if (strmap_count(&bf->keys) >= bf->cfg.max_tracked && o.key) {
            char victim[300];
            size_t vlen = o.len < sizeof(victim) ? o.len : sizeof(victim);
            memcpy(victim, o.key, vlen);
            free(strmap_del(&bf->keys, victim, vlen));
        }
    }
    e = calloc(1, sizeof(*e));
    if (e && strmap_put(&bf->keys, key, len, e) != 0) {
        free(e);
        e = NULL;
    }
    return e;
}

static void fail_key(struct bruteforce *bf, const char *key, size_t len, uint64_t now)
{
    struct bf_entry *e = entry_for(bf, key, len, now);
    if (!e)
        return;
    if (now - e->last_failure_ms >= (uint64_t)bf->cfg.window_s * 1000u)
        e->failures = 0; /* quiet for a whole window: start over */
    e->failures++;
    e->last_failure_ms = now;
    if (e->failures > bf->cfg.free_failures) {
        uint32_t steps = e->failures - bf->cfg.free_failures - 1;
        uint64_t delay = bf->cfg.base_delay_ms;
        while (steps-- && delay < bf->cfg.max_delay_ms)
            delay *= 2;
        if (delay > bf->cfg.max_delay_ms)
            delay = bf->cfg.max_delay_ms;
        e->blocked_until_ms = now + delay;
    }
}

void bf_failure(struct bruteforce *bf, const char *peer, const uint8_t *user, size_t ulen,
                uint64_t now_ms)
{
    char key[300];
    fail_key(bf, key, addr_key(peer, key, sizeof(key)), now_ms);
    if (user)
        fail_key(bf, key, user_key(user, ulen, key, sizeof(key)), now_ms);
}

void bf_success(struct bruteforce *bf, const uint8_t *user, size_t ulen)
{
    char key[300];
    if (user)
        free(strmap_del(&bf->keys, key, user_key(user, ulen, key, sizeof(key))));
}
