/* bulwark-bench: MQTT load generator. One scenario per invocation; see bench/README.md. */
#include "bench.h"
#include "bclient.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: bulwark-bench SCENARIO [options]\n"
          "scenarios: fanin-q0 fanin-q1 fanout latency idle\n"
          "           fanin-q0-acl fanin-q1-acl (fanin, every client logged in as a bench user)\n"
          "           connect-auth-cold connect-auth-cached (login cycles)\n"
          "           free-port (prints an unused TCP port on 127.0.0.1)\n"
          "options (0 or absent: the scenario's default):\n"
          "  --host H          broker address (127.0.0.1)\n"
          "  --port N          broker port (1883)\n"
          "  --pid N           idle: broker pid; its process tree is weighed\n"
          "  --publishers N    fanin: publishers (8)\n"
          "  --subscribers N   fanout: subscribers (50)\n"
          "  --connections N   idle: connections (2000)\n"
          "  --messages N      messages per run (fanin 200000, fanout 4000, latency 15000)\n"
          "  --min-ms N        fanin, fanout: keep publishing past --messages until this\n"
          "                    long after the first send (1000)\n"
          "  --payload N       payload bytes (64, at least 16)\n"
          "  --window N        messages in flight to the subscriber(s) (fanin 1000, fanout 100)\n"
          "  --qos-window N    fanin-q1: unacked PUBLISHes per publisher (16)\n"
          "  --rate N          latency: messages per second (5000)\n"
          "  --warmup N        latency: first messages not measured (1000)\n"
          "  --settle-ms N     idle: pause before the second RSS reading (500)\n"
          "  --timeout-ms N    no progress for this long ends a run (500)\n"
          "  --users N         bench users taken (bench-u<i>, password bench-pw-<i>):\n"
          "                    fanin-*-acl publishers + 1, connect-auth-cold 50 (one login\n"
          "                    each), connect-auth-cached 1\n"
          "  --connects N      connect-auth-cached: timed logins, at least (2000; more until\n"
          "                    --min-ms has passed)\n"
          "  --parallel N      connect-auth: logins in progress at once (1)\n"
          "  --v5              fanin-q0, fanin-q1, fanout, latency, idle: MQTT 5.0 clients\n"
          "                    (also BENCH_PROTO=5 in the environment)\n",
          f);
}

