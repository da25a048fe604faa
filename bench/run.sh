#!/usr/bin/env bash
# bench/run.sh: bulwarkd and Debian's mosquitto side by side in one run.
# Every scenario runs BENCH_ROUNDS times per broker, alternating which broker goes first;
# the table shows the median per broker and the ratio bulwarkd/mosquitto. Absolute figures
# depend on the machine and its load: compare the ratios of one run, never across runs.
#
# Environment: BENCH_ROUNDS (3), BENCH_SCENARIOS ("fanin-q0 fanin-q1 fanout latency idle
# connect-auth-cold connect-auth-cached fanin-q0-acl fanin-q1-acl"),
# BENCH_IDLE_CONNECTIONS (2000), BENCH_AUTH_USERS (50: bench users in both brokers, one cold
# login each), BENCH_PIN (1: for the throughput scenarios the broker runs
# on CPU 1 and the generator on CPU 0; 0: never pin),
# BENCH_KEEP (1: keep the temp dir with configs, logs and raw results),
# BENCH_ARGS (extra bulwark-bench options for every run), BENCH_BULWARKD_ARGS (extra
# bulwarkd arguments, e.g. --insecure-no-sandbox to measure what the sandbox costs),
# BULWARKD, BULWARK (the CLI, for password hashes), MOSQUITTO, MOSQUITTO_PASSWD, BENCH_BIN.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH_BIN:-$ROOT/build/bench/bulwark-bench}
BULWARKD=${BULWARKD:-$ROOT/build/bulwarkd}
BULWARK=${BULWARK:-$ROOT/build/bulwark}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
MOSQUITTO_PASSWD=${MOSQUITTO_PASSWD:-/usr/bin/mosquitto_passwd}
ROUNDS=${BENCH_ROUNDS:-3}
SCENARIOS=${BENCH_SCENARIOS:-fanin-q0 fanin-q1 fanout latency idle connect-auth-cold \
connect-auth-cached fanin-q0-acl fanin-q1-acl}
IDLE_N=${BENCH_IDLE_CONNECTIONS:-2000}
AUTH_USERS=${BENCH_AUTH_USERS:-50}
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
[[ $AUTH_USERS =~ ^[1-9][0-9]*$ ]] || die "BENCH_AUTH_USERS must be a positive integer"

# Scenarios whose clients log in: they run against broker instances that refuse anonymous
# clients and check passwords and access rules (see make_auth_files).
is_auth() { [[ $1 == connect-auth-* || $1 == fanin-q[01]-acl ]]; }
NEED_AUTH=0 NEED_LASTING_AUTH=0
for s in $SCENARIOS; do
    if is_auth "$s"; then
        NEED_AUTH=1
        [[ $s == connect-auth-cold ]] || NEED_LASTING_AUTH=1
    fi
done
if ((NEED_AUTH)); then
    [[ -x $MOSQUITTO_PASSWD ]] || die "$MOSQUITTO_PASSWD is missing (apt-get install mosquitto)"
fi

BROKERS=(bulwarkd mosquitto)
if [[ ! -x $BULWARKD ]]; then
    note "$BULWARKD is missing: mosquitto only"
    BROKERS=(mosquitto)
elif ((NEED_AUTH)) && [[ ! -x $BULWARK ]]; then
    die "$BULWARK is missing (it makes the password hashes): run 'make build/bulwark'"
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
declare -A PID PORT MODE
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

# The bench users bench-u0 .. bench-u<AUTH_USERS-1> (password bench-pw-<i>, the
# convention of bulwark-bench) in both brokers, with the same rights: publish and subscribe
# on bench/in/#. bulwarkd: argon2id hashes from `bulwark passwd` in a policy; mosquitto: a
# mosquitto_passwd file (PBKDF2-SHA512) and an acl_file.
make_auth_files() {
    local i hashes=$TMP/hashes members=""
    mkdir -p "$hashes"
    : >"$TMP/mosquitto.acl"
    for ((i = 0; i < AUTH_USERS; i++)); do
        if ((i == 0)); then
            "$MOSQUITTO_PASSWD" -c -b "$TMP/mosquitto.passwd" bench-u0 bench-pw-0 ||
                die "mosquitto_passwd failed"
        else
            "$MOSQUITTO_PASSWD" -b "$TMP/mosquitto.passwd" "bench-u$i" "bench-pw-$i" ||
                die "mosquitto_passwd failed"
        fi
        printf 'user bench-u%s\ntopic readwrite bench/in/#\n\n' "$i" >>"$TMP/mosquitto.acl"
        members+="${members:+, }bench-u$i"
    done
    [[ ${BROKERS[0]} == bulwarkd ]] || return 0
    # One argon2id hash (64 MiB) per user: on every core at once.
    # shellcheck disable=SC2016 # expanded by the inner shell
    seq 0 $((AUTH_USERS - 1)) | xargs -P "$(nproc)" -I{} sh -c \
        'printf "bench-pw-%s\n" "$2" | "$0" passwd >"$1/$2" || exit 255' \
        "$BULWARK" "$hashes" {} || die "bulwark passwd failed"
    {
        echo "# bench users for bench/run.sh: the same users and rights as mosquitto.acl"
        echo "version: 1"
        echo "users:"
        for ((i = 0; i < AUTH_USERS; i++)); do
            echo "  - name: bench-u$i"
            echo "    password: \"$(<"$hashes/$i")\""
        done
        echo "groups:"
        echo "  - name: bench"
        echo "    members: [$members]"
        echo "rules:"
        echo "  - id: bench-in"
        echo "    allow: both"
        echo "    topics: \"bench/in/#\""
        echo "    groups: [bench]"
    } >"$TMP/policy.yaml"
    "$BULWARK" policy check "$TMP/policy.yaml" >/dev/null || die "the bench policy is refused"
}

