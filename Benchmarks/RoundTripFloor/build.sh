#!/usr/bin/env bash
# Builds the round-trip floor server (roundtrip_floor.c) and prints the path of the binary.
#
#   Benchmarks/RoundTripFloor/build.sh
#
# The protobuf-c code it needs (features.proto, errors.proto) is exactly what the
# toggle driver uses, so it runs Benchmarks/ToggleDriver/build.sh first (which installs
# libssl-dev, libprotobuf-c-dev, protobuf-c-compiler and pkg-config when missing, and
# generates that code into Benchmarks/ToggleDriver/.gen/proto), installs libsqlite3-dev
# when missing (Scripts/install-deps.sh --runtime), and compiles this server with
# Benchmarks/DriverCommon/driver_common.c (frame constants, buffers, checks) and the
# generated messages into Benchmarks/RoundTripFloor/.gen/roundtrip_floor. Only the
# binary's path goes to stdout.
#
# Then, with a Gatehouse data directory D (for D/pki/) and a copy of D/admin.conf
# whose `server:` is 127.0.0.1:7555:
#   .gen/roundtrip_floor --data-dir D --listen 127.0.0.1:7555 --store none      # or --store DIR
#   Benchmarks/ToggleDriver/.gen/toggle_driver --config COPY --writers 1,16,64,256 --seconds 5 --server-pid PID
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
case "${1:-}" in
    "") ;;
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
esac

"$ROOT/Benchmarks/ToggleDriver/build.sh" >/dev/null
"$ROOT/Scripts/install-deps.sh" --runtime >&2

PROTO="$ROOT/Benchmarks/ToggleDriver/.gen/proto"
GEN="$HERE/.gen"
BIN="$GEN/roundtrip_floor"
mkdir -p "$GEN"

read -r -a cflags <<<"$(pkg-config --cflags openssl libprotobuf-c sqlite3)"
read -r -a libs <<<"$(pkg-config --libs openssl libprotobuf-c sqlite3)"
cc -std=c11 -O2 -Wall -Wextra -pthread "${cflags[@]}" -I"$ROOT/Benchmarks/DriverCommon" -I"$PROTO" \
    -o "$BIN.tmp" "$HERE/roundtrip_floor.c" "$ROOT/Benchmarks/DriverCommon/driver_common.c" \
    "$PROTO/gatehouse/v1/features.pb-c.c" "$PROTO/gatehouse/v1/errors.pb-c.c" "${libs[@]}"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
