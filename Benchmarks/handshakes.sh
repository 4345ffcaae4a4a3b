#!/usr/bin/env bash
# Full mutual-TLS handshakes per second: gatehouse against `openssl s_server`
# with the same certificates, driven by `openssl s_time -new`, in one run so
# the ratio is meaningful on a shared machine. Prints figures; asserts nothing.
#
#   Benchmarks/handshakes.sh [SECONDS_PER_ROUND] [ROUNDS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_ROUND="${1:-10}"
ROUNDS="${2:-2}"
BIN="${GATEHOUSE_BIN:-$ROOT/.build/release/gatehouse}"
[ -x "$BIN" ] || { echo "build first: swift build -c release" >&2; exit 1; }

WORK="$(mktemp -d)"
cleanup() { kill "${GH_PID:-}" "${SSL_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 --log-level warning >"$WORK/gh.out" 2>"$WORK/gh.err" &
GH_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/gh.out" 2>/dev/null && break; sleep 0.1; done
GH_PORT="$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/gh.out")"
PKI="$WORK/data/pki"

SSL_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
openssl s_server -quiet -accept "127.0.0.1:$SSL_PORT" -cert "$PKI/server.crt" -key "$PKI/server.key" \
    -CAfile "$PKI/ca.crt" -Verify 1 -alpn gatehouse/1 -naccept 100000000 >/dev/null 2>&1 &
SSL_PID=$!
sleep 0.5

measure() {
    openssl s_time -connect "127.0.0.1:$1" -new -time "$SECONDS_PER_ROUND" \
        -cert "$PKI/admin.crt" -key "$PKI/admin.key" -CAfile "$PKI/ca.crt" 2>/dev/null \
        | sed -n 's/^\([0-9]*\) connections in \([0-9.]*\)s;.*/\1 \2/p' | head -1
}

echo "mTLS full handshakes/s (openssl s_time -new, ${SECONDS_PER_ROUND}s x ${ROUNDS} rounds, interleaved)"
gh_total=0; ssl_total=0
for round in $(seq "$ROUNDS"); do
    read -r gh_n gh_s < <(measure "$GH_PORT")
    read -r ssl_n ssl_s < <(measure "$SSL_PORT")
    gh_rate=$(python3 -c "print(round($gh_n/$gh_s, 1))")
    ssl_rate=$(python3 -c "print(round($ssl_n/$ssl_s, 1))")
    echo "round $round: gatehouse $gh_rate/s   openssl s_server $ssl_rate/s"
    gh_total=$(python3 -c "print($gh_total + $gh_rate)"); ssl_total=$(python3 -c "print($ssl_total + $ssl_rate)")
done
python3 -c "g=$gh_total/$ROUNDS; s=$ssl_total/$ROUNDS; print(f'mean: gatehouse {g:.1f}/s, openssl s_server {s:.1f}/s, ratio {g/s:.2f}x')"
