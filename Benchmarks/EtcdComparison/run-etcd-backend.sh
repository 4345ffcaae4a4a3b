#!/usr/bin/env bash
# Gatehouse on the etcd backend, in one run on one local 3-member etcd cluster
# (Scripts/etcd-cluster.sh: TLS, client certificates required, data on this
# machine's disk). Prints figures; asserts nothing.
#
#   Benchmarks/EtcdComparison/run-etcd-backend.sh [--writers 64] [--seconds 10]
#       [--subscribers 10000] [--rounds 10]
#
#   1. writes: --writers concurrent writers toggling instance overrides through
#      one `gatehouse serve --store etcd` (Benchmarks/ToggleDriver, one mTLS
#      connection each, closed loop): writes/s, p50, p99, server CPU per write;
#   2. etcd's own put rate at the same number of writers on the same cluster
#      (`etcd-put-bench`: Puts of 8-byte keys and values over Gatehouse's own
#      etcd client, one HTTP/2 connection, --seconds): puts/s, p50, p99;
#   3. fan-out: --subscribers subscribers spread round-robin over three
#      replicas on that cluster, against the same number on one SQLite server
#      (`gatehouse-load subscribers --spread`): each of --rounds toggles is one
#      Set through the first replica, and the time until every subscriber has
#      its delta, p50/p99/max from the Set's ack; server CPU summed over the
#      replicas.
#
# A write through Gatehouse is one etcd Txn per group commit (compare the
# gate revision key, put it, the record and the audit entry); etcd's put is
# one key. Both are acknowledged once a majority of members fsynced them.
#
# Builds the release `gatehouse`, `gatectl`, `gatehouse-load`,
# `etcd-put-bench` and the C toggle driver every run (a stale binary would
# measure another build), raises the file-descriptor limit for the
# subscribers, and removes everything it started and wrote on exit.
# On 2 shared cores the load generators' CPU is taken from the servers and
# from etcd: compare rows of one run, not machines.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }

WRITERS=64
SECONDS_PER_RUN=10
SUBSCRIBERS=10000
ROUNDS=10
while [ $# -gt 0 ]; do
    case "$1" in
        --writers) WRITERS="$2"; shift 2 ;;
        --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
        --subscribers) SUBSCRIBERS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
for number in "$WRITERS" "$SECONDS_PER_RUN" "$SUBSCRIBERS" "$ROUNDS"; do
    [[ "$number" =~ ^[1-9][0-9]*$ ]] || { echo "not a whole number above 0: $number (see --help)" >&2; exit 2; }
done

for product in gatehouse gatectl gatehouse-load etcd-put-bench; do
    swift build -c release --product "$product" >&2
done
DRIVER="$(Benchmarks/ToggleDriver/build.sh)"
BIN=.build/release

want=$(( SUBSCRIBERS + 1024 )); hard="$(ulimit -Hn)"
[ "$hard" = unlimited ] || [ "$hard" -ge "$want" ] || { echo "ulimit -Hn is $hard; $want file descriptors are needed" >&2; exit 1; }
ulimit -n "$want"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    Scripts/etcd-cluster.sh stop "$WORK/etcd" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# A base port N with N..N+5 free: other etcds may run on this machine.
base_port() {
    python3 - <<'EOF'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 45000)
    try:
        for port in range(base, base + 6):
            s = socket.socket(); s.bind(("127.0.0.1", port)); s.close()
    except OSError:
        continue
    print(base); break
EOF
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

Scripts/etcd-cluster.sh start "$WORK/etcd" --base-port "$(base_port)" >"$WORK/etcd.out"
read -r -a ETCD_FLAGS <<<"$(sed -n 's/^gatehouse serve flags: //p' "$WORK/etcd.out")"
ENDPOINTS="$(sed -n 's/^.*client endpoints \(.*\)$/\1/p' "$WORK/etcd.out")"
PKI="$WORK/etcd/pki"

# start_server NAME [FLAGS...]: a release server on a free port; sets SERVER_PID and SERVER_ADDR.
start_server() {
    local name="$1"; shift
    local port; port="$(free_port)"
    "$BIN/gatehouse" serve --data-dir "$WORK/$name" --listen "127.0.0.1:$port" --log-level warning \
        --max-connections $(( SUBSCRIBERS + 100 )) "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 300); do grep -q "listening on" "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
    grep -q "listening on" "$WORK/$name.out" || { echo "server $name did not start:" >&2; tail -20 "$WORK/$name.err" >&2; exit 1; }
    SERVER_ADDR="127.0.0.1:$port"
}

# A replica over the cluster; B and C get A's development PKI and policy, so one admin config serves all.
start_replica() {
    local name="$1"
    if [ "$name" != A ]; then
        mkdir -p "$WORK/$name"
        cp -a "$WORK/A/pki" "$WORK/$name/pki"
        cp -a "$WORK/A/policy.yaml" "$WORK/$name/policy.yaml"
    fi
    start_server "$name" "${ETCD_FLAGS[@]}" --etcd-prefix /bench/ --server-id "$name"
}

echo "Gatehouse $(git rev-parse --short HEAD) on etcd $(etcd --version | sed -n 's/^etcd Version: //p') (3 members, TLS, loopback), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== writes: $WRITERS writers, ${SECONDS_PER_RUN}s"
start_replica A
A_PID="$SERVER_PID"; A_ADDR="$SERVER_ADDR"
"$BIN/gatectl" catalog import Examples/kubernetes-catalog.yaml --config "$WORK/A/admin.conf" >/dev/null
"$DRIVER" --config "$WORK/A/admin.conf" --writers "$WRITERS" --seconds "$SECONDS_PER_RUN" --server-pid "$A_PID" \
    | sed 's/^/gatehouse (etcd backend)  /'
"$BIN/etcd-put-bench" --endpoints "$ENDPOINTS" --ca "$PKI/ca.crt" --cert "$PKI/gatehouse.crt" --key "$PKI/gatehouse.key" \
    --writers "$WRITERS" --seconds "$SECONDS_PER_RUN" | sed 's/^/etcd put (etcd-put-bench)  /'

echo
echo "== fan-out: $SUBSCRIBERS subscribers, $ROUNDS changes"
start_replica B
B_PID="$SERVER_PID"; B_ADDR="$SERVER_ADDR"
start_replica C
C_PID="$SERVER_PID"; C_ADDR="$SERVER_ADDR"
echo "3 replicas over etcd (subscribers spread over $A_ADDR, $B_ADDR, $C_ADDR; Sets through $A_ADDR):"
"$BIN/gatehouse-load" subscribers --config "$WORK/A/admin.conf" --counts "$SUBSCRIBERS" --rounds "$ROUNDS" \
    --spread "$A_ADDR,$B_ADDR,$C_ADDR" --server-pid "$A_PID" --server-pid "$B_PID" --server-pid "$C_PID"
for pid in "$A_PID" "$B_PID" "$C_PID"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done

start_server sqlite
echo "1 server on SQLite ($SERVER_ADDR):"
"$BIN/gatehouse-load" subscribers --config "$WORK/sqlite/admin.conf" --counts "$SUBSCRIBERS" --rounds "$ROUNDS" \
    --server-pid "$SERVER_PID"
