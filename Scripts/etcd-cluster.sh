#!/usr/bin/env bash
# A local three-member etcd 3.4 cluster on loopback, for running several
# Gatehouse servers (`gatehouse serve --store etcd`) and for the interop tests.
# TLS everywhere: clients AND peers must present a certificate signed by the
# cluster's CA (--client-cert-auth, --peer-client-cert-auth).
#
#   Scripts/etcd-cluster.sh start  DIR [--base-port N]   # start (or restart) the members, wait until healthy
#   Scripts/etcd-cluster.sh stop   DIR                   # SIGTERM each member (SIGKILL after 10 s)
#   Scripts/etcd-cluster.sh status DIR                   # per member: pid, endpoint status (leader, revision)
#   Scripts/etcd-cluster.sh etcdctl DIR ARGS...          # etcdctl with the cluster's endpoints and client certificate
#                                                        # (a later --endpoints URL in ARGS talks to one member)
#
# DIR holds everything, so several clusters can run side by side:
#   DIR/pki/         ca.crt/ca.key, m{1,2,3}.crt/.key (server and peer, for 127.0.0.1
#                    and localhost), gatehouse.crt/.key (the client certificate
#                    Gatehouse uses), made once with openssl and reused
#   DIR/m{1,2,3}/    each member's data (kept across stop/start; remove DIR to start afresh)
#   DIR/m{1,2,3}.log each member's log; DIR/m{1,2,3}.pid its process id
#   DIR/cluster.env  the ports chosen at the first start (BASE_PORT)
#
# Ports: member i (1..3) serves clients on N+i-1 and peers on N+i+2, so
# --base-port N (default 23790) takes N..N+5. A port already in use is refused
# before anything starts. The last line `start` prints is the flags to give
# `gatehouse serve`:
#   gatehouse serve flags: --store etcd --etcd-endpoints https://127.0.0.1:N,... --etcd-ca ... --etcd-cert ... --etcd-key ...
#
# History: etcd keeps every revision until it is compacted. Members run with
# --auto-compaction-mode periodic --auto-compaction-retention 1h and etcd's
# default 2 GiB --quota-backend-bytes; see README "Running several servers".
# Installs Debian's etcd-server and etcd-client when etcd is missing (as root).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }
die() { echo "etcd-cluster: $*" >&2; exit 1; }

[ $# -ge 1 ] || { usage >&2; exit 2; }
COMMAND="$1"; shift
case "$COMMAND" in
    -h|--help|help) usage; exit 0 ;;
    start|stop|status|etcdctl) ;;
    *) echo "etcd-cluster: unknown command $COMMAND (expected start, stop, status or etcdctl)" >&2; exit 2 ;;
