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
# The body is shared with the other C driver: Benchmarks/DriverCommon/build-driver.sh
# (packages, protoc-c, the up-to-date check, the compile with driver_common.c).
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../DriverCommon/build-driver.sh" subscriber_driver "$@"