static int parse_num(const char *name, const char *s, unsigned long lo, unsigned long hi,
                     unsigned long *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "bulwark-bench: --%s must be in %lu..%lu\n", name, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static void set_default(unsigned *v, unsigned d)
{
    if (*v == 0)
        *v = d;
}

static void defaults(struct bench_opts *o, const char *scen, bool warmup_set)
{
    unsigned long msgs = 200000;
    unsigned window = 1000;
    if (strcmp(scen, "fanout") == 0) {
        msgs = 4000;
        window = 100;
    } else if (strcmp(scen, "latency") == 0) {
        msgs = 15000;
    }
    if (o->messages == 0)
        o->messages = msgs;
    set_default(&o->window, window);
    set_default(&o->publishers, 8);
    set_default(&o->subscribers, 50);
    set_default(&o->connections, 2000);
    set_default(&o->payload, 64);
    set_default(&o->qos_window, 16);
    set_default(&o->rate, 5000);
    set_default(&o->settle_ms, 500);
    set_default(&o->timeout_ms, 500);
    set_default(&o->min_ms, 1000);
    if (!warmup_set)
        o->warmup = o->messages > 2000 ? 1000 : 0;
    o->auth = strcmp(scen, "fanin-q0-acl") == 0 || strcmp(scen, "fanin-q1-acl") == 0 ||
              strncmp(scen, "connect-auth-", 13) == 0;
    if (strcmp(scen, "connect-auth-cold") == 0) {
        set_default(&o->users, 50);
    } else if (strncmp(scen, "connect-auth-", 13) == 0) {
        set_default(&o->users, 1);
    } else {
        set_default(&o->users, o->publishers + 1);
    }
    if (o->connects == 0)
        o->connects = 2000;
    set_default(&o->parallel, 1);
}

/* Connections beyond the soft limit of 1024 need more descriptors. */
static void raise_nofile(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)want + 64)
        fprintf(stderr, "bulwark-bench: descriptor limit %llu is below the %u connections\n",
                (unsigned long long)rl.rlim_cur, want);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("bulwark-bench: free-port");
        return 1;
    }
    printf("%u\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"pid", required_argument, NULL, 'P'},
        {"publishers", required_argument, NULL, 'b'},
        {"subscribers", required_argument, NULL, 's'},
        {"connections", required_argument, NULL, 'c'},
        {"messages", required_argument, NULL, 'm'},
        {"payload", required_argument, NULL, 'l'},
        {"window", required_argument, NULL, 'w'},
        {"qos-window", required_argument, NULL, 'q'},
        {"rate", required_argument, NULL, 'r'},
        {"warmup", required_argument, NULL, 'W'},
        {"settle-ms", required_argument, NULL, 'S'},
        {"timeout-ms", required_argument, NULL, 'T'},
        {"min-ms", required_argument, NULL, 'M'},
        {"users", required_argument, NULL, 'u'},
        {"connects", required_argument, NULL, 'C'},
        {"parallel", required_argument, NULL, 'L'},
        {"v5", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, '?'},
        {0},
    };
    struct bench_opts o = {.host = "127.0.0.1", .port = 1883};
    const char *proto = getenv("BENCH_PROTO");
    if (proto && strcmp(proto, "5") == 0)
        bclient_set_proto(MQTT_PROTO_5);
    else if (proto && proto[0] && strcmp(proto, "4") != 0) {
        fprintf(stderr, "bulwark-bench: BENCH_PROTO must be 4 or 5\n");
        return 2;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *scen = argv[1];
    bool warmup_set = false;
    int opt;
    optind = 2;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        unsigned long v = 0;
        const char *name = NULL;
        unsigned long lo = 1, hi = BENCH_MAX_CLIENTS;
        for (const struct option *lp = longopts; lp->name; lp++) {
            if (lp->val == opt)
                name = lp->name;
        }
        switch (opt) {
        case 'h':
            o.host = optarg;
            continue;
        case 'V':
            bclient_set_proto(MQTT_PROTO_5);
            continue;
        case 'p':
            hi = 65535;
            break;
        case 'P':
            hi = 4194304;
            break;
        case 'm':
            hi = BENCH_MAX_MESSAGES;
            break;
        case 'l':
            lo = BENCH_MIN_PAYLOAD;
            hi = BENCH_MAX_PAYLOAD;
            break;
        case 'w':
            hi = 1000000;
            break;
        case 'q':
            hi = 65535; /* packet ids in flight must stay distinct */
            break;
        case 'r':
            hi = 10000000;
            break;
        case 'W':
            lo = 0;
            hi = BENCH_MAX_MESSAGES;
            break;
        case 'S':
        case 'T':
        case 'M':
            hi = 600000;
            break;
        case 'u':
            hi = BENCH_MAX_USERS;
            break;
        case 'C':
            hi = BENCH_MAX_MESSAGES;
            break;
        case 'L':
            hi = 1000;
            break;
        case 'b':
        case 's':
        case 'c':
            break;
        default:
            usage(stderr);
            return 2;
        }
        if (parse_num(name, optarg, lo, hi, &v) < 0)
            return 2;
        switch (opt) {
        case 'p':
            o.port = (uint16_t)v;
            break;
        case 'P':
            o.pid = (int)v;
            break;
        case 'b':
            o.publishers = (unsigned)v;
            break;
        case 's':
            o.subscribers = (unsigned)v;
            break;
        case 'c':
            o.connections = (unsigned)v;
            break;
        case 'm':
            o.messages = v;
            break;
        case 'l':
            o.payload = (unsigned)v;
            break;
        case 'w':
            o.window = (unsigned)v;
            break;
        case 'q':
            o.qos_window = (unsigned)v;
            break;
        case 'r':
            o.rate = (unsigned)v;
            break;
        case 'W':
            o.warmup = (unsigned)v;
            warmup_set = true;
            break;
        case 'S':
            o.settle_ms = (unsigned)v;
            break;
        case 'T':
            o.timeout_ms = (unsigned)v;
            break;
        case 'M':
            o.min_ms = (unsigned)v;
            break;
        case 'u':
            o.users = (unsigned)v;
            break;
        case 'C':
            o.connects = v;
            break;
        case 'L':
            o.parallel = (unsigned)v;
            break;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(scen, "free-port") == 0)
        return free_port();
    defaults(&o, scen, warmup_set);
    if (o.warmup >= o.messages) {
        fprintf(stderr, "bulwark-bench: --warmup must be below --messages\n");
        return 2;
    }
    raise_nofile(o.connections + o.subscribers + o.publishers + o.parallel);
    uint64_t t0 = bench_now_ns();
    double cpu0 = cpu_seconds();
    int rc;
    if (strcmp(scen, "fanin-q0") == 0 || strcmp(scen, "fanin-q0-acl") == 0) {
        rc = scen_fanin(&o, 0);
    } else if (strcmp(scen, "fanin-q1") == 0 || strcmp(scen, "fanin-q1-acl") == 0) {
        rc = scen_fanin(&o, 1);
    } else if (strcmp(scen, "connect-auth-cold") == 0) {
        rc = scen_connect(&o, false);
    } else if (strcmp(scen, "connect-auth-cached") == 0) {
        rc = scen_connect(&o, true);
    } else if (strcmp(scen, "fanout") == 0) {
        rc = scen_fanout(&o);
    } else if (strcmp(scen, "latency") == 0) {
        rc = scen_latency(&o);
    } else if (strcmp(scen, "idle") == 0) {
        rc = scen_idle(&o);
    } else {
        fprintf(stderr, "bulwark-bench: unknown scenario %s\n", scen);
        usage(stderr);
        return 2;
    }
    /* Near 100% the generator, not the broker, may be what limits the figures. */
    double wall = (double)(bench_now_ns() - t0) / 1e9;
    if (rc == 0 && wall > 0 && strcmp(scen, "idle") != 0)
        bench_note("%s: generator used %.0f%% of one core", scen,
                   100.0 * (cpu_seconds() - cpu0) / wall);
    return rc;
}
