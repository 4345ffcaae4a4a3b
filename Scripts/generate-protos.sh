#!/usr/bin/env bash
# Regenerates the generated Swift modules from Proto/: Proto/gatehouse/** into
# Sources/GatehouseProto/ (our API), Proto/etcd/** into Sources/EtcdProto/ (the
# subset of etcd's v3 API the etcd backend calls).
#
#   Scripts/generate-protos.sh             # regenerate in place (deletes stale outputs)
#   Scripts/generate-protos.sh --out DIR   # generate into DIR/<Module>/ instead (used by check-generated.sh)
#
# What it does:
#   1. installs protoc (Debian's protobuf-compiler) when it is missing;
#   2. builds protoc-gen-swift, in release, from the swift-protobuf version the
#      package uses (Package.resolved when present, else $SWIFT_PROTOBUF_VERSION,
#      else 1.39.0) into the gitignored scratch directory .build-protoc-gen-swift/;
#   3. runs protoc with Visibility=Public and FileNaming=PathToUnderscores, so
#      Proto/gatehouse/v1/server.proto becomes gatehouse_v1_server.pb.swift.
#      Each top-level directory of Proto/ is one Swift module (MODULES below).
#
# Environment:
#   SWIFT_PROTOBUF_VERSION  tag to build protoc-gen-swift from (default: see above)
#   SWIFT_PROTOBUF_GIT      where to clone swift-protobuf from
#                           (default https://github.com/apple/swift-protobuf.git; git on
#                           the build machines rewrites github.com to the local mirror)
#   PROTOC_GEN_SWIFT        use this protoc-gen-swift binary instead of building one
#
# Python _pb2 modules are not generated here: Tests/Interop/conftest.py makes them
# at test time into Tests/Interop/gen/ (gitignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROTO_DIR="$ROOT/Proto"
# Top-level directory of Proto/ -> the module its Swift code is generated into.
MODULES=("gatehouse:GatehouseProto" "etcd:EtcdProto")
SCRATCH="$ROOT/.build-protoc-gen-swift"
DEFAULT_VERSION="1.39.0"

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }

OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT="${2:?--out needs a directory}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "generate-protos: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { echo "generate-protos: $*" >&2; }

# --- 1. protoc ---------------------------------------------------------------
if ! command -v protoc >/dev/null 2>&1; then
    log "protoc not found; installing protobuf-compiler"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler
    else
        log "error: protoc is missing and this is not root; run: apt-get install -y protobuf-compiler"
        exit 1
    fi
fi

# --- 2. protoc-gen-swift -----------------------------------------------------
resolved_version() {
    # The version Package.resolved pins (the file is gitignored, so it may be absent).
    local f="$ROOT/Package.resolved"
    [ -f "$f" ] || return 1
    python3 - "$f" <<'PY' 2>/dev/null
import json, sys
data = json.load(open(sys.argv[1]))
for pin in data.get("pins", []):
    if pin.get("identity") == "swift-protobuf":
        v = pin.get("state", {}).get("version")
        if v:
            print(v)
            sys.exit(0)
sys.exit(1)
PY
}

VERSION="${SWIFT_PROTOBUF_VERSION:-}"
if [ -z "$VERSION" ]; then
    VERSION="$(resolved_version || true)"
fi
VERSION="${VERSION:-$DEFAULT_VERSION}"

if [ -n "${PROTOC_GEN_SWIFT:-}" ]; then
    PLUGIN="$PROTOC_GEN_SWIFT"
else
    SRC="$SCRATCH/swift-protobuf-$VERSION"
    PLUGIN="$SRC/.build/release/protoc-gen-swift"
    if [ ! -x "$PLUGIN" ]; then
        mkdir -p "$SCRATCH"
        # One Swift build at a time on this machine (2 cores): serialise on a lock.
        exec 9>"$SCRATCH/.lock"
        flock 9
        if [ ! -x "$PLUGIN" ]; then
            if [ ! -d "$SRC/.git" ]; then
                log "cloning swift-protobuf $VERSION"
                rm -rf "$SRC"
                git clone --quiet --branch "$VERSION" --depth 1 \
                    "${SWIFT_PROTOBUF_GIT:-https://github.com/apple/swift-protobuf.git}" "$SRC" 2>/dev/null \
                || git clone --quiet "${SWIFT_PROTOBUF_GIT:-https://github.com/apple/swift-protobuf.git}" "$SRC"
                git -C "$SRC" -c advice.detachedHead=false checkout --quiet "$VERSION"
            fi
            log "building protoc-gen-swift $VERSION (release; takes a few minutes the first time)"
            swift build --package-path "$SRC" -c release --product protoc-gen-swift -j 2 >&2
        fi
        flock -u 9
    fi
fi
[ -x "$PLUGIN" ] || { log "error: no protoc-gen-swift at $PLUGIN"; exit 1; }

# --- 3. generate -------------------------------------------------------------
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for entry in "${MODULES[@]}"; do
    dir="${entry%%:*}"
    module="${entry#*:}"
    mapfile -t PROTOS < <(cd "$PROTO_DIR" && find "$dir" -name '*.proto' -type f | LC_ALL=C sort)
    if [ "${#PROTOS[@]}" -eq 0 ]; then
        log "error: no .proto files under $PROTO_DIR/$dir"
        exit 1
    fi
    mkdir -p "$TMP/$module"
    (cd "$PROTO_DIR" && protoc \
        --plugin=protoc-gen-swift="$PLUGIN" \
        --proto_path=. \
        --swift_out="$TMP/$module" \
        --swift_opt=Visibility=Public \
        --swift_opt=FileNaming=PathToUnderscores \
        "${PROTOS[@]}")

    if [ -n "$OUT" ]; then
        target="$OUT/$module"
    else
        target="$ROOT/Sources/$module"
    fi
    mkdir -p "$target"
    # Delete stale outputs (a .proto removed or renamed), then copy the fresh ones.
    find "$target" -maxdepth 1 -name '*.pb.swift' -delete
    cp "$TMP/$module"/*.pb.swift "$target"/
    log "generated ${#PROTOS[@]} file(s) into ${target#"$ROOT"/} with protoc-gen-swift $VERSION ($(protoc --version))"
done
