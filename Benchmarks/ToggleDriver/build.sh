#!/usr/bin/env bash
# Builds the C toggle benchmark driver (toggle_driver.c) and prints the path of the binary.
#
#   Benchmarks/ToggleDriver/build.sh           # build (only when a source changed) and print the path
#   Benchmarks/ToggleDriver/build.sh --force   # rebuild even when the binary is up to date
#
# It installs what it needs when missing (Debian: libssl-dev, libprotobuf-c-dev,
# protobuf-c-compiler, pkg-config; as root, or through sudo), generates the C
# protobuf code from Proto/gatehouse/v1/*.proto with protoc-c into
# Benchmarks/ToggleDriver/.gen/ (gitignored), and compiles
# Benchmarks/ToggleDriver/.gen/toggle_driver. Only the binary's path goes to
# stdout, so a script can run "$(Benchmarks/ToggleDriver/build.sh)".
#
# Then, against a running server (the admin config it wrote, its pid for server CPU):
#   .gen/toggle_driver --config DATA_DIR/admin.conf --writers 1,16,64,256 --seconds 10 --server-pid PID
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
GEN="$HERE/.gen"
BIN="$GEN/toggle_driver"

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

FORCE=0
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --force) FORCE=1; shift ;;
        *) usage >&2; echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# 1. Tools and libraries (idempotent, quiet when everything is there).
packages=(libssl-dev libprotobuf-c-dev protobuf-c-compiler pkg-config)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "build.sh: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Up to date? The binary depends on the driver's source, this script and the protos.
inputs=("$HERE/toggle_driver.c" "$HERE/build.sh" "$ROOT"/Proto/gatehouse/v1/*.proto)
if [ "$FORCE" -eq 0 ] && [ -x "$BIN" ]; then
    stale=0
    for input in "${inputs[@]}"; do
        [ "$input" -nt "$BIN" ] && stale=1
    done
    if [ "$stale" -eq 0 ]; then
        echo "$BIN"
        exit 0
    fi
fi

# 3. Generated protobuf-c code, from scratch each time: the messages the driver uses
# (features.proto, errors.proto). Not components.proto: for its service's Register
# method protoc-c 1.4.1 emits a struct member named `register`, a C keyword.
rm -rf "$GEN"
mkdir -p "$GEN/proto"
protos=(gatehouse/v1/features.proto gatehouse/v1/errors.proto)
(cd "$ROOT/Proto" && protoc-c --proto_path=. --c_out="$GEN/proto" "${protos[@]}")
sources=("$HERE/toggle_driver.c")
for proto in "${protos[@]}"; do
    sources+=("$GEN/proto/${proto%.proto}.pb-c.c")
done

# 4. Compile: the driver and the generated messages, one binary.
read -r -a cflags <<<"$(pkg-config --cflags openssl libprotobuf-c)"
read -r -a libs <<<"$(pkg-config --libs openssl libprotobuf-c)"
cc -std=c11 -O2 -Wall -Wextra "${cflags[@]}" -I"$GEN/proto" \
    -o "$BIN.tmp" "${sources[@]}" "${libs[@]}"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