esac
[ $# -ge 1 ] || { echo "etcd-cluster: $COMMAND needs the cluster's directory (see --help)" >&2; exit 2; }
DIR="$1"; shift
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
PKI="$DIR/pki"
MEMBERS=(m1 m2 m3)

BASE_PORT=""
if [ "$COMMAND" != etcdctl ]; then
    while [ $# -gt 0 ]; do
        case "$1" in
            --base-port) [ $# -ge 2 ] || die "--base-port needs a number"; BASE_PORT="$2"; shift 2 ;;
            *) echo "etcd-cluster: unknown argument $1 (see --help)" >&2; exit 2 ;;
        esac
    done
fi
if [ -f "$DIR/cluster.env" ]; then
    stored="$(sed -n 's/^BASE_PORT=\([0-9]*\)$/\1/p' "$DIR/cluster.env")"
    if [ -n "$BASE_PORT" ] && [ "$BASE_PORT" != "$stored" ]; then
        die "$DIR was created with --base-port $stored; its members know each other by those ports (remove $DIR to start afresh on $BASE_PORT)"
    fi
    BASE_PORT="$stored"
fi
if [ -z "$BASE_PORT" ]; then
    [ "$COMMAND" = start ] || die "$DIR holds no cluster (no cluster.env): run '$0 start $DIR' first"
    BASE_PORT=23790
fi
[[ "$BASE_PORT" =~ ^[1-9][0-9]*$ ]] && [ "$BASE_PORT" -le 65530 ] || die "--base-port must be a number from 1 to 65530, got $BASE_PORT"

client_port() { echo $(( BASE_PORT + $1 - 1 )); }
peer_port() { echo $(( BASE_PORT + $1 + 2 )); }
ENDPOINTS="https://127.0.0.1:$(client_port 1),https://127.0.0.1:$(client_port 2),https://127.0.0.1:$(client_port 3)"
INITIAL_CLUSTER="m1=https://127.0.0.1:$(peer_port 1),m2=https://127.0.0.1:$(peer_port 2),m3=https://127.0.0.1:$(peer_port 3)"

run_etcdctl() {
    ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" --cacert "$PKI/ca.crt" \
        --cert "$PKI/gatehouse.crt" --key "$PKI/gatehouse.key" --dial-timeout 2s --command-timeout 5s "$@"
}

# The pid in DIR/<member>.pid if that process is alive and is etcd, else nothing.
member_pid() {
    local file="$DIR/$1.pid" pid
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    # A reused pid of another program is not ours to signal; a killed member
    # whose zombie is not reaped yet (its parent is init) is not running.
    local stat state
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 0
    state="${stat##*) }"; state="${state%% *}"
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = etcd ] && [ "$state" != Z ] && [ "$state" != X ]; then echo "$pid"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_etcd() {
    command -v etcd >/dev/null && command -v etcdctl >/dev/null && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "etcd-cluster: installing etcd-server and etcd-client" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq etcd-server etcd-client >/dev/null
}

# One EC P-256 leaf signed by the CA: make_leaf NAME SUBJECT EXTENDED_KEY_USAGE [SAN]
make_leaf() {
    local name="$1" subject="$2" usage="$3" san="${4:-}"
    local ext="$PKI/$name.ext"
    {
        echo "basicConstraints = critical, CA:FALSE"
        echo "keyUsage = critical, digitalSignature, keyEncipherment"
        echo "extendedKeyUsage = $usage"
        [ -z "$san" ] || echo "subjectAltName = $san"
    } >"$ext"
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
    chmod 600 "$PKI/$name.key"
    openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
        -days 825 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
    rm -f "$PKI/$name.csr" "$ext"
}

# The CA, three member certificates and Gatehouse's client certificate; kept once made.
ensure_pki() {
    command -v openssl >/dev/null || die "openssl is missing: apt-get install -y openssl"
    mkdir -p "$PKI"
    chmod 700 "$PKI"
    if [ ! -f "$PKI/ca.crt" ]; then
        openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
        chmod 600 "$PKI/ca.key"
        openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=Gatehouse etcd-cluster.sh CA" -days 3650 -sha256 \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out "$PKI/ca.crt" 2>/dev/null
    fi
    local member
    for member in "${MEMBERS[@]}"; do
        # Server for clients and for peers, and client towards peers: both usages.
        [ -f "$PKI/$member.crt" ] || make_leaf "$member" "/CN=etcd-$member" "serverAuth, clientAuth" "IP:127.0.0.1, DNS:localhost"
    done
    [ -f "$PKI/gatehouse.crt" ] || make_leaf gatehouse "/CN=gatehouse" "clientAuth"
    chmod 644 "$PKI"/*.crt
}

start() {
    ensure_etcd
    ensure_pki
    # Only the members not running start: after a member was killed, `start` brings it back.
    local missing=() member i
    for i in 1 2 3; do
        [ -n "$(member_pid "m$i")" ] || missing+=("$i")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "etcd cluster in $DIR: m1 m2 m3 already running" >&2
    fi
    for i in "${missing[@]}"; do
        for port in "$(client_port "$i")" "$(peer_port "$i")"; do
            ! port_in_use "$port" || die "port $port is in use: pick other ports with --base-port (ports N..N+5), on a new DIR"
        done
    done
    echo "BASE_PORT=$BASE_PORT" >"$DIR/cluster.env"
    local token
    token="gatehouse-$(echo "$DIR:$BASE_PORT" | cksum | cut -d' ' -f1)"
    for i in "${missing[@]}"; do
        member="m$i"
        local client="https://127.0.0.1:$(client_port "$i")" peer="https://127.0.0.1:$(peer_port "$i")"
        # setsid: the member outlives this script and is not hit by a Ctrl-C meant for the caller.
        setsid etcd --name "$member" --data-dir "$DIR/$member" --logger zap --log-outputs stderr \
            --listen-client-urls "$client" --advertise-client-urls "$client" \
            --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
            --initial-cluster "$INITIAL_CLUSTER" --initial-cluster-token "$token" --initial-cluster-state new \
            --cert-file "$PKI/$member.crt" --key-file "$PKI/$member.key" \
            --client-cert-auth --trusted-ca-file "$PKI/ca.crt" \
            --peer-cert-file "$PKI/$member.crt" --peer-key-file "$PKI/$member.key" \
            --peer-client-cert-auth --peer-trusted-ca-file "$PKI/ca.crt" \
            --auto-compaction-mode periodic --auto-compaction-retention 1h \
            </dev/null >>"$DIR/$member.log" 2>&1 &
        echo $! >"$DIR/$member.pid"
    done
    # Healthy = every member answers a linearizable read (which needs a leader).
    local deadline=$(( $(date +%s) + 30 )) pid
    until run_etcdctl endpoint health >/dev/null 2>&1; do
        local dead=()
        for member in "${MEMBERS[@]}"; do
            [ -n "$(member_pid "$member")" ] || dead+=("$member")
        done
        if [ ${#dead[@]} -gt 0 ] || [ "$(date +%s)" -ge "$deadline" ]; then
            for member in "${MEMBERS[@]}"; do
                echo "--- $DIR/$member.log (last lines) ---" >&2
                tail -5 "$DIR/$member.log" >&2 || true
            done
            for i in "${missing[@]}"; do  # what this start began, not members that ran before
                pid="$(member_pid "m$i")"
                [ -z "$pid" ] || { kill -KILL "$pid" 2>/dev/null || true; }
                rm -f "$DIR/m$i.pid"
            done
            if [ ${#dead[@]} -gt 0 ]; then die "${dead[*]} exited during start (logs above)"; fi
            die "the cluster did not become healthy within 30 s (logs above)"
        fi
        sleep 0.2
    done
    local started=""
    for i in "${missing[@]}"; do started+=" m$i"; done
    echo "etcd cluster in $DIR: members m1 m2 m3 healthy (started:${started:- none}), client endpoints $ENDPOINTS"
    echo "etcdctl: ETCDCTL_API=3 etcdctl --endpoints $ENDPOINTS --cacert $PKI/ca.crt --cert $PKI/gatehouse.crt --key $PKI/gatehouse.key"
    echo "gatehouse serve flags: --store etcd --etcd-endpoints $ENDPOINTS --etcd-ca $PKI/ca.crt --etcd-cert $PKI/gatehouse.crt --etcd-key $PKI/gatehouse.key"
}

stop() {
    local member pid pids=()
    for member in "${MEMBERS[@]}"; do
        pid="$(member_pid "$member")"
        if [ -n "$pid" ]; then
            kill -CONT "$pid" 2>/dev/null || true  # a stopped (SIGSTOP) member cannot handle SIGTERM
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    local deadline=$(( $(date +%s) + 10 ))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "etcd-cluster: member pid $pid ignored SIGTERM for 10 s; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for member in "${MEMBERS[@]}"; do rm -f "$DIR/$member.pid"; done
    echo "etcd cluster in $DIR: stopped (${#pids[@]} members were running); data kept in $DIR/m1..m3"
}

status() {
    local member i pid state
    for i in 1 2 3; do
        member="m$i"
        pid="$(member_pid "$member")"
        if [ -z "$pid" ]; then
            state="not running"
        elif grep -q '^State:.*T' "/proc/$pid/status" 2>/dev/null; then
            state="pid $pid, STOPPED (SIGSTOP)"
        else
            state="pid $pid"
        fi
        echo "$member https://127.0.0.1:$(client_port "$i"): $state"
    done
    # Exit status 0 only when every member answers.
    run_etcdctl endpoint status -w table
}

case "$COMMAND" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    etcdctl) run_etcdctl "$@" ;;
esac
