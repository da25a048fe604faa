#include "keysign.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t keysign_req_encode(const struct keysign_req *r, uint8_t *out, size_t cap)
{
    if (cap < KEYSIGN_REQ_MAX || r->hash_len == 0 || r->hash_len > KEYSIGN_HASH_MAX)
        return 0;
    out[0] = KEYSIGN_VERSION;
    out[1] = r->listener;
    put32(out + 2, r->seq);
    out[6] = r->hash_len;
    memcpy(out + 7, r->hash, r->hash_len);
    return 7u + r->hash_len;
}

int keysign_req_decode(const uint8_t *in, size_t len, struct keysign_req *r)
{
    if (len < 8 || in[0] != KEYSIGN_VERSION)
        return -1;
    r->listener = in[1];
    r->seq = get32(in + 2);
    r->hash_len = in[6];
    if (r->hash_len == 0 || r->hash_len > KEYSIGN_HASH_MAX || len != 7u + r->hash_len)
        return -1;
    memcpy(r->hash, in + 7, r->hash_len);
    return 0;
}

size_t keysign_resp_encode(const struct keysign_resp *r, uint8_t *out, size_t cap)
{
    if (cap < KEYSIGN_RESP_MAX || r->sig_len > KEYSIGN_SIG_MAX || r->status > KEYSIGN_ERROR ||
        (r->status == KEYSIGN_OK) != (r->sig_len > 0))
        return 0;
    out[0] = KEYSIGN_VERSION;
    out[1] = r->status;
    put32(out + 2, r->seq);
    out[6] = (uint8_t)(r->sig_len >> 8);
    out[7] = (uint8_t)r->sig_len;
    memcpy(out + 8, r->sig, r->sig_len);
    return 8u + r->sig_len;
}

int keysign_resp_decode(const uint8_t *in, size_t len, struct keysign_resp *r)
{
    if (len < 8 || in[0] != KEYSIGN_VERSION || in[1] > KEYSIGN_ERROR)
        return -1;
    r->status = in[1];
    r->seq = get32(in + 2);
    r->sig_len = (uint16_t)(in[6] << 8 | in[7]);
    if (r->sig_len > KEYSIGN_SIG_MAX || len != 8u + r->sig_len ||
        (r->status == KEYSIGN_OK) != (r->sig_len > 0))
        return -1;
    memcpy(r->sig, in + 8, r->sig_len);
    return 0;
}

int keysign_call(int fd, uint8_t listener, const uint8_t *hash, size_t hash_len, uint8_t *sig,
                 size_t *sig_len)
{
    static uint32_t next_seq;
    if (fd < 0 || hash_len == 0 || hash_len > KEYSIGN_HASH_MAX)
        return -1;
    struct keysign_req rq = {
        .listener = listener, .seq = ++next_seq, .hash_len = (uint8_t)hash_len};
    memcpy(rq.hash, hash, hash_len);
    uint8_t buf[KEYSIGN_RESP_MAX];
    size_t n = keysign_req_encode(&rq, buf, sizeof(buf));
    if (!n || write(fd, buf, n) != (ssize_t)n)
        return -1;
    /* Bounded: a few stale answers to requests that timed out may sit before ours. */
    for (int tries = 0; tries < 8; tries++) {
        ssize_t got = read(fd, buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1; /* timeout (EAGAIN), or the auth daemon went away */
        struct keysign_resp rs;
        if (keysign_resp_decode(buf, (size_t)got, &rs) != 0)
            return -1;
        if (rs.seq != rq.seq)
            continue;
        if (rs.status != KEYSIGN_OK || rs.sig_len > *sig_len)
            return -1;
        memcpy(sig, rs.sig, rs.sig_len);
        *sig_len = rs.sig_len;
        return 0;
    }
    return -1;
}
