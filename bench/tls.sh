#!/usr/bin/env bash
# bench/tls.sh: MQTT over TLS, bulwarkd and Debian's mosquitto side by side in one run
# (bench/README.md). Both get the same server certificate (ECDSA P-256, made with
# `bulwark ca`) and the same generator, build/bench/bulwark-tls-bench (wolfSSL client).
# Scenarios: tls-handshake (full handshakes + CONNECT/CONNACK/DISCONNECT per second),
# tls-handshake-resumed (the same, resuming a session), tls-fanin-q0 (8 publishers -> 1
# subscriber, QoS 0, all over TLS). Rounds alternate which broker goes first; the table
# shows medians and the ratio bulwarkd/mosquitto.
# Environment: BENCH_ROUNDS (3), BENCH_TLS_CONNECTIONS (2000), BENCH_TLS_MESSAGES (400000),
# BENCH_BULWARKD_ARGS, BULWARKD, BULWARK, MOSQUITTO.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEN=${BENCH_TLS_BIN:-$ROOT/build/bench/bulwark-tls-bench}
BULWARKD=${BULWARKD:-$ROOT/build/bulwarkd}
BULWARK=${BULWARK:-$ROOT/build/bulwark}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_TLS_CONNECTIONS:-2000}
MSGS=${BENCH_TLS_MESSAGES:-400000}
die() {
    echo "tls.sh: $*" >&2
    exit 1
}
for x in "$GEN" "$BULWARKD" "$BULWARK" "$MOSQUITTO"; do [[ -x $x ]] || die "$x is missing"; done
TMP=$(mktemp -d /tmp/bulwark-tls-bench.XXXXXX) || die "mktemp failed"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
"$BULWARK" ca init --dir "$TMP/ca" >/dev/null || die "bulwark ca init failed"
"$BULWARK" ca server-cert --dir "$TMP/ca" --dns localhost --ip 127.0.0.1 --out "$TMP/server" \
    >/dev/null || die "bulwark ca server-cert failed"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    local i
    for ((i = 0; i < 100; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
declare -A PORT
start_bulwarkd() {
    local plain tls
    plain=$(free_port) tls=$(free_port)
    cat >"$TMP/bulwarkd.yaml" <<CONF
listeners:
  - {host: 127.0.0.1, port: $plain}
  - host: 127.0.0.1
    port: $tls
    tls: {cert: $TMP/server.crt, key: $TMP/server.key}
allow_anonymous: true
log_level: warn
limits: {max_connections: 10000, max_queued_messages: 10000, max_queued_bytes: 67108864}
CONF
    # shellcheck disable=SC2086 # a list of options
    "$BULWARKD" -c "$TMP/bulwarkd.yaml" $BENCH_BULWARKD_ARGS >"$TMP/bulwarkd.log" 2>&1 &
    PIDS+=($!)
    wait_port "$tls" || die "bulwarkd did not start: $(tail -3 "$TMP/bulwarkd.log")"
    sleep 0.3 # the auth daemon, which signs handshakes, starts next to the worker
    PORT[bulwarkd]=$tls
}
start_mosquitto() {
    local tls
    tls=$(free_port)
    cat >"$TMP/mosquitto.conf" <<CONF
per_listener_settings false
allow_anonymous true
persistence false
user root
log_dest file $TMP/mosquitto.log
connection_messages false
max_queued_messages 10000
max_queued_bytes 67108864
set_tcp_nodelay true
listener $tls 127.0.0.1
certfile $TMP/server.crt
keyfile $TMP/server.key
max_connections -1
CONF
    "$MOSQUITTO" -c "$TMP/mosquitto.conf" >"$TMP/mosquitto.out" 2>&1 &
    PIDS+=($!)
    wait_port "$tls" || die "mosquitto did not start"
    PORT[mosquitto]=$tls
}
BENCH_BULWARKD_ARGS=${BENCH_BULWARKD_ARGS:-}
start_bulwarkd
start_mosquitto
: >"$TMP/results"
run() { # broker scenario-args...
    local b=$1 out
    shift
    out=$(timeout 300 "$GEN" "$@" --port "${PORT[$b]}" --cafile "$TMP/ca/ca.crt" 2>"$TMP/err") ||
        die "$b $*: $(tail -3 "$TMP/err")"
    [[ -s $TMP/err ]] && sed 's/^/    /' "$TMP/err" >&2
    sed -n "s/^RESULT scenario=\([^ ]*\) metric=\([^ ]*\) value=\([^ ]*\) .*/$b \1 \2 \3/p" \
        <<<"$out" | tee -a "$TMP/results" >&2
}
for ((r = 1; r <= ROUNDS; r++)); do
    order=(bulwarkd mosquitto)
    ((r % 2 == 0)) && order=(mosquitto bulwarkd)
    for b in "${order[@]}"; do run "$b" handshake --connections "$CONNS"; done
    for b in "${order[@]}"; do run "$b" handshake --connections "$CONNS" --resume; done
    for b in "${order[@]}"; do run "$b" fanin --messages "$MSGS"; done
done
for b in bulwarkd mosquitto; do
    pid=$(pgrep -f "$TMP/$b" | head -1)
    [[ -n $pid ]] || die "$b died during the run (log in $TMP)"
done
echo
printf '%-24s %-14s %14s %14s %8s\n' scenario metric bulwarkd mosquitto ratio
awk '{ v[$2" "$3" "$1] = v[$2" "$3" "$1] " " $4; k[$2" "$3] = 1 }
     function med(s,  a, n, i, j, t) { n = split(s, a, " ");
         for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
         return a[int((n + 1) / 2)] }
     END { for (s in k) { split(s, p, " "); b = med(v[s" bulwarkd"]); m = med(v[s" mosquitto"]);
         printf "%-24s %-14s %14.1f %14.1f %8.2f\n", p[1], p[2], b, m, (m > 0 ? b / m : 0) } }' \
    "$TMP/results" | sort
