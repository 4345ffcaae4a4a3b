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
set -euo pipefail
# The body is shared with the other C driver: Benchmarks/DriverCommon/build-driver.sh
# (packages, protoc-c, the up-to-date check, the compile with driver_common.c).
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../DriverCommon/build-driver.sh" toggle_driver "$@"
