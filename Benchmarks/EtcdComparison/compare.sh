#!/usr/bin/env bash
# Gatehouse against etcd 3.4 on the same machine, in the same run: durable
# writes per second, p50/p99 latency and server CPU per write, at the same
# numbers of concurrent writers over mutual TLS, in interleaved rounds.
# Prints figures and the ratio per round; asserts nothing.
#
#   Benchmarks/EtcdComparison/compare.sh --etcd-benchmark PATH [--writers 1,64,256]
#       [--rounds 3] [--seconds 6] [--conns 1]
#
# Why: the issues quote etcd's figures as measured once on this machine kind,
# but the machine is shared and the same binary's throughput moves by 30% or
# more between hours. A ratio measured in one run is what can be compared.
#
# Each round runs, for each writer count, a fresh Gatehouse (release build,
# the Kubernetes example catalog imported, driven by
# Benchmarks/ToggleDriver: one instance override toggled per call, each
# writer on its own connection), then a fresh etcd (Debian's etcd-server,
# TLS with client certificates required, the same development PKI, data on
# the same disk) driven by etcd's own Go benchmark tool: `benchmark put`
# with --clients = writers and --conns (default 1, the tool's default and the
# faster setting here), 8-byte keys and values. Both acknowledge a write only
# once it is fsynced.
#
# etcd's benchmark tool is not in Debian's binary packages and is not part of
# this repository: build `tools/benchmark` from etcd 3.4's source yourself and
# pass its path. The script installs etcd-server and the driver's build
# dependencies when they are missing (apt-get, as root), and builds the
# release `gatehouse`/`gatectl` and the driver when they are missing.
#
# Columns: writes/s, p50 and p99 in ms, the server's CPU (utime + stime from
# /proc) and the client's CPU in µs per write. etcd's tool spends more CPU
# per write than the C driver, and on a 2-core machine the client's CPU is
# CPU the server does not get: read the server-CPU column too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }

ETCD_BENCHMARK=""
WRITERS="1,64,256"
ROUNDS=3
SECONDS_PER_RUN=6
CONNS=1
while [ $# -gt 0 ]; do
    case "$1" in
        --etcd-benchmark) ETCD_BENCHMARK="$2"; shift 2 ;;
        --writers) WRITERS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
        --conns) CONNS="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
for number in "$ROUNDS" "$SECONDS_PER_RUN" "$CONNS" ${WRITERS//,/ }; do
    [[ "$number" =~ ^[1-9][0-9]*$ ]] || { echo "not a whole number above 0: $number (see --help)" >&2; exit 2; }
done
if [ -z "$ETCD_BENCHMARK" ] || [ ! -x "$ETCD_BENCHMARK" ]; then
    echo "--etcd-benchmark PATH: the path of etcd 3.4's tools/benchmark binary is required (see --help)" >&2
    exit 2
fi

if ! command -v etcd >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "etcd is missing: apt-get install -y etcd-server (as root)" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server >/dev/null
fi
for tool in curl openssl; do
    command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done
[ -x .build/release/gatehouse ] || swift build -c release --product gatehouse >&2
[ -x .build/release/gatectl ] || swift build -c release --product gatectl >&2
DRIVER="$(Benchmarks/ToggleDriver/build.sh)"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { local stat; stat="$(cat "/proc/$1/stat")"; stat="${stat##*) }"; set -- $stat; echo $(( ${12} + ${13} )); }
HZ="$(getconf CLK_TCK)"

# One Gatehouse run: prints "writes/s p50 p99 server_cpu client_cpu".
run_gatehouse() {
    local writers="$1" data="$WORK/gh-$RANDOM" port
    port="$(free_port)"
    .build/release/gatehouse serve --data-dir "$data" --listen "127.0.0.1:$port" --log-level warning \
        >"$WORK/gh.out" 2>"$WORK/gh.err" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 100); do grep -q "listening on" "$WORK/gh.out" 2>/dev/null && break; sleep 0.1; done
    .build/release/gatectl catalog import Examples/kubernetes-catalog.yaml --config "$data/admin.conf" >/dev/null
    "$DRIVER" --config "$data/admin.conf" --writers "$writers" --seconds "$SECONDS_PER_RUN" --server-pid "$pid" \
        | awk '$1 ~ /^[0-9]+$/ && NF >= 6 { print $2, $3, $4, $5, $6 }'
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$data"
}

# The PKI etcd uses: Gatehouse's development certificates (EC P-256, the
# server's valid for 127.0.0.1), written once by a throwaway server.
make_pki() {
    .build/release/gatehouse serve --data-dir "$WORK/pki-server" --listen 127.0.0.1:0 --log-level warning \
        >"$WORK/pki.out" 2>"$WORK/pki.err" &
    local pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$WORK/pki.out" 2>/dev/null && break; sleep 0.1; done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    PKI="$WORK/pki-server/pki"
}

