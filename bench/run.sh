#!/usr/bin/env bash
# bench/run.sh: bulwarkd and Debian's mosquitto side by side in one run.
# Every scenario runs BENCH_ROUNDS times per broker, alternating which broker goes first;
# the table shows the median per broker and the ratio bulwarkd/mosquitto. Absolute figures
# depend on the machine and its load: compare the ratios of one run, never across runs.
#
# Environment: BENCH_ROUNDS (3), BENCH_SCENARIOS ("fanin-q0 fanin-q1 fanout latency idle"),
# BENCH_IDLE_CONNECTIONS (2000), BENCH_PIN (1: for the throughput scenarios the broker runs
# on CPU 1 and the generator on CPU 0; 0: never pin),
# BENCH_KEEP (1: keep the temp dir with configs, logs and raw results),
# BENCH_ARGS (extra bulwark-bench options for every run), BENCH_BULWARKD_ARGS (extra
# bulwarkd arguments, e.g. --insecure-no-sandbox to measure what the sandbox costs),
# BULWARKD, MOSQUITTO, BENCH_BIN.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH_BIN:-$ROOT/build/bench/bulwark-bench}
BULWARKD=${BULWARKD:-$ROOT/build/bulwarkd}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
ROUNDS=${BENCH_ROUNDS:-3}
SCENARIOS=${BENCH_SCENARIOS:-fanin-q0 fanin-q1 fanout latency idle}
IDLE_N=${BENCH_IDLE_CONNECTIONS:-2000}
PIN=${BENCH_PIN:-1}
EXTRA=${BENCH_ARGS:-}
BULWARKD_ARGS=${BENCH_BULWARKD_ARGS:-}
# Same limits for both brokers; the windows of bulwark-bench stay well below them, so
# neither broker should have to drop anything.
INFLIGHT=100
QUEUED=10000
QUEUED_BYTES=67108864
RUN_TIMEOUT=120 # seconds, per bulwark-bench invocation

die() {
    echo "run.sh: $*" >&2
    exit 1
}
note() { echo "run.sh: $*" >&2; }

[[ -x $BENCH ]] || die "$BENCH is missing: run 'make build/bench/bulwark-bench'"
[[ -x $MOSQUITTO ]] || die "$MOSQUITTO is missing (apt-get install mosquitto)"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
[[ $IDLE_N =~ ^[1-9][0-9]*$ ]] || die "BENCH_IDLE_CONNECTIONS must be a positive integer"

BROKERS=(bulwarkd mosquitto)
if [[ ! -x $BULWARKD ]]; then
    note "$BULWARKD is missing: mosquitto only"
    BROKERS=(mosquitto)
fi

# Every connection is a descriptor, on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if (($(ulimit -n) < IDLE_N + 200)); then
    note "descriptor limit $(ulimit -n) is below $IDLE_N idle connections + 200"
fi

# Throughput runs pin the broker and the generator to a core each: the figures then vary
# far less between runs. The latency run does not: a wakeup across cores costs more than
# the broker's own work, and a pinned process waits out anything else on its core.
BROKER_CPU=() GEN_CPU=()
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && (($(nproc) >= 2)); then
    BROKER_CPU=(taskset -c 1)
    GEN_CPU=(taskset -c 0)
    ALL_CPUS=0-$(($(nproc) - 1))
fi

TMP=$(mktemp -d /tmp/bulwark-bench.XXXXXX) || die "mktemp failed"
RESULTS=$TMP/results # lines: broker scenario metric value better
: >"$RESULTS"
declare -A PID PORT
STARTED=() # every broker pid this script started
FAILED=0

