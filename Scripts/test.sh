#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh machine:
#   1. installs what is missing (Scripts/install-deps.sh);
#   2. checks that generated code and conformance vectors are up to date;
#   3. builds and runs the Swift tests (domain, state machines, codec,
#      TLS in memory, live server on port 0);
#   4. runs the interop tests against the built server with clients we did
#      not write: openssl s_client, Python's ssl + protobuf, ldd;
#   5. fuzzes the frame parser, the server connection state machine and every
#      method's request decoder for a short while (Tests/Fuzz/run.sh, libFuzzer).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
Scripts/install-deps.sh

step "generated code and conformance vectors are current"
Scripts/check-generated.sh
python3 Tests/Conformance/make_vectors.py --check

step "swift build"
swift build --build-tests

step "swift test"
# Swift Testing starts every test at once by default (140 in flight here): on two shared
# cores the live tests' servers, etcd members and TLS handshakes then starve each other and
# the deadlines of unrelated tests. Eight at a time took no longer in a whole run and
# kept every test's own timing realistic. Set the variable to change it (1: one at a time).
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-8}"
swift test

step "interop (openssl s_client, Python ssl + protobuf, ldd)"
GATEHOUSE_BIN="$ROOT/.build/debug/gatehouse" python3 -m pytest Tests/Interop -q

step "fuzz (libFuzzer + AddressSanitizer, 20 s; Tests/Fuzz/run.sh SECONDS for longer)"
Tests/Fuzz/run.sh 20
