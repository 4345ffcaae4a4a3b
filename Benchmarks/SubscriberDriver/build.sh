#!/usr/bin/env bash
# Builds the C subscriber benchmark driver (subscriber_driver.c) and prints the path of the binary.
#
#   Benchmarks/SubscriberDriver/build.sh           # build (only when a source changed) and print the path
#   Benchmarks/SubscriberDriver/build.sh --force   # rebuild even when the binary is up to date
#
# It installs what it needs when missing (Debian: libssl-dev, libprotobuf-c-dev,
# protobuf-c-compiler, pkg-config; as root, or through sudo), generates the C
# protobuf code from Proto/gatehouse/v1/*.proto with protoc-c into
# Benchmarks/SubscriberDriver/.gen/ (gitignored), and compiles
# Benchmarks/SubscriberDriver/.gen/subscriber_driver. Only the binary's path goes
# to stdout, so a script can run "$(Benchmarks/SubscriberDriver/build.sh)".
#
# Then, against a running server (--max-connections above the largest count; its pid for CPU and RSS):
#   ulimit -n 20000; .gen/subscriber_driver --config DATA_DIR/admin.conf --counts 1000,10000 --server-pid PID
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
GEN="$HERE/.gen"
BIN="$GEN/subscriber_driver"

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

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
inputs=("$HERE/subscriber_driver.c" "$HERE/build.sh" "$ROOT"/Proto/gatehouse/v1/*.proto)
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

# 3. Generated protobuf-c code, from scratch each time: the messages the driver
# uses (components.proto, which imports features.proto, and errors.proto).
rm -rf "$GEN"
mkdir -p "$GEN/proto"
protos=(gatehouse/v1/components.proto gatehouse/v1/features.proto gatehouse/v1/errors.proto)
(cd "$ROOT/Proto" && protoc-c --proto_path=. --c_out="$GEN/proto" "${protos[@]}")

# protoc-c (1.4.1) names each member of a service's function table after its
# method in lower case, so Components/Register becomes a struct member named
# `register`, a C keyword, and components.pb-c.h does not compile. The driver
# uses the messages only, never the service table; renaming that one member
# (and the macro that fills it) to `register_` in the generated header leaves
# every message, descriptor and function name as protoc-c made them. Proto/
# stays untouched. Fail loudly if protoc-c's output no longer has this shape.
header="$GEN/proto/gatehouse/v1/components.pb-c.h"
grep -q '(\*register)(' "$header" || { echo "build.sh: no \`register\` member in $header to rename; has protoc-c changed?" >&2; exit 1; }
sed -i -e 's/(\*register)(/(*register_)(/' -e 's/function_prefix__ ## register,/function_prefix__ ## register_,/' "$header"
if grep -qw 'register' "$header"; then
    echo "build.sh: $header still uses the C keyword \`register\`:" >&2
    grep -nw 'register' "$header" >&2
    exit 1
fi

sources=("$HERE/subscriber_driver.c")
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
