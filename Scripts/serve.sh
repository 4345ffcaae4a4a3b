#!/usr/bin/env bash
# Builds gatehouse (release) when needed and runs `gatehouse serve` on its
# embedded defaults: ./gatehouse-data, 127.0.0.1:7443, development
# certificates created on first start. Extra arguments go to `gatehouse serve`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/Scripts/install-deps.sh" --runtime
swift build --package-path "$ROOT" -c release --product gatehouse >&2
swift build --package-path "$ROOT" -c release --product gatectl >&2
exec "$ROOT/.build/release/gatehouse" serve "$@"