# Descendants of a pid (bulwarkd's worker and auth roles), children first.
descendants() {
    local p c
    for p in /proc/"$1"/task/*/children; do
        [[ -r $p ]] || continue
        for c in $(<"$p"); do
            descendants "$c"
            echo "$c"
        done
    done
}

stop_pid() {
    local pid=$1 kids i
    kill -0 "$pid" 2>/dev/null || return 0
    kids=$(descendants "$pid")
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # Roles the supervisor did not take down with it.
    for i in $kids; do kill -KILL "$i" 2>/dev/null; done
    return 0
}

# Stops a broker this script started and forgets its pid (which the system may reuse).
stop_broker() {
    local pid=$1 p keep=()
    stop_pid "$pid"
    for p in "${STARTED[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    STARTED=("${keep[@]}")
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local p
    for p in "${STARTED[@]}"; do stop_pid "$p"; done
    if [[ ${BENCH_KEEP:-0} == 1 || $FAILED == 1 ]]; then
        note "configs, logs and raw results kept in $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
    local port=$1 pid=$2 i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# start BROKER KEY: starts a broker instance on a free port; sets PID[KEY], PORT[KEY].
start() {
    local broker=$1 key=$2 port conf log pid
    port=$("$BENCH" free-port) || die "no free port"
    log=$TMP/$key.log
    if [[ $broker == mosquitto ]]; then
        conf=$TMP/$key.conf
        sed -e "s|@PORT@|$port|" -e "s|@LOG@|$log|" -e "s|@INFLIGHT@|$INFLIGHT|" \
            -e "s|@QUEUED@|$QUEUED|" -e "s|@QUEUED_BYTES@|$QUEUED_BYTES|" \
            "$ROOT/bench/mosquitto.conf" >"$conf"
        "${BROKER_CPU[@]}" "$MOSQUITTO" -c "$conf" >>"$log.out" 2>&1 &
    else
        conf=$TMP/$key.yaml
        sed -e "s|@PORT@|$port|" -e "s|@MAX_CONNECTIONS@|$((IDLE_N + 100))|" \
            -e "s|@INFLIGHT@|$INFLIGHT|" -e "s|@QUEUED@|$QUEUED|" \
            -e "s|@QUEUED_BYTES@|$QUEUED_BYTES|" "$ROOT/bench/bulwarkd.yaml" >"$conf"
        # shellcheck disable=SC2086 # BENCH_BULWARKD_ARGS is a list of options
        "${BROKER_CPU[@]}" "$BULWARKD" -c "$conf" $BULWARKD_ARGS >>"$log" 2>&1 &
    fi
    pid=$!
    STARTED+=("$pid")
    if ! wait_port "$port" "$pid"; then
        FAILED=1
        tail -n 5 "$log" "$log.out" 2>/dev/null >&2
        die "$broker did not start listening on port $port (log: $log)"
    fi
    PID[$key]=$pid
    PORT[$key]=$port
}

# set_affinity PID CPULIST: every thread of the broker and of its roles.
set_affinity() {
    local p
    for p in "$1" $(descendants "$1"); do
        taskset -a -p -c "$2" "$p" >/dev/null 2>&1
    done
}

# A broker that crashed is reported and restarted, so one crash costs one sample.
ensure_running() {
    local b=$1
    if ! kill -0 "${PID[$b]}" 2>/dev/null; then
        FAILED=1
        note "$b (pid ${PID[$b]}) died: restarting; see $TMP/$b.log"
        stop_broker "${PID[$b]}"
        start "$b" "$b"
    fi
}

# run_one BROKER SCENARIO ROUND: appends the RESULT lines to $RESULTS.
run_one() {
    local b=$1 s=$2 r=$3
    local key=$b out err rc args=() gen=("${GEN_CPU[@]}")
    if [[ $s == idle ]]; then
        # A fresh broker each time: an allocator keeps freed memory, so a broker that has
        # already served connections would show their reuse rather than the growth.
        key=$b-idle-$r
        start "$b" "$key"
        sleep 0.5 # let every role finish starting before the first reading
        args=(--pid "${PID[$key]}" --connections "$IDLE_N")
    else
        ensure_running "$b"
        if ((${#GEN_CPU[@]})); then
            if [[ $s == latency ]]; then
                set_affinity "${PID[$b]}" "$ALL_CPUS"
                gen=()
            else
                set_affinity "${PID[$b]}" 1
            fi
        fi
    fi
    err=$TMP/bench-$b-$s-$r.err
    # shellcheck disable=SC2086 # BENCH_ARGS is a list of options
    out=$(timeout "$RUN_TIMEOUT" "${gen[@]}" "$BENCH" "$s" --port "${PORT[$key]}" \
        "${args[@]}" $EXTRA 2>"$err")
    rc=$?
    [[ $s == idle ]] && stop_broker "${PID[$key]}"
    if ((rc != 0)); then
        FAILED=1
        note "round $r $s on $b failed (exit $rc): $(tail -n 3 "$err" | tr '\n' ' ')"
        return
    fi
    local line summary=""
    while read -r line; do
        [[ $line =~ ^RESULT\ scenario=([^ ]+)\ metric=([^ ]+)\ value=([^ ]+)\ better=([a-z]+)$ ]] ||
            continue
        echo "$b ${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]} ${BASH_REMATCH[4]}" \
            >>"$RESULTS"
        summary+=" ${BASH_REMATCH[2]}=${BASH_REMATCH[3]}"
    done <<<"$out"
    note "round $r/$ROUNDS $s $b:$summary"
    if [[ -s $err ]]; then sed 's/^/    /' "$err" >&2; fi
}

T0=$(date +%s)
for b in "${BROKERS[@]}"; do
    start "$b" "$b"
    if [[ $b == bulwarkd ]]; then
        note "bulwarkd: pid ${PID[$b]}, roles: $(descendants "${PID[$b]}" | while read -r c; do
            tr '\0' ' ' <"/proc/$c/cmdline" | grep -o -- '--role [a-z]*' | sed "s/--role /$c=/"
        done | tr '\n' ' ')"
    fi
    # Warm-up (discarded): first-touch page faults and allocator growth.
    "${GEN_CPU[@]}" "$BENCH" fanin-q0 --port "${PORT[$b]}" --messages 20000 >/dev/null 2>&1
done
note "brokers: $(for b in "${BROKERS[@]}"; do echo -n "$b port ${PORT[$b]} "; done)" \
    "${GEN_CPU[*]:+(throughput runs: generator on CPU 0, brokers on CPU 1)}"

for ((r = 1; r <= ROUNDS; r++)); do
    order=("${BROKERS[@]}")
    if ((r % 2 == 0 && ${#BROKERS[@]} == 2)); then order=("${BROKERS[1]}" "${BROKERS[0]}"); fi
    for s in $SCENARIOS; do
        for b in "${order[@]}"; do run_one "$b" "$s" "$r"; done
    done
done

if [[ -f $TMP/mosquitto.log ]]; then
    drops=$(grep -c 'Outgoing messages are being dropped' "$TMP"/mosquitto*.log | \
        awk -F: '{n += $NF} END {print n + 0}')
    if ((drops > 0)); then
        note "mosquitto logged 'Outgoing messages are being dropped' $drops time(s)"
    fi
fi

echo
echo "bulwark-bench: median of $ROUNDS round(s); ratio = bulwarkd / mosquitto;" \
    "$(date -u +%Y-%m-%dT%H:%MZ), $(($(date +%s) - T0)) s" \
    "${BULWARKD_ARGS:+(bulwarkd $BULWARKD_ARGS)}"
awk -v rounds="$ROUNDS" '
function fmt(v) {
    if (v == "") return "-"
    if (v >= 100 || v <= -100) return sprintf("%.0f", v)
    if (v >= 10 || v <= -10) return sprintf("%.1f", v)
    return sprintf("%.2f", v)
}
function median(key,    n, i, j, t, a) {
    n = cnt[key]
    if (n == 0) return ""
    for (i = 1; i <= n; i++) a[i] = val[key, i]
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    row = $2 SUBSEP $3
    if (!(row in seen)) { seen[row] = 1; order[++nrows] = row; better[row] = $5 }
    key = $1 SUBSEP row
    val[key, ++cnt[key]] = $4 + 0
}
END {
    printf "%-10s %-18s %12s %12s %10s  %s\n", "scenario", "metric", "bulwarkd",
        "mosquitto", "ratio", "better"
    short = 0
    for (i = 1; i <= nrows; i++) {
        row = order[i]; split(row, p, SUBSEP)
        b = median("bulwarkd" SUBSEP row); m = median("mosquitto" SUBSEP row)
        ratio = (b != "" && m != "" && m != 0) ? sprintf("%.2f", b / m) : "-"
        mark = ""
        if ((cnt["bulwarkd" SUBSEP row] && cnt["bulwarkd" SUBSEP row] < rounds) ||
            (cnt["mosquitto" SUBSEP row] && cnt["mosquitto" SUBSEP row] < rounds)) {
            mark = " *"; short = 1
        }
        printf "%-10s %-18s %12s %12s %10s  %s is better%s\n", p[1], p[2], fmt(b), fmt(m),
            ratio, better[row], mark
    }
    if (short) print "* fewer samples than rounds: some runs failed (see above)"
}' "$RESULTS"

exit "$FAILED"
