#!/usr/bin/env bash
# Fails when the generated modules (Sources/GatehouseProto/, Sources/EtcdProto/)
# are not what Scripts/generate-protos.sh would generate from Proto/ right now
# (a .proto edited without regenerating, a generated file edited by hand, a
# stale or missing output).
#
#   Scripts/check-generated.sh        # exit 0: up to date; exit 1: stale (diff shown)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULES=(GatehouseProto EtcdProto)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

"$ROOT/Scripts/generate-protos.sh" --out "$TMP/fresh"

# Compare only generated files; anything else in the directories is not our business.
for module in "${MODULES[@]}"; do
    mkdir -p "$TMP/committed/$module"
    if compgen -G "$ROOT/Sources/$module/*.pb.swift" >/dev/null; then
        cp "$ROOT/Sources/$module"/*.pb.swift "$TMP/committed/$module"/
    fi
done

if diff -ru "$TMP/committed" "$TMP/fresh" >"$TMP/diff"; then
    echo "check-generated: ${MODULES[*]} are up to date with Proto/."
    exit 0
fi

echo "check-generated: generated code is STALE: it differs from what Proto/ generates." >&2
echo "check-generated: run Scripts/generate-protos.sh and commit the result. Differences:" >&2
# "committed" is what is in the tree; "fresh" is what it should be.
sed -e "s|$TMP/committed/|Sources/ (committed) |g" \
    -e "s|$TMP/fresh/|Sources/ (expected) |g" "$TMP/diff" | head -n 200 >&2
lines=$(wc -l <"$TMP/diff")
[ "$lines" -le 200 ] || echo "check-generated: ... ($lines diff lines in all)" >&2
exit 1