# The bulwarkd worker accepts clients before the auth daemon is up; a login sent then
# would wait for it. LOG, FROM (lines of LOG written before this start), PID.
wait_auth_daemon() {
    local log=$1 from=$2 pid=$3 i
    for ((i = 0; i < 200; i++)); do
        tail -n +$((from + 1)) "$log" | grep -q 'auth daemon ready' && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# start BROKER KEY [auth]: starts a broker instance on a free port; sets PID[KEY],
# PORT[KEY]. With auth, anonymous clients are refused and the bench users log in.
start() {
    local broker=$1 key=$2 mode=${3:-} port conf log pid anon=true from
    [[ $mode == auth ]] && anon=false
    port=$("$BENCH" free-port) || die "no free port"
    log=$TMP/$key.log
    from=0
    [[ -f $log ]] && from=$(wc -l <"$log")
    if [[ $broker == mosquitto ]]; then
        conf=$TMP/$key.conf
        sed -e "s|@PORT@|$port|" -e "s|@LOG@|$log|" -e "s|@INFLIGHT@|$INFLIGHT|" \
            -e "s|@QUEUED@|$QUEUED|" -e "s|@QUEUED_BYTES@|$QUEUED_BYTES|" \
            -e "s|@ANONYMOUS@|$anon|" "$ROOT/bench/mosquitto.conf" >"$conf"
        if [[ $mode == auth ]]; then
            printf 'password_file %s\nacl_file %s\n' "$TMP/mosquitto.passwd" \
                "$TMP/mosquitto.acl" >>"$conf"
        fi
        "${BROKER_CPU[@]}" "$MOSQUITTO" -c "$conf" >>"$log.out" 2>&1 &
    else
        conf=$TMP/$key.yaml
        sed -e "s|@PORT@|$port|" -e "s|@MAX_CONNECTIONS@|$((IDLE_N + 100))|" \
            -e "s|@INFLIGHT@|$INFLIGHT|" -e "s|@QUEUED@|$QUEUED|" \
            -e "s|@QUEUED_BYTES@|$QUEUED_BYTES|" -e "s|@ANONYMOUS@|$anon|" \
            "$ROOT/bench/bulwarkd.yaml" >"$conf"
        if [[ $mode == auth ]]; then
            # The verification cache as built in, written out: connect-auth-cached uses it.
            printf 'policy: %s\nauth:\n  backends: [password]\n%s\n%s\n' \
                "$TMP/policy.yaml" "  verify_cache_size: 10000" "  verify_cache_ttl_s: 300" \
                >>"$conf"
        fi
        # shellcheck disable=SC2086 # BENCH_BULWARKD_ARGS is a list of options
        "${BROKER_CPU[@]}" "$BULWARKD" -c "$conf" $BULWARKD_ARGS >>"$log" 2>&1 &
    fi
    pid=$!
    STARTED+=("$pid")
    if ! wait_port "$port" "$pid" ||
        { [[ $broker == bulwarkd ]] && ! wait_auth_daemon "$log" "$from" "$pid"; }; then
        FAILED=1
        tail -n 5 "$log" "$log.out" 2>/dev/null >&2
        die "$broker ($key) did not start on port $port (log: $log)"
    fi
    PID[$key]=$pid
    PORT[$key]=$port
    MODE[$key]=$mode
}

# set_affinity PID CPULIST: every thread of the broker and of its roles.
set_affinity() {
    local p
    for p in "$1" $(descendants "$1"); do
        taskset -a -p -c "$2" "$p" >/dev/null 2>&1
    done
}

# A broker that crashed is reported and restarted, so one crash costs one sample.
# KEY BROKER
ensure_running() {
    local key=$1 b=$2
    if ! kill -0 "${PID[$key]}" 2>/dev/null; then
        FAILED=1
        note "$key (pid ${PID[$key]}) died: restarting; see $TMP/$key.log"
        stop_broker "${PID[$key]}"
        start "$b" "$key" "${MODE[$key]}"
    fi
}

# The supervisor survives a role that dies (it restarts it), so a live pid is not enough:
# every error or warning bulwarkd logged while serving fails the run. Those logged after
# the supervisor was told to stop (by this script) are only shown.
report_bulwarkd_logs() {
    local f lines
    for f in "$TMP"/bulwarkd*.log; do
        [[ -f $f ]] || continue
        lines=$(awk '/supervisor\[[0-9]+\] info: signal [0-9]+: stopping/ { stopping = 1 }
            /\] (error|warn):/ { print (stopping ? "(stopping) " : "") $0 }' "$f")
        [[ -n $lines ]] || continue
        if grep -qv '^(stopping) ' <<<"$lines"; then
            FAILED=1
            note "$(basename "$f") has errors or warnings ($(wc -l <<<"$lines") line(s)):"
        else
            note "$(basename "$f"): warnings while stopping (not counted as a failure):"
        fi
        head -n 20 <<<"$lines" | sed 's/^/    /' >&2
    done
}

# run_one BROKER SCENARIO ROUND: appends the RESULT lines to $RESULTS.
run_one() {
    local b=$1 s=$2 r=$3
    local key=$b out err rc args=() gen=("${GEN_CPU[@]}") fresh=0
    if [[ $s == idle ]]; then
        # A fresh broker each time: an allocator keeps freed memory, so a broker that has
        # already served connections would show their reuse rather than the growth.
        key=$b-idle-$r
        fresh=1
        start "$b" "$key"
        sleep 0.5 # let every role finish starting before the first reading
        args=(--pid "${PID[$key]}" --connections "$IDLE_N")
    elif [[ $s == connect-auth-cold ]]; then
        # A fresh broker each time, so that no login of an earlier run is remembered.
        key=$b-cold-$r
        fresh=1
        start "$b" "$key" auth
        args=(--users "$AUTH_USERS")
    else
        is_auth "$s" && key=$b-auth
        [[ $s == fanin-q[01]-acl ]] && args=(--users "$AUTH_USERS")
        ensure_running "$key" "$b"
        if ((${#GEN_CPU[@]})); then
            if [[ $s == latency ]]; then
                set_affinity "${PID[$key]}" "$ALL_CPUS"
                gen=()
            else
                set_affinity "${PID[$key]}" 1
            fi
        fi
    fi
    err=$TMP/bench-$b-$s-$r.err
    # shellcheck disable=SC2086 # BENCH_ARGS is a list of options
    out=$(timeout "$RUN_TIMEOUT" "${gen[@]}" "$BENCH" "$s" --port "${PORT[$key]}" \
        "${args[@]}" $EXTRA 2>"$err")
    rc=$?
    if ((fresh)); then
        if ! kill -0 "${PID[$key]}" 2>/dev/null; then
            FAILED=1
            note "$key (pid ${PID[$key]}) died during round $r $s; see $TMP/$key.log"
        fi
        stop_broker "${PID[$key]}"
    fi
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
if ((NEED_AUTH)); then
    make_auth_files
    note "$AUTH_USERS bench users in $TMP/policy.yaml, mosquitto.passwd, mosquitto.acl"
fi
KEYS=()
for b in "${BROKERS[@]}"; do
    KEYS+=("$b")
    ((NEED_LASTING_AUTH)) && KEYS+=("$b-auth")
done
for key in "${KEYS[@]}"; do
    b=${key%-auth}
    warm=(fanin-q0)
    if [[ $key == *-auth ]]; then
        start "$b" "$key" auth
        warm=(fanin-q0-acl --users "$AUTH_USERS")
    else
        start "$b" "$key"
    fi
    if [[ $b == bulwarkd ]]; then
        note "$key: pid ${PID[$key]}, roles: $(descendants "${PID[$key]}" | while read -r c; do
            tr '\0' ' ' <"/proc/$c/cmdline" | grep -o -- '--role [a-z]*' | sed "s/--role /$c=/"
        done | tr '\n' ' ')"
    fi
    # Warm-up (discarded): first-touch page faults and allocator growth.
    "${GEN_CPU[@]}" "$BENCH" "${warm[@]}" --port "${PORT[$key]}" --messages 20000 >/dev/null 2>&1 ||
        note "warm-up of $key failed"
done
note "brokers: $(for key in "${KEYS[@]}"; do echo -n "$key port ${PORT[$key]} "; done)" \
    "${GEN_CPU[*]:+(throughput runs: generator on CPU 0, brokers on CPU 1)}"

for ((r = 1; r <= ROUNDS; r++)); do
    order=("${BROKERS[@]}")
    if ((r % 2 == 0 && ${#BROKERS[@]} == 2)); then order=("${BROKERS[1]}" "${BROKERS[0]}"); fi
    for s in $SCENARIOS; do
        for b in "${order[@]}"; do run_one "$b" "$s" "$r"; done
    done
done

for key in "${KEYS[@]}"; do
    if ! kill -0 "${PID[$key]}" 2>/dev/null; then
        FAILED=1
        note "$key (pid ${PID[$key]}) died; see $TMP/$key.log"
    fi
done
report_bulwarkd_logs

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
    printf "%-19s %-16s %12s %12s %10s  %s\n", "scenario", "metric", "bulwarkd",
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
        printf "%-19s %-16s %12s %12s %10s  %s is better%s\n", p[1], p[2], fmt(b), fmt(m),
            ratio, better[row], mark
    }
    if (short) print "* fewer samples than rounds: some runs failed (see above)"
}' "$RESULTS"

exit "$FAILED"
