#!/usr/bin/env bash
# What a canary rollout's step costs beside a plain component-wide toggle,
# on the same subscribed fleet, in one run against a fresh release server:
# records written per transition (from the audit trail), server CPU (from
# /proc/PID/stat), and p50/p99/max time from each commit until every instance
# it changes has its push. Prints figures; asserts nothing.
#
#   Benchmarks/RolloutStep/run.sh [--instances 10000] [--toggles 3] [--steps 1,10,50,100]
#       [-- SERVER-FLAGS...]
#
# It builds the release `gatehouse` and `gatehouse-load` (always: a stale
# binary would measure another build), starts `gatehouse serve` on a free
# loopback port with a fresh data directory and --max-connections above the
# fleet, raises the file-descriptor limit, and runs `gatehouse-load
# rollout-step` (Benchmarks/LoadGenerator/RolloutStepBenchmark.swift): N
# subscribers of component bench-rollout, each on its own mTLS connection and
# acking every revision at once; then the toggles; then one Rollouts/Start of
# BenchRollout with the given percent steps and zero bake, widened by the
# server's own rollout driver. Flags after `--` go to `gatehouse serve`.
#
# The load generator is Swift and spends CPU on every message it receives; on
# a 2-core machine that CPU is taken from the server, so absolute latencies
# are inflated alike for the toggle and the steps (compare rows, not machines).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

INSTANCES=10000
LOAD_ARGS=()
SERVER_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --instances) INSTANCES="$2"; shift 2 ;;
        --toggles|--steps|--timeout|--connect-concurrency) LOAD_ARGS+=("$1" "$2"); shift 2 ;;
        --) shift; SERVER_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

swift build -c release --product gatehouse >&2
swift build -c release --product gatehouse-load >&2
# Each process (server, load generator) holds one socket per instance.
want=$(( INSTANCES + 1024 )); hard="$(ulimit -Hn)"
[ "$hard" = unlimited ] || [ "$hard" -ge "$want" ] || { echo "ulimit -Hn is $hard; $want file descriptors are needed" >&2; exit 1; }
ulimit -n "$want"

WORK="$(mktemp -d)"
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
.build/release/gatehouse serve --data-dir "$WORK/data" --listen "127.0.0.1:$port" --log-level warning \
    --max-connections $(( INSTANCES + 100 )) "${SERVER_ARGS[@]}" >"$WORK/server.out" 2>"$WORK/server.err" &
PID=$!
for _ in $(seq 200); do grep -q "listening on" "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$WORK/server.out" || { echo "the server did not start:" >&2; cat "$WORK/server.err" >&2; exit 1; }

echo "Gatehouse $(git rev-parse --short HEAD), $INSTANCES instances, $(date -u +%Y-%m-%dT%H:%MZ)"
.build/release/gatehouse-load rollout-step --config "$WORK/data/admin.conf" --instances "$INSTANCES" \
    --server-pid "$PID" "${LOAD_ARGS[@]}"
