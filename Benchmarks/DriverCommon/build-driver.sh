#!/usr/bin/env bash
# Builds one of the C benchmark drivers and prints the path of its binary; the
# body of Benchmarks/ToggleDriver/build.sh and Benchmarks/SubscriberDriver/build.sh.
#
#   Benchmarks/DriverCommon/build-driver.sh toggle_driver [--force]
#   Benchmarks/DriverCommon/build-driver.sh subscriber_driver [--force]
#
# It installs what it needs when missing (Scripts/install-deps.sh --c-drivers:
# libssl-dev, libprotobuf-c-dev, protobuf-c-compiler, pkg-config), generates the C
# protobuf code the driver uses from Proto/gatehouse/v1/*.proto with protoc-c
# into the driver's .gen/ (gitignored), and compiles the driver with
# Benchmarks/DriverCommon/driver_common.c into .gen/<driver>, rebuilding only
# when a source changed (or with --force). Only the binary's path goes to
# stdout; --help prints the help of the driver's own build.sh.
set -euo pipefail
COMMON="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$COMMON/../.." && pwd)"

# The drivers: where each lives and the protos whose messages it uses.
driver="${1:-}"
case "$driver" in
    toggle_driver)
        HERE="$ROOT/Benchmarks/ToggleDriver"
        # Not components.proto: the toggle driver needs none of its messages.
        protos=(gatehouse/v1/features.proto gatehouse/v1/errors.proto)
        ;;
    subscriber_driver)
        HERE="$ROOT/Benchmarks/SubscriberDriver"
        # components.proto, which imports features.proto, and errors.proto.
        protos=(gatehouse/v1/components.proto gatehouse/v1/features.proto gatehouse/v1/errors.proto)
        ;;
    -h|--help)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
        echo "build-driver.sh: unknown driver ${driver:-(none)}; expected toggle_driver or subscriber_driver" >&2
        exit 2
        ;;
esac
shift
ENTRY="$HERE/build.sh"
GEN="$HERE/.gen"
BIN="$GEN/$driver"

# The driver's build.sh help: its leading comment block, without the shebang.
usage() { sed -n '2,/^[^#]/p' "$ENTRY" | sed '$d' | sed 's/^# \{0,1\}//'; }

FORCE=0
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --force) FORCE=1; shift ;;
        *) usage >&2; echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# 1. Tools and libraries (idempotent, quiet when everything is there).
"$ROOT/Scripts/install-deps.sh" --c-drivers >&2

# 2. Up to date? The binary depends on the driver's source, the shared code,
# the driver's build.sh, this script and the protos.
inputs=("$HERE/$driver.c" "$COMMON/driver_common.c" "$COMMON/driver_common.h" "$ENTRY" "$COMMON/build-driver.sh"
        "$ROOT"/Proto/gatehouse/v1/*.proto)
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

# 3. Generated protobuf-c code, from scratch each time: the messages the driver uses.
rm -rf "$GEN"
mkdir -p "$GEN/proto"
(cd "$ROOT/Proto" && protoc-c --proto_path=. --c_out="$GEN/proto" "${protos[@]}")

# protoc-c (1.4.1) names each member of a service's function table after its
# method in lower case, so Components/Register becomes a struct member named
# `register`, a C keyword, and components.pb-c.h does not compile. The driver
# uses the messages only, never the service table; renaming that one member
# (and the macro that fills it) to `register_` in the generated header leaves
# every message, descriptor and function name as protoc-c made them. Proto/
# stays untouched. Fail loudly if protoc-c's output no longer has this shape.
header="$GEN/proto/gatehouse/v1/components.pb-c.h"
if [ -f "$header" ]; then
    grep -q '(\*register)(' "$header" || { echo "build.sh: no \`register\` member in $header to rename; has protoc-c changed?" >&2; exit 1; }
    sed -i -e 's/(\*register)(/(*register_)(/' -e 's/function_prefix__ ## register,/function_prefix__ ## register_,/' "$header"
    if grep -qw 'register' "$header"; then
        echo "build.sh: $header still uses the C keyword \`register\`:" >&2
        grep -nw 'register' "$header" >&2
        exit 1
    fi
fi

sources=("$HERE/$driver.c" "$COMMON/driver_common.c")
for proto in "${protos[@]}"; do
    sources+=("$GEN/proto/${proto%.proto}.pb-c.c")
done

# 4. Compile: the driver, the shared code and the generated messages, one binary.
read -r -a cflags <<<"$(pkg-config --cflags openssl libprotobuf-c)"
read -r -a libs <<<"$(pkg-config --libs openssl libprotobuf-c)"
cc -std=c11 -O2 -Wall -Wextra "${cflags[@]}" -I"$COMMON" -I"$GEN/proto" \
    -o "$BIN.tmp" "${sources[@]}" "${libs[@]}"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
