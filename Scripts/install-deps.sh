#!/usr/bin/env bash
# Installs what building and testing Gatehouse needs and this machine lacks:
# Debian's OpenSSL and SQLite headers and pkg-config (TLS, the store), jemalloc (the server's
# allocator), protoc (generated code and the
# Python interop client), protobuf-c (the C toggle driver the interop suite builds), etcd
# (Debian's etcd-server and etcd-client: the etcd backend's tests start a real cluster), and the
# Python packages of Tests/Interop.
# Idempotent and quiet when everything is already there.
#
#   Scripts/install-deps.sh            # build and test needs
#   Scripts/install-deps.sh --runtime    # only what `gatehouse serve` needs to build
#   Scripts/install-deps.sh --c-drivers  # only what the C benchmark drivers need (Benchmarks/DriverCommon)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-}"

case "$MODE" in
    "") packages=(libssl-dev libsqlite3-dev libjemalloc-dev pkg-config protobuf-compiler openssl libprotobuf-c-dev protobuf-c-compiler etcd-server etcd-client) ;;
    --runtime) packages=(libssl-dev libsqlite3-dev libjemalloc-dev pkg-config) ;;
    --c-drivers) packages=(libssl-dev libprotobuf-c-dev protobuf-c-compiler pkg-config) ;;
    *) echo "install-deps: unknown argument $MODE (expected --runtime or --c-drivers)" >&2; exit 2 ;;
esac

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -z "$MODE" ]; then
    if ! python3 -c 'import google.protobuf, pytest, yaml, prometheus_client; import sys; sys.exit(0 if google.protobuf.__version__.startswith("4.") else 1)' 2>/dev/null; then
        echo "install-deps: installing Python packages of Tests/Interop" >&2
        python3 -m pip install -q --disable-pip-version-check -r "$ROOT/Tests/Interop/requirements.txt"
    fi
fi
