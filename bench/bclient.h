/* bclient: the load generator's MQTT clients (3.1.1, or 5.0 with bclient_set_proto), one
 * non-blocking socket each, driven by one epoll loop (struct bloop).
 *
 * Promises:
 *  - bloop_connect_all() takes clients from TCP connect through CONNECT/CONNACK and an
 *    optional one-filter SUBSCRIBE/SUBACK, with at most max_pending in that handshake at
 *    once (so a listen backlog never overflows), and returns once every client is ready.
 *  - After that, each complete packet a client reads is decoded (client side) and handed to
 *    its on_packet callback; c->rx_at holds the CLOCK_MONOTONIC time of the read that
 *    carried it. Reads are batched (one large recv, many packets).
 *  - Bytes queued with bclient_reserve()/bclient_commit() go out in as few send() calls as
 *    the socket allows; what a callback queues on its own client is flushed after the read.
 *  - Any socket error, broker disconnect, malformed packet or refused CONNECT/SUBSCRIBE
 *    fails the run: the call returns -1 with the reason in l->err.
 *  - Buffers are bounded: a packet larger than the read buffer or a write backlog larger
 *    than out_max is an error, never an unbounded allocation. */
#ifndef BULWARK_BENCH_BCLIENT_H
#define BULWARK_BENCH_BCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mqtt_codec.h"

struct bclient;
typedef void (*bclient_fn)(struct bclient *c, const struct mqtt_packet *p, void *ctx);

enum bclient_state {
    BC_NEW,
    BC_TCP,     /* connect() in progress */
    BC_CONNACK, /* CONNECT sent */
    BC_SUBACK,  /* SUBSCRIBE sent */
    BC_READY,
    BC_CLOSED,
};

struct bbuf {
    uint8_t *p;
    size_t off; /* first byte not yet consumed */
    size_t len; /* end of data */
    size_t cap;
    size_t max; /* cap never grows past this */
};

struct bclient {
    int fd;
    enum bclient_state st;
    bool out_watched; /* EPOLLOUT registered */
    unsigned idx;     /* caller's index, free for callbacks */
    char id[48];
    char filter[64]; /* empty: no SUBSCRIBE during setup */
    char user[64];   /* empty: CONNECT without user name and password */
    char pass[64];
    uint8_t sub_qos;
    struct bbuf in, out;
    uint64_t rx_at;
    bclient_fn on_packet;
    void *ctx;
};

struct bloop {
    int ep;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    unsigned handshaking; /* clients between connect() and READY */
    unsigned ready;
    char err[160];
};

/* The protocol level every client speaks: MQTT_PROTO_311 (default) or MQTT_PROTO_5. Set it
 * before the first connect. */
void bclient_set_proto(uint8_t level);
uint8_t bclient_proto(void);
/* A whole PUBLISH at that level (5.0: with an empty property list). Returns its length, or 0
 * when it does not fit cap. */
size_t bclient_encode_publish(uint8_t *out, size_t cap, uint8_t qos, const char *topic,
                              uint16_t packet_id, const uint8_t *payload, size_t payload_len);

int bloop_init(struct bloop *l, const char *host, uint16_t port);
void bloop_fini(struct bloop *l);

/* in_cap bounds the largest packet the client can read; out_max its write backlog. */
int bclient_init(struct bclient *c, unsigned idx, const char *id, size_t in_cap, size_t out_max);
/* filter NULL: the client only connects. */
void bclient_set_sub(struct bclient *c, const char *filter, uint8_t qos);
/* CONNECT carries this user name and password (user NULL: neither). */
void bclient_set_auth(struct bclient *c, const char *user, const char *pass);
/* Sends DISCONNECT if the client is ready (best effort), closes the socket, frees buffers. */
void bclient_close(struct bclient *c);

int bloop_connect_all(struct bloop *l, struct bclient **cs, size_t n, unsigned max_pending,
                      unsigned timeout_ms);

/* Waits at most timeout_ns (< 0: forever) for events and handles them all.
 * Returns the number of events handled or -1. */
int bloop_poll(struct bloop *l, int64_t timeout_ns);

/* Room for n more bytes at the end of the write buffer, NULL if over out_max. */
uint8_t *bclient_reserve(struct bclient *c, size_t n);
void bclient_commit(struct bclient *c, size_t n);
int bclient_flush(struct bloop *l, struct bclient *c);
bool bclient_out_pending(const struct bclient *c);

#endif
