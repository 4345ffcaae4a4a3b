#!/usr/bin/env bash
# Fails when Sources/GatehouseProto/ is not what Scripts/generate-protos.sh
# would generate from Proto/ right now (a .proto edited without regenerating,
# a generated file edited by hand, a stale or missing output).
#
#   Scripts/check-generated.sh        # exit 0: up to date; exit 1: stale (diff shown)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/Sources/GatehouseProto"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

"$ROOT/Scripts/generate-protos.sh" --out "$TMP/fresh"

# Compare only generated files; anything else in the directory is not our business.
mkdir -p "$TMP/committed"
if compgen -G "$DEST/*.pb.swift" >/dev/null; then
    cp "$DEST"/*.pb.swift "$TMP/committed"/
fi

if diff -ru "$TMP/committed" "$TMP/fresh" >"$TMP/diff"; then
    echo "check-generated: Sources/GatehouseProto is up to date with Proto/."
    exit 0
fi

echo "check-generated: Sources/GatehouseProto is STALE: it differs from what Proto/ generates." >&2
echo "check-generated: run Scripts/generate-protos.sh and commit the result. Differences:" >&2
# "committed" is what is in the tree; "fresh" is what it should be.
sed -e "s|$TMP/committed|Sources/GatehouseProto (committed)|g" \
    -e "s|$TMP/fresh|Sources/GatehouseProto (expected)|g" "$TMP/diff" | head -n 200 >&2
lines=$(wc -l <"$TMP/diff")
[ "$lines" -le 200 ] || echo "check-generated: ... ($lines diff lines in all)" >&2
exit 1
