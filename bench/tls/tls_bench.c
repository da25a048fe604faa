/* bulwark-tls-bench: MQTT over TLS load for bench/tls.sh, the same for every broker.
 *
 *   handshake --port P --cafile F [--connections N] [--threads T] [--resume]
 *       N x (TCP connect, TLS handshake, CONNECT/CONNACK, DISCONNECT) on T threads;
 *       with --resume every thread resumes its first session afterwards.
 *   fanin --port P --cafile F [--publishers N] [--messages M] [--payload B]
 *       N TLS publishers send M QoS 0 messages in all to one TLS subscriber.
 * Prints "RESULT scenario=... metric=... value=... better=higher" lines (bench/README.md).
 * Blocking sockets and one thread per client: the generator is simple, not clever; both
 * brokers face the same one. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

static int port;
static const char *cafile;
static WOLFSSL_CTX *ctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bulwark-tls-bench: %s\n", what);
    exit(1);
}

static int tcp_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        die("connect failed");
    return fd;
}

static int write_all(WOLFSSL *ssl, const uint8_t *p, size_t n)
{
    while (n) {
        int w = wolfSSL_write(ssl, p, (int)(n > 16384 ? 16384 : n));
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(WOLFSSL *ssl, uint8_t *p, size_t n)
{
    while (n) {
        int r = wolfSSL_read(ssl, p, (int)n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* CONNECT (3.1.1, clean session, keep-alive 60) with this client id. */
static size_t connect_packet(uint8_t *b, const char *id)
{
    size_t idl = strlen(id);
    size_t rem = 10 + 2 + idl;
    b[0] = 0x10;
    b[1] = (uint8_t)rem;
    memcpy(b + 2, "\x00\x04MQTT\x04\x02\x00\x3c", 10);
    b[12] = (uint8_t)(idl >> 8);
    b[13] = (uint8_t)idl;
    memcpy(b + 14, id, idl);
    return 2 + rem;
}

static WOLFSSL *mqtt_open(const char *id, WOLFSSL_SESSION *resume, int *fd_out)
{
    int fd = tcp_connect();
    WOLFSSL *ssl = wolfSSL_new(ctx);
    if (!ssl)
        die("wolfSSL_new failed");
    wolfSSL_set_fd(ssl, fd);
    /* Offer what OpenSSL-based clients (mosquitto_pub, Python, paho) offer first: X25519. */
    if (wolfSSL_UseKeyShare(ssl, WOLFSSL_ECC_X25519) != WOLFSSL_SUCCESS)
        die("X25519 key share refused");
    if (resume)
        wolfSSL_set_session(ssl, resume);
    if (wolfSSL_connect(ssl) != WOLFSSL_SUCCESS)
        die("TLS handshake failed");
    uint8_t b[128], ack[4];
    if (write_all(ssl, b, connect_packet(b, id)) != 0 || read_all(ssl, ack, 4) != 0 ||
        ack[0] != 0x20 || ack[3] != 0)
        die("CONNECT refused");
    *fd_out = fd;
    return ssl;
}

static void mqtt_close(WOLFSSL *ssl, int fd)
{
    write_all(ssl, (const uint8_t *)"\xe0\x00", 2);
    wolfSSL_shutdown(ssl);
    wolfSSL_free(ssl);
    close(fd);
}

/* --- handshake ------------------------------------------------------------------------------ */

struct hs_arg {
    int id, count;
    bool resume;
    int resumed;
};

static void *hs_thread(void *p)
{
    struct hs_arg *a = p;
    WOLFSSL_SESSION *sess = NULL;
    for (int i = 0; i < a->count; i++) {
        char id[48];
        snprintf(id, sizeof(id), "tls-hs-%d-%d", a->id, i);
        int fd;
        WOLFSSL *ssl = mqtt_open(id, a->resume ? sess : NULL, &fd);
        if (a->resume && wolfSSL_session_reused(ssl))
            a->resumed++;
        if (a->resume && !sess)
            sess = wolfSSL_get1_session(ssl);
        mqtt_close(ssl, fd);
    }
    if (sess)
        wolfSSL_SESSION_free(sess);
    return NULL;
}

static void run_handshake(int n, int threads, bool resume)
{
    pthread_t t[64];
    struct hs_arg a[64];
    if (threads < 1 || threads > 64)
        die("--threads: 1..64");
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        a[i] = (struct hs_arg){.id = i, .count = n / threads, .resume = resume};
        pthread_create(&t[i], NULL, hs_thread, &a[i]);
    }
    int resumed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        resumed += a[i].resumed;
    }
    double dt = now_s() - t0;
    int done = n / threads * threads;
    if (resume && resumed < done - threads)
        fprintf(stderr, "only %d of %d handshakes resumed\n", resumed, done - threads);
    printf("RESULT scenario=tls-handshake%s metric=handshakes/s value=%.1f better=higher\n",
           resume ? "-resumed" : "", done / dt);
}

/* --- fan-in --------------------------------------------------------------------------------- */

struct pub_arg {
    int id, count, payload;
};

