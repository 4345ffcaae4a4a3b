#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz/build.py) and fuzzes for SECONDS in all
# (default 30): half on the frame parser + server connection state machine,
# half shared by the request decoders of the server's methods, one campaign
# per method. Seeds come from Tests/Conformance/frames.json (Tests/Fuzz/seeds.py);
# what the fuzzers learn is kept in .build/fuzz/corpus for the next run.
#
#   Tests/Fuzz/run.sh [SECONDS]
#
# Prints executions per target and in all; exits 1 if any target crashed,
# with the input that did it in .build/fuzz/crashes/ (rerun one with
# `.build/fuzz/frames-fuzzer FILE`, or GATEHOUSE_FUZZ_METHOD=<path>
# .build/fuzz/decoders-fuzzer FILE).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
    echo "Tests/Fuzz/run.sh: SECONDS must be a whole number, not '$seconds'" >&2
    exit 2
fi

swift build --product gatehouse 2>&1 | tail -1
python3 Tests/Fuzz/build.py | grep -v '^+' || true
[[ -x .build/fuzz/frames-fuzzer && -x .build/fuzz/decoders-fuzzer ]] || { echo "Tests/Fuzz/run.sh: the build failed" >&2; exit 1; }

work=.build/fuzz
mapfile -t methods < <(.build/fuzz/decoders-fuzzer --list)
rm -rf "$work/seeds"
python3 Tests/Fuzz/seeds.py "$work/seeds" "${methods[@]}"
mkdir -p "$work/corpus" "$work/crashes" "$work/logs"

# Half the time for the frames; the rest shared by the methods, at least 1 s each.
frame_seconds=$(( seconds / 2 > 1 ? seconds / 2 : 1 ))
method_seconds=$(( (seconds - frame_seconds) / ${#methods[@]} ))
(( method_seconds >= 1 )) || method_seconds=1

total_execs=0
passed=0
failed=0
started=$SECONDS

# fuzz NAME SECONDS SEEDS BINARY [ENV=VALUE]
fuzz() {
    local name="$1" time="$2" seeds="$3" binary="$4"
    shift 4
    local corpus="$work/corpus/$name" log="$work/logs/$name.log"
    mkdir -p "$corpus"
    local status=0
    env "$@" "$binary" -max_total_time="$time" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -artifact_prefix="$work/crashes/$name-" "$corpus" "$seeds" >"$log" 2>&1 || status=$?
    local execs rate
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -1)
    rate=$(awk '/stat::average_exec_per_sec/ { print $2 }' "$log" | tail -1)
    total_execs=$(( total_execs + ${execs:-0} ))
    if (( status == 0 )); then
        passed=$(( passed + 1 ))
        printf '  %-40s %10s execs  %7s/s  ok\n' "$name" "${execs:-0}" "${rate:-0}"
    else
        failed=$(( failed + 1 ))
        printf '  %-40s %10s execs  %7s/s  CRASH (exit %s): see %s\n' "$name" "${execs:-0}" "${rate:-0}" "$status" "$log"
        grep -E 'ERROR|Fatal error|Test unit written|panic|precondition' "$log" | head -5 | sed 's/^/      /'
    fi
}

echo "fuzzing ${seconds}s: frames ${frame_seconds}s, ${#methods[@]} request decoders ${method_seconds}s each"
fuzz frames "$frame_seconds" "$work/seeds/frames" .build/fuzz/frames-fuzzer
for method in "${methods[@]}"; do
    name="${method#/}"
    name="${name//\//_}"
    fuzz "$name" "$method_seconds" "$work/seeds/decoders/$name" .build/fuzz/decoders-fuzzer GATEHOUSE_FUZZ_METHOD="$method"
done

echo "fuzz: $(( passed + failed )) targets, $total_execs executions in $(( SECONDS - started ))s, $failed crashed"
echo "fuzz: $passed passed, $failed failed"
(( failed == 0 ))
