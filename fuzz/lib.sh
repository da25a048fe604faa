# lib.sh: shared by fuzz/smoke, fuzz/campaign and fuzz/triage (sourced, not run).
# shellcheck shell=bash

FUZZ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ_BUILD="$FUZZ_ROOT/build/fuzz"

# The harness list lives in fuzz/fuzz.mk only.
fuzz_harnesses() {
    sed -n 's/^FUZZ_HARNESSES := //p' "$FUZZ_ROOT/fuzz/fuzz.mk"
}

fuzz_known() {
    local h
    for h in $(fuzz_harnesses); do [ "$h" = "$1" ] && return 0; done
    return 1
}

fuzz_dict() {
    case "$1" in
    ipc_decode) echo "$FUZZ_ROOT/fuzz/ipc.dict" ;;
    config) echo "$FUZZ_ROOT/fuzz/config.dict" ;;
    policy) echo "$FUZZ_ROOT/fuzz/policy.dict" ;;
    jwt) echo "$FUZZ_ROOT/fuzz/jwt.dict" ;;
    *) echo "$FUZZ_ROOT/fuzz/mqtt.dict" ;;
    esac
}

# Unattended AFL++: no UI, no CPU pinning (cores are shared with other jobs), no
# core_pattern or CPU governor changes (not possible in CI containers).
fuzz_afl_env() {
    export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
    export AFL_NO_AFFINITY=1 AFL_FAST_CAL=1
}

# Per-execution time limit in ms: anything slower is a hang.
FUZZ_EXEC_TIMEOUT=${FUZZ_EXEC_TIMEOUT:-2000}

# Prints the crash and hang files under an AFL++ output directory (one per line).
fuzz_findings() {
    find "$1" -path '*/crashes*/*' -type f ! -name README.txt 2>/dev/null
    find "$1" -path '*/hangs*/*' -type f 2>/dev/null
}

# "key : value" from a fuzzer_stats file.
fuzz_stat() {
    sed -n "s/^$2 *: *//p" "$1" 2>/dev/null | head -n1
}

# AFL++ 4.04c can leave its CmpLog forkserver behind, stopped and re-parented to init, when
# an instance exits (it runs in a session of its own, so killing the instance's process
# group misses it). Kills leftovers of exactly this binary whose parent is gone.
fuzz_reap_orphans() {
    local exe=$1 p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$exe" ] || continue
        [ "$(cut -d' ' -f4 "$p/stat" 2>/dev/null)" = 1 ] || continue
        kill -KILL "${p#/proc/}" 2>/dev/null
    done
}