static void *pub_thread(void *p)
{
    struct pub_arg *a = p;
    char id[32];
    snprintf(id, sizeof(id), "tls-pub-%d", a->id);
    int fd;
    WOLFSSL *ssl = mqtt_open(id, NULL, &fd);
    const char *topic = "bench/tls/in";
    size_t tl = strlen(topic), rem = 2 + tl + (size_t)a->payload;
    size_t one = 1 + (rem < 128 ? 1 : 2) + rem;
    int batch = (int)(16384 / one) ? (int)(16384 / one) : 1;
    uint8_t *buf = malloc(one * (size_t)batch);
    for (int i = 0; i < batch; i++) {
        uint8_t *q = buf + one * (size_t)i;
        *q++ = 0x30;
        if (rem < 128) {
            *q++ = (uint8_t)rem;
        } else {
            *q++ = (uint8_t)(0x80 | (rem & 0x7f));
            *q++ = (uint8_t)(rem >> 7);
        }
        *q++ = 0;
        *q++ = (uint8_t)tl;
        memcpy(q, topic, tl);
        memset(q + tl, 'x', (size_t)a->payload);
    }
    for (int sent = 0; sent < a->count;) {
        int k = a->count - sent < batch ? a->count - sent : batch;
        if (write_all(ssl, buf, one * (size_t)k) != 0)
            die("publish failed");
        sent += k;
    }
    free(buf);
    mqtt_close(ssl, fd);
    return NULL;
}

/* Counts whole PUBLISH packets in the subscriber's stream until want arrived or 20 s pass. */
static long count_publishes(WOLFSSL *ssl, int fd, long want)
{
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    static uint8_t buf[1 << 16];
    size_t have = 0;
    long got = 0;
    while (got < want) {
        int r = wolfSSL_read(ssl, buf + have, (int)(sizeof(buf) - have));
        if (r <= 0)
            break;
        have += (size_t)r;
        size_t off = 0;
        for (;;) {
            if (have - off < 2)
                break;
            size_t rem = 0, i = 1;
            int shift = 0;
            while (i < have - off && i < 5) {
                rem |= (size_t)(buf[off + i] & 0x7f) << shift;
                shift += 7;
                if (!(buf[off + i++] & 0x80))
                    break;
            }
            if (buf[off + i - 1] & 0x80 || have - off < i + rem)
                break;
            if ((buf[off] >> 4) == 3)
                got++;
            off += i + rem;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    return got;
}

static void run_fanin(int publishers, long messages, int payload)
{
    int fd;
    WOLFSSL *sub = mqtt_open("tls-sub", NULL, &fd);
    const uint8_t subscribe[] = {0x82, 0x10, 0x00, 0x01, 0x00, 0x0b, 'b', 'e', 'n',
                                 'c',  'h',  '/',  't',  'l',  's',  '/', '#', 0x00};
    uint8_t suback[5];
    if (write_all(sub, subscribe, sizeof(subscribe)) != 0 || read_all(sub, suback, 5) != 0 ||
        suback[0] != 0x90)
        die("SUBSCRIBE failed");
    pthread_t t[64];
    struct pub_arg a[64];
    if (publishers < 1 || publishers > 64)
        die("--publishers: 1..64");
    long per = messages / publishers;
    double t0 = now_s();
    for (int i = 0; i < publishers; i++) {
        a[i] = (struct pub_arg){.id = i, .count = (int)per, .payload = payload};
        pthread_create(&t[i], NULL, pub_thread, &a[i]);
    }
    long got = count_publishes(sub, fd, per * publishers);
    double dt = now_s() - t0;
    for (int i = 0; i < publishers; i++)
        pthread_join(t[i], NULL);
    if (got < per * publishers)
        fprintf(stderr, "subscriber got %ld of %ld messages\n", got, per * publishers);
    mqtt_close(sub, fd);
    printf("RESULT scenario=tls-fanin-q0 metric=msgs/s value=%.0f better=higher\n", got / dt);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: bulwark-tls-bench handshake|fanin --port P --cafile F [options]");
    int connections = 2000, threads = 4, publishers = 8, payload = 64;
    long messages = 400000;
    bool resume = false;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--resume")) {
            resume = true;
            continue;
        }
        if (!v)
            die("option without a value");
        i++;
        if (!strcmp(o, "--port"))
            port = atoi(v);
        else if (!strcmp(o, "--cafile"))
            cafile = v;
        else if (!strcmp(o, "--connections"))
            connections = atoi(v);
        else if (!strcmp(o, "--threads"))
            threads = atoi(v);
        else if (!strcmp(o, "--publishers"))
            publishers = atoi(v);
        else if (!strcmp(o, "--messages"))
            messages = atol(v);
        else if (!strcmp(o, "--payload"))
            payload = atoi(v);
        else
            die("unknown option");
    }
    if (!port || !cafile || payload < 0 || payload > 10000)
        die("--port and --cafile are required; --payload 0..10000");
    wolfSSL_Init();
    ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
    int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};
    if (!ctx || wolfSSL_CTX_load_verify_locations(ctx, cafile, NULL) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_set_groups(ctx, groups, 3) != WOLFSSL_SUCCESS)
        die("cannot load the CA file or set the groups");
    if (!strcmp(argv[1], "handshake"))
        run_handshake(connections, threads, resume);
    else if (!strcmp(argv[1], "fanin"))
        run_fanin(publishers, messages, payload);
    else
        die("unknown scenario");
    wolfSSL_CTX_free(ctx);
    wolfSSL_Cleanup();
    return 0;
}
