#!/usr/bin/env bash
# Development PKI for Gatehouse with the openssl CLI: an EC P-256 CA, a server
# certificate and client certificates. NOT for production.
#
#   Certs/make-dev-certs.sh [--name CN] [--role ROLE] [--san SAN]... [DIR]
#
#   DIR          where to write (default ./dev-pki); must not be tracked by git
#   --name CN    client certificate subject CN (default: admin); files DIR/CN.crt, DIR/CN.key
#   --role ROLE  client certificate subject O: admin | operator | viewer | component (default: admin)
#   --san SAN    extra subjectAltName for the server certificate, e.g. DNS:gh.example or IP:10.0.0.5
#                (repeatable; DNS:localhost and IP:127.0.0.1 are always present)
#   --force      recreate the CA and server certificate even if they exist
#
# The CA and server certificate are created once and reused, so running the
# script again only adds a client certificate:
#   Certs/make-dev-certs.sh /tmp/pki                                  # CA, server, admin
#   Certs/make-dev-certs.sh --name kubelet --role component /tmp/pki  # + kubelet.crt/.key
# Private keys are written with mode 600.
set -euo pipefail

DIR="./dev-pki"
NAME="admin"
ROLE="admin"
FORCE=0
EXTRA_SANS=()
CA_DAYS=825
LEAF_DAYS=397

die() { echo "make-dev-certs: $*" >&2; exit 1; }
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

positional=()
while [ $# -gt 0 ]; do
    case "$1" in
        --name) NAME="${2:?--name needs a value}"; shift 2 ;;
        --role) ROLE="${2:?--role needs a value}"; shift 2 ;;
        --san) EXTRA_SANS+=("${2:?--san needs a value}"); shift 2 ;;
        --force) FORCE=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option $1" ;;
        *) positional+=("$1"); shift ;;
    esac
done
[ "${#positional[@]}" -le 1 ] || die "at most one directory"
[ "${#positional[@]}" -eq 0 ] || DIR="${positional[0]}"

case "$ROLE" in admin|operator|viewer|component) ;; *) die "--role must be admin, operator, viewer or component (got '$ROLE')" ;; esac
[[ "$NAME" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || die "--name must be 1-64 of [A-Za-z0-9._-] (it is also a file name)"
[ "$NAME" != "ca" ] && [ "$NAME" != "server" ] || die "--name cannot be 'ca' or 'server' (those files are taken)"
for s in "${EXTRA_SANS[@]}"; do
    [[ "$s" =~ ^(DNS|IP|URI):.+$ ]] || die "--san must look like DNS:name, IP:address or URI:uri (got '$s')"
done
command -v openssl >/dev/null || die "openssl not found (apt-get install -y openssl)"

DIR="$(realpath -m "$DIR")"
# Never write keys where git would track them (checked before anything is created).
probe="$DIR"
while [ ! -d "$probe" ]; do probe="$(dirname "$probe")"; done
if top="$(git -C "$probe" rev-parse --show-toplevel 2>/dev/null)"; then
    if ! git -C "$top" check-ignore -q "$DIR/ca.key" 2>/dev/null; then
        die "$DIR is inside the git work tree $top and not ignored; private keys must never be committed.
Use a directory outside the repository (e.g. /tmp/gatehouse-pki or ~/.gatehouse/pki), or gitignore it first."
    fi
fi
mkdir -p "$DIR"

umask 077
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
serial() { echo "0x$(openssl rand -hex 16)"; }
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# sign CSR EXTFILE OUT
sign() {
    openssl x509 -req -in "$1" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -set_serial "$(serial)" \
        -days "$LEAF_DAYS" -sha256 -extfile "$2" -out "$3" 2>/dev/null
    chmod 644 "$3"
}

if [ "$FORCE" = 1 ] || [ ! -f "$DIR/ca.crt" ] || [ ! -f "$DIR/ca.key" ]; then
    echo "make-dev-certs: creating CA in $DIR"
    newkey "$DIR/ca.key"
    openssl req -x509 -new -key "$DIR/ca.key" -sha256 -days "$CA_DAYS" -set_serial "$(serial)" \
        -subj "/O=Gatehouse Development/CN=Gatehouse Dev CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$DIR/ca.crt"
    chmod 644 "$DIR/ca.crt"
    rm -f "$DIR/server.crt"   # signed by the old CA
fi

if [ "$FORCE" = 1 ] || [ ! -f "$DIR/server.crt" ] || [ ! -f "$DIR/server.key" ] || [ "${#EXTRA_SANS[@]}" -gt 0 ]; then
    echo "make-dev-certs: creating server certificate"
    san="DNS:localhost,IP:127.0.0.1"
    for s in "${EXTRA_SANS[@]}"; do san="$san,$s"; done
    newkey "$DIR/server.key"
    openssl req -new -key "$DIR/server.key" -subj "/O=Gatehouse Development/CN=localhost" -out "$TMP/server.csr"
    cat >"$TMP/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
    sign "$TMP/server.csr" "$TMP/server.ext" "$DIR/server.crt"
fi

echo "make-dev-certs: creating client certificate CN=$NAME, O=$ROLE"
newkey "$DIR/$NAME.key"
openssl req -new -key "$DIR/$NAME.key" -subj "/O=$ROLE/CN=$NAME" -out "$TMP/client.csr"
cat >"$TMP/client.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
sign "$TMP/client.csr" "$TMP/client.ext" "$DIR/$NAME.crt"

openssl verify -CAfile "$DIR/ca.crt" "$DIR/server.crt" "$DIR/$NAME.crt" >/dev/null \
    || die "verification of the new certificates failed"
echo "make-dev-certs: done:"
ls -l "$DIR"