# One etcd run of about SECONDS_PER_RUN: prints "writes/s p50 p99 server_cpu client_cpu".
# The tool runs a number of puts, not a time: a first guess, then as many as
# the previous run at this writer count did in SECONDS_PER_RUN.
declare -A ETCD_TOTAL
run_etcd() {
    local writers="$1" data="$WORK/etcd-$RANDOM" client_port peer_port
    client_port="$(free_port)"; peer_port="$(free_port)"
    local url="https://127.0.0.1:$client_port"
    etcd --name bench --data-dir "$data" \
        --listen-client-urls "$url" --advertise-client-urls "$url" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "bench=http://127.0.0.1:$peer_port" --initial-cluster-state new \
        --cert-file "$PKI/server.crt" --key-file "$PKI/server.key" \
        --client-cert-auth --trusted-ca-file "$PKI/ca.crt" >"$WORK/etcd.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local ready=0
    for _ in $(seq 300); do
        if curl -s --max-time 1 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
            "$url/health" 2>/dev/null | grep -q '"health":"true"'; then ready=1; break; fi
        sleep 0.1
    done
    [ "$ready" = 1 ] || { echo "etcd did not become ready; its log:" >&2; tail -20 "$WORK/etcd.log" >&2; exit 1; }
    local total="${ETCD_TOTAL[$writers]:-$(( writers == 1 ? 1500 * SECONDS_PER_RUN : 6000 * SECONDS_PER_RUN ))}"
    local before after
    before="$(cpu_ticks "$pid")"
    TIMEFORMAT="%U %S"
    { time "$ETCD_BENCHMARK" --endpoints "$url" --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
        --clients "$writers" --conns "$CONNS" --precise put --total "$total" --key-size 8 --val-size 8 \
        >"$WORK/bench.out" 2>"$WORK/bench.err"; } 2>"$WORK/bench.time"
    after="$(cpu_ticks "$pid")"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$data"
    grep -q 'Requests/sec' "$WORK/bench.out" || { echo "etcd's benchmark failed:" >&2; cat "$WORK/bench.err" >&2; exit 1; }
    awk -v total="$total" -v ticks="$((after - before))" -v hz="$HZ" -v client="$(awk '{ print $1 + $2 }' "$WORK/bench.time")" '
        /Requests\/sec:/ { rate = $2 }
        /^  50% in /     { p50 = $3 * 1000 }
        /^  99% in /     { p99 = $3 * 1000 }
        END { printf "%.0f %.2f %.2f %.0f %.0f\n", rate, p50, p99, ticks / hz / total * 1e6, client / total * 1e6 }' "$WORK/bench.out"
    ETCD_TOTAL[$writers]="$(awk -v s="$SECONDS_PER_RUN" '/Requests\/sec:/ { printf "%d", $2 * s }' "$WORK/bench.out")"
}

make_pki
echo "Gatehouse ($(git -C "$ROOT" rev-parse --short HEAD)) against etcd $(etcd --version | sed -n 's/^etcd Version: //p'), interleaved, ${SECONDS_PER_RUN}s per run"
printf '%-6s %-8s %-10s %10s %8s %8s %12s %12s\n' round writers server 'writes/s' 'p50 ms' 'p99 ms' 'server µs/w' 'client µs/w'
declare -A RATIOS
IFS=, read -r -a COUNTS <<<"$WRITERS"
for round in $(seq "$ROUNDS"); do
    for writers in "${COUNTS[@]}"; do
        # Not through a pipe or $(...): run_etcd keeps its calibration in
        # this shell, and an error in either stops the script.
        run_gatehouse "$writers" >"$WORK/result"
        read -r gh_rate gh_p50 gh_p99 gh_cpu gh_client <"$WORK/result"
        run_etcd "$writers" >"$WORK/result"
        read -r et_rate et_p50 et_p99 et_cpu et_client <"$WORK/result"
        printf '%-6s %-8s %-10s %10s %8s %8s %12s %12s\n' "$round" "$writers" gatehouse "$gh_rate" "$gh_p50" "$gh_p99" "$gh_cpu" "$gh_client"
        printf '%-6s %-8s %-10s %10s %8s %8s %12s %12s\n' "$round" "$writers" etcd "$et_rate" "$et_p50" "$et_p99" "$et_cpu" "$et_client"
        RATIOS[$writers]+="$(awk -v a="$gh_rate" -v b="$et_rate" 'BEGIN { printf "%.2f ", a / b }')"
    done
done
echo
echo "Gatehouse's writes/s over etcd's, per round (median):"
for writers in "${COUNTS[@]}"; do
    echo "  $writers writers: ${RATIOS[$writers]}($(echo "${RATIOS[$writers]}" | tr ' ' '\n' | sed '/^$/d' | sort -n \
        | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'))"
done
