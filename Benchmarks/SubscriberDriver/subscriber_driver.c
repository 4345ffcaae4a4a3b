// subscriber_driver: fan-out latency of one change to N subscribers, each on
// its own mTLS connection, from a client that costs little CPU.
//
// It measures what `gatehouse-load subscribers` measures (Benchmarks/
// LoadGenerator/SubscriberBenchmark.swift) and prints the same table, plus its
// own CPU per received message. The Swift load generator spends a lot of CPU
// on each message it receives, and on a 2-core machine that is CPU taken from
// the server while the server fans out, so it inflates the latency it
// measures. This driver is one thread with one epoll loop over every
// connection, OpenSSL used directly and protobuf-c messages.
//
// What it does, as the Swift tool does:
//   1. An admin connection defines the feature BenchFanout with
//      Features/Define (alpha, default off, "load generator feature", reason
//      "load generator setup"; defining it again the same way is harmless).
//   2. For each subscriber count N: N connections (TLS 1.3, mutual TLS, the
//      server verified against the CA and for its name or IP, ALPN
//      gatehouse/1, HELLO exchanged; TLS sessions resumed once the first
//      ticket arrived), at most --connect-concurrency of them in their
//      handshake at once. Each opens Components/Subscribe with
//      start{component "bench-fanout", instance_id "s<index>", version
//      "1.0.0"}, no deadline and no END_STREAM, and waits for its snapshot.
//      Like the Swift tool it does not call Components/Register (subscribing
//      records the instance) and sends no acks.
//   3. Two seconds idle, then the server's RSS growth per subscriber.
//   4. --rounds times: the admin connection sends Features/Set with one
//      change, BenchFanout at component scope bench-fanout, enabled flipped
//      (reason "fan-out benchmark"); the time it was written and the time its
//      response and OK trailers arrived (its "ack") are noted. Every
//      subscriber must then receive the Delta whose revision is the one the
//      SetResponse names, carrying BenchFanout in its new state; the time it
//      arrived (when epoll reported the connection readable, see loop_once)
//      is recorded per subscriber. 120 s without it ends the run.
//      200 ms pause between rounds.
//   5. One row per count: connect time, server RSS KiB per idle subscriber,
//      p50/p99/max latency from the Set's ack (a delta that arrived before
//      the ack counts 0, as in the Swift tool), p99 from the Set's send,
//      server CPU per change (/proc/PID/stat over the rounds / rounds), and
//      this driver's CPU per message received during the rounds.
//
// The first Set of a count flips the state the snapshots showed, so against
// a fresh server it sends enabled = true, false, true, … exactly as the Swift
// tool does, and a rerun against the same server still changes something.
//
// The wire protocol is PROTOCOL.md: a 10-octet frame header (length 4, type
// 1, flags 1, stream id 4, big-endian), HELLO/HEADERS/MESSAGE/TRAILERS/PING/
// GOAWAY frames. Any refusal, non-OK status, protocol error, failed
// verification or missing delta ends the run with a message and exit 1.
//
// Build with build.sh next to this file; run with --help for the options.
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "driver_common.h"
#include "gatehouse/v1/components.pb-c.h"
#include "gatehouse/v1/errors.pb-c.h"
#include "gatehouse/v1/features.pb-c.h"

// ---------------------------------------------------------------------------
// What the benchmark sends: the requests of SubscriberBenchmark.swift (the frame
// constants, ALPN and method paths are in ../DriverCommon/driver_common.h)
// ---------------------------------------------------------------------------

#define FEATURE_NAME "BenchFanout"
#define COMPONENT "bench-fanout"
#define INSTANCE_VERSION "1.0.0"
#define SET_REASON "fan-out benchmark"
#define SUBSCRIBE_PATH "/gatehouse.v1.Components/Subscribe"
#define SUBSCRIBE_STREAM 1  // a subscriber's connection carries that one call

// Waits, as the Swift tool's: its connect timeout, its 120 s for every
// snapshot or every delta of a round, its pauses.
#define CONNECT_TIMEOUT_MS 60000.0
#define ARRIVAL_TIMEOUT_MS 120000.0
#define CALL_STALL_MS 60000.0  // an admin call unanswered this long ends the run (it carries no deadline)
#define SETTLE_MS 2000.0       // idle after every snapshot, before reading the server's RSS
#define ROUND_PAUSE_MS 200.0   // between rounds
#define CLOSE_PAUSE_MS 1000.0  // after closing a count's subscribers

// ---------------------------------------------------------------------------
// Server memory
// ---------------------------------------------------------------------------

/// Another process's resident memory (VmRSS of /proc/PID/status), in KiB; -1 when unreadable.
static long process_rss_kib(long pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

// ---------------------------------------------------------------------------
// Options and the client config
// ---------------------------------------------------------------------------

static struct {
    const char *config_path;
    int *counts;
    int n_counts;
    int rounds;
    int connect_concurrency;
    long server_pid;  // 0: not given
} opt = {.rounds = 20, .connect_concurrency = 128};

static struct dc_config cfg;  // from the client config file

static void usage(FILE *to) {
    fputs(
        "usage: subscriber_driver --config PATH [--counts 1000,10000] [--rounds 20]\n"
        "                         [--connect-concurrency 128] [--server-pid PID]\n"
        "\n"
        "Fan-out latency of one change to N subscribers, each on its own mTLS connection,\n"
        "as `gatehouse-load subscribers` measures it, from a lean C client (one thread, epoll,\n"
        "OpenSSL, protobuf-c). For each count it connects N subscribers (instances s<index> of\n"
        "component bench-fanout, version 1.0.0; Components/Subscribe, no Register, no acks, as\n"
        "the Swift tool), waits for every snapshot, idles 2 s, reads the server's RSS, then per\n"
        "round flips BenchFanout at component scope bench-fanout with Features/Set on a separate\n"
        "admin connection and records when each subscriber received the delta at the Set's\n"
        "revision. Latency is measured from the Set's ack (its response and OK trailers), as\n"
        "etcd's benchmark measures from the put's ack; p99 from the Set's send is shown too.\n"
        "\n"
        "  --config PATH              client config of an admin (it defines BenchFanout and\n"
        "                             subscribes on behalf of bench-fanout): server:, ca:,\n"
        "                             certificate:, key:, optionally server_name:; e.g. the\n"
        "                             DATA_DIR/admin.conf that `gatehouse serve` writes\n"
        "  --counts LIST              subscriber counts, comma separated (default 1000,10000)\n"
        "  --rounds N                 changes per count (default 20)\n"
        "  --connect-concurrency N    TLS handshakes in flight at once while connecting\n"
        "                             (default 128)\n"
        "  --server-pid PID           the server's pid, for its CPU per change (/proc/PID/stat)\n"
        "                             and RSS per idle subscriber (/proc/PID/status)\n"
        "  -h, --help                 this text\n"
        "\n"
        "The server needs --max-connections above the largest count, and both processes a\n"
        "file-descriptor limit above it (ulimit -n); the driver raises its own soft limit as\n"
        "far as the hard limit allows and refuses to start when that is too low.\n"
        "Any error (refusal, non-OK status, protocol error, failed verification, a subscriber\n"
        "that does not get a change within 120 s) ends the run with a message and exit 1.\n",
        to);
}

/// A positive int option value, or exit 2.
static int parse_positive(const char *name, const char *text) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > 1000000) {
        fprintf(stderr, "subscriber_driver: %s wants a positive integer, not \"%s\"\n", name, text);
        exit(2);
    }
    return (int)v;
}

static void parse_options(int argc, char **argv) {
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"counts", required_argument, NULL, 'n'},
        {"rounds", required_argument, NULL, 'r'},
        {"connect-concurrency", required_argument, NULL, 'k'},
        {"server-pid", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *counts = "1000,10000";
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': opt.config_path = optarg; break;
        case 'n': counts = optarg; break;
        case 'r': opt.rounds = parse_positive("--rounds", optarg); break;
        case 'k': opt.connect_concurrency = parse_positive("--connect-concurrency", optarg); break;
        case 'p': opt.server_pid = parse_positive("--server-pid", optarg); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "subscriber_driver: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        exit(2);
    }
    if (opt.config_path == NULL) {
        fputs("subscriber_driver: --config PATH is required\n", stderr);
        usage(stderr);
        exit(2);
    }
    char *list = strdup(counts), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        opt.counts = dc_xrealloc(opt.counts, (size_t)(opt.n_counts + 1) * sizeof *opt.counts);
        opt.counts[opt.n_counts++] = parse_positive("--counts", tok);
    }
    free(list);
    if (opt.n_counts == 0) {
        fputs("subscriber_driver: --counts lists no count\n", stderr);
        exit(2);
    }
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

enum role { ROLE_ADMIN, ROLE_SUBSCRIBER };

enum conn_state {
    CS_CONNECTING,   // TCP connect in progress
    CS_HANDSHAKING,  // TLS handshake
    CS_AWAIT_HELLO,  // our HELLO sent, the server's not yet here
    CS_READY,        // admin: no call open
    CS_IN_CALL,      // admin: one unary call open
    CS_SUBSCRIBING,  // subscriber: Subscribe sent, no snapshot yet
    CS_SUBSCRIBED,   // subscriber: snapshot received; deltas and heartbeats follow
};

/// A subscriber's recent deltas: which revision arrived when, and what it
/// said of BenchFanout (-1: not in it). Deltas can arrive before the Set's
/// response names their revision, so the last few are kept.
#define RECENT 4
struct arrival {
    uint64_t revision;
    double at_ms;
    int bench_enabled;
};

struct conn {
    enum role role;
    int index;  // subscriber: instance "s<index>"; admin: -1
    int fd;
    SSL *ssl;
    enum conn_state state;
    uint32_t events;     // the epoll interest registered now
    int want_write;      // OpenSSL wants to be called again when the socket is writable
    struct dc_buf in, out;  // a frame received only in part; bytes not sent yet
    uint32_t peer_max_frame;
    double started_ms;  // when the connection, or the admin's open call, started
    // admin
    uint32_t next_stream_id, call_stream;
    const char *call_path;
    int responses;
    double acked_ms;        // when the last call's OK trailers arrived
    uint64_t set_revision;  // from the last SetResponse
    // subscriber
    uint64_t reached;           // highest revision of its snapshot, deltas and heartbeats
    int snapshot_enabled;       // BenchFanout in its snapshot
    struct arrival recent[RECENT];
    unsigned recent_next;
    uint64_t arrived_revision;  // the awaited revision, once it arrived here
};

static SSL_CTX *tls;
static int epoll_fd;
static uint8_t scratch[65536];  // every SSL_read lands here first; only partial frames are kept per connection

// Benchmark state the frame handlers update.
static int in_flight;              // subscriber handshakes (TCP, TLS, HELLO) under way
static int snapshots;              // subscribers of this count that have their snapshot
static uint64_t messages;          // MESSAGE frames received by subscribers
static uint64_t awaited_revision;  // the revision of this round's Set, once acked; 0 before
static int awaited_enabled;        // what this round's delta must say of BenchFanout
static int arrived;                // subscribers that have the awaited revision
static double *arrival_ms;         // per subscriber, when the awaited revision arrived
static SSL_SESSION *cached_session;  // the latest resumable session a subscriber received
static int resumed;                  // subscriber handshakes that resumed a session

static const char *conn_name(const struct conn *c) {
    static char name[32];
    if (c->role == ROLE_ADMIN) return "admin connection";
    snprintf(name, sizeof name, "subscriber s%d", c->index);
    return name;
}

/// Ends the run for a connection error of the server's making: sends GOAWAY
/// with `code` (best effort, as PROTOCOL.md asks), then exits 1.
__attribute__((noreturn, format(printf, 3, 4))) static void protocol_failure(struct conn *c, int code,
                                                                             const char *format, ...) {
    va_list args;
    va_start(args, format);  // no va_end: dc_protocol_failure does not return
    dc_protocol_failure(c->ssl, &c->out, conn_name(c), code, format, args);
}

/// Ends the run for a failed TLS operation, saying why as precisely as OpenSSL knows.
__attribute__((noreturn)) static void tls_failure(struct conn *c, const char *during, int ret) {
    int saved_errno = errno;
    const char *hint = c->role == ROLE_SUBSCRIBER && c->state <= CS_AWAIT_HELLO
                           ? " (does the server allow this many connections? see its --max-connections)"
                           : "";
    dc_tls_failure(c->ssl, &cfg, conn_name(c), during, ret, saved_errno, c->state == CS_AWAIT_HELLO, hint);
}

/// Registers the epoll interest the connection needs now, when it changed.
static void update_interest(struct conn *c) {
    uint32_t want = c->state == CS_CONNECTING ? EPOLLOUT
                                              : EPOLLIN | (c->want_write || c->out.off < c->out.len ? EPOLLOUT : 0);
    dc_set_interest(epoll_fd, c->fd, c, &c->events, want);
}

/// Sends what `out` holds, as far as the socket takes it.
static void flush(struct conn *c) {
    int ret;
    if (dc_flush(c->ssl, &c->out, &c->want_write, &ret) == DC_IO_FAILED) tls_failure(c, "while sending", ret);
}

/// Queues a call's HEADERS (no deadline, no metadata) and its first MESSAGE
/// (`end_stream`: unary requests end the client's side, a subscription's does not).
static void queue_call(struct conn *c, uint32_t stream_id, const char *path, const ProtobufCMessage *request,
                       int end_stream) {
    size_t size = protobuf_c_message_get_packed_size(request);
    if (size > c->peer_max_frame)
        dc_die("%s: RESOURCE_EXHAUSTED: a %zu-octet request exceeds the server's maximum frame size %u", conn_name(c),
            size, c->peer_max_frame);
    dc_queue_call(&c->out, stream_id, path, request, size, end_stream);
}

/// The admin connection opens a unary call; `call_done` or a failure ends it.
static void start_unary(struct conn *c, const char *path, const ProtobufCMessage *request) {
    c->call_stream = c->next_stream_id;
    c->next_stream_id += 2;  // 1, 3, 5, … as the Swift client counts
    c->call_path = path;
    c->responses = 0;
    queue_call(c, c->call_stream, path, request, 1);
    c->state = CS_IN_CALL;
    c->started_ms = dc_now_ms();
    flush(c);
    update_interest(c);
}

/// A subscriber's connection is ready: open its subscription, as the Swift tool does.
static void start_subscription(struct conn *c) {
    char instance[16];
    snprintf(instance, sizeof instance, "s%d", c->index);
    Gatehouse__V1__SubscribeStart start = GATEHOUSE__V1__SUBSCRIBE_START__INIT;
    start.component = COMPONENT;
    start.instance_id = instance;
    start.version = INSTANCE_VERSION;
    Gatehouse__V1__SubscribeRequest request = GATEHOUSE__V1__SUBSCRIBE_REQUEST__INIT;
    request.message_case = GATEHOUSE__V1__SUBSCRIBE_REQUEST__MESSAGE_START;
    request.start = &start;
    queue_call(c, SUBSCRIBE_STREAM, SUBSCRIBE_PATH, &request.base, 0);  // the stream stays open for acks
    c->state = CS_SUBSCRIBING;
    c->started_ms = dc_now_ms();  // the snapshot is awaited from here
    flush(c);
}

/// A non-OK TRAILERS: the status, its message and any ErrorDetails, then exit.
__attribute__((noreturn)) static void call_failed(struct conn *c, const char *what, uint16_t status,
                                                  const uint8_t *message, size_t message_len,
                                                  const uint8_t *details, size_t details_len) {
    dc_call_failed(conn_name(c), what, status == 0 ? "ended" : "failed", status, message, message_len, details,
                   details_len);
}

/// BenchFanout's state in a list of effective features: 0 or 1, -1 when absent.
static int bench_state(Gatehouse__V1__EffectiveFeature **features, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(features[i]->name, FEATURE_NAME) == 0) return features[i]->enabled ? 1 : 0;
    return -1;
}

/// Records that subscriber `c` has the awaited revision, with what its delta said of BenchFanout.
static void got_awaited(struct conn *c, const struct arrival *a) {
    if (a->bench_enabled != awaited_enabled)
        dc_die("%s: the delta at r%llu %s, but the Set made it %s", conn_name(c), (unsigned long long)a->revision,
            a->bench_enabled < 0 ? "does not list " FEATURE_NAME
                                 : (a->bench_enabled ? FEATURE_NAME " enabled" : FEATURE_NAME " disabled"),
            awaited_enabled ? "enabled" : "disabled");
    c->arrived_revision = a->revision;
    arrival_ms[c->index] = a->at_ms;
    arrived++;
}

/// One server MESSAGE on a subscription (a SubscribeResponse), received at `at_ms`.
static void subscription_message(struct conn *c, const uint8_t *p, uint32_t len, double at_ms) {
    messages++;
    Gatehouse__V1__SubscribeResponse *m = gatehouse__v1__subscribe_response__unpack(NULL, len, p);
    if (m == NULL) dc_die("%s: a message on its subscription does not decode as SubscribeResponse", conn_name(c));
    switch (m->message_case) {
    case GATEHOUSE__V1__SUBSCRIBE_RESPONSE__MESSAGE_SNAPSHOT: {
        if (c->state != CS_SUBSCRIBING) dc_die("%s: a second snapshot (r%llu) on its subscription", conn_name(c),
                                            (unsigned long long)m->snapshot->revision);
        c->snapshot_enabled = bench_state(m->snapshot->features, m->snapshot->n_features);
        if (c->snapshot_enabled < 0)
            dc_die("%s: its snapshot at r%llu does not list %s (every component should have it)", conn_name(c),
                (unsigned long long)m->snapshot->revision, FEATURE_NAME);
        c->reached = m->snapshot->revision;
        c->state = CS_SUBSCRIBED;
        snapshots++;
        break;
    }
    case GATEHOUSE__V1__SUBSCRIBE_RESPONSE__MESSAGE_DELTA: {
        const Gatehouse__V1__Delta *d = m->delta;
        if (c->state != CS_SUBSCRIBED) dc_die("%s: a delta before its snapshot", conn_name(c));
        // PROTOCOL.md 6.1: a base later than what this stream reached means a change was missed.
        if (d->base_revision > c->reached)
            dc_die("%s: the delta at r%llu has base r%llu, but this subscriber only reached r%llu (a change was "
                "missed)",
                conn_name(c), (unsigned long long)d->revision, (unsigned long long)d->base_revision,
                (unsigned long long)c->reached);
        if (d->revision > c->reached) c->reached = d->revision;
        struct arrival *a = &c->recent[c->recent_next++ % RECENT];
        a->revision = d->revision;
        a->at_ms = at_ms;
        a->bench_enabled = bench_state(d->features, d->n_features);
        if (awaited_revision != 0 && d->revision == awaited_revision && c->arrived_revision != awaited_revision)
            got_awaited(c, a);
        break;
    }
    case GATEHOUSE__V1__SUBSCRIBE_RESPONSE__MESSAGE_HEARTBEAT:
        if (c->state != CS_SUBSCRIBED) dc_die("%s: a heartbeat before its snapshot", conn_name(c));
        if (m->heartbeat->revision > c->reached) c->reached = m->heartbeat->revision;
        break;
    default:
        dc_die("%s: a SubscribeResponse with no message set", conn_name(c));
    }
    gatehouse__v1__subscribe_response__free_unpacked(m, NULL);
}

/// One server MESSAGE on the admin's open unary call: decode its response.
static void admin_response(struct conn *c, const uint8_t *p, uint32_t len) {
    if (++c->responses > 1) dc_die("%s: more than one response to %s", conn_name(c), c->call_path);
    if (strcmp(c->call_path, DC_SET_PATH) == 0) {
        Gatehouse__V1__SetResponse *r = gatehouse__v1__set_response__unpack(NULL, len, p);
        if (r == NULL) dc_die("%s: the response to %s does not decode as SetResponse", conn_name(c), DC_SET_PATH);
        c->set_revision = r->revision;
        gatehouse__v1__set_response__free_unpacked(r, NULL);
    } else {
        Gatehouse__V1__DefineFeatureResponse *r = gatehouse__v1__define_feature_response__unpack(NULL, len, p);
        if (r == NULL)
            dc_die("%s: the response to %s does not decode as DefineFeatureResponse", conn_name(c), DC_DEFINE_PATH);
        gatehouse__v1__define_feature_response__free_unpacked(r, NULL);
    }
}

/// The server's HELLO: exactly version 1, and its settings (only MAX_FRAME_SIZE matters here).
static void server_hello(struct conn *c, const uint8_t *p, uint32_t len) {
    if (c->state != CS_AWAIT_HELLO) protocol_failure(c, DC_PROTOCOL_ERROR, "a second HELLO");
    struct dc_fault f;
    if (dc_parse_server_hello(p, len, &c->peer_max_frame, &f)) protocol_failure(c, f.code, "%s", f.why);
    if (c->role == ROLE_ADMIN) {
        c->state = CS_READY;
    } else {
        if (SSL_session_reused(c->ssl)) resumed++;
        in_flight--;
        start_subscription(c);
    }
}

/// Acts on one whole frame whose header passed check_header; `at_ms` is when it was read.
static void handle_frame(struct conn *c, uint8_t type, uint8_t flags, uint32_t stream_id, const uint8_t *p,
                         uint32_t len, double at_ms) {
    const char *name = DC_FRAME_NAMES[type];
    struct dc_fault f;
    if (dc_check_frame_from_server(type, c->state == CS_AWAIT_HELLO, &f)) protocol_failure(c, f.code, "%s", f.why);
    switch (type) {
    case DC_FT_HELLO:
        server_hello(c, p, len);
        return;
    case DC_FT_PING:
        if (!(flags & DC_FLAG_ACK)) {  // answer at once: ACK with the same 8 octets
            dc_queue_ping_ack(&c->out, p);
            flush(c);
        }
        return;
    case DC_FT_GOAWAY:
        dc_goaway_from_server(p, len, conn_name(c), c->state == CS_AWAIT_HELLO, &f);  // returns only if malformed
        protocol_failure(c, f.code, "%s", f.why);
    default:
        break;  // MESSAGE, TRAILERS
    }

    // MESSAGE and TRAILERS belong to the admin's open call or to the subscription.
    int open = c->role == ROLE_ADMIN ? c->state == CS_IN_CALL && stream_id == c->call_stream
                                     : c->state >= CS_SUBSCRIBING && stream_id == SUBSCRIBE_STREAM;
    if (!open) protocol_failure(c, DC_PROTOCOL_ERROR, "%s on stream %u, which has no open call", name, stream_id);
    const char *what = c->role == ROLE_ADMIN ? c->call_path : "its subscription (" SUBSCRIBE_PATH ")";
    if (type == DC_FT_MESSAGE) {
        if (flags & DC_FLAG_END_STREAM)
            protocol_failure(c, DC_PROTOCOL_ERROR, "the server set END_STREAM on a MESSAGE");
        if (c->role == ROLE_ADMIN) admin_response(c, p, len);
        else subscription_message(c, p, len, at_ms);
        return;
    }
    // TRAILERS: status 2, message str16, details bytes32.
    uint16_t status, message_len;
    uint32_t details_len;
    if (dc_parse_trailers(p, len, &status, &message_len, &details_len, &f)) protocol_failure(c, f.code, "%s", f.why);
    // A subscription lasts as long as the run: any TRAILERS, even OK, ends it too early.
    if (status != 0 || c->role == ROLE_SUBSCRIBER)
        call_failed(c, what, status, p + 4, message_len, p + 8 + message_len, details_len);
    if (c->responses != 1) dc_die("%s: the server answered %s OK without a response", conn_name(c), c->call_path);
    c->state = CS_READY;
    c->acked_ms = at_ms;
}

/// Checks the 10 header octets alone, before any payload, in PROTOCOL.md's order.
static void check_header(struct conn *c, uint32_t len, uint8_t type, uint8_t flags, uint32_t stream_id) {
    struct dc_fault f;
    if (dc_check_header(len, type, flags, stream_id, &f)) protocol_failure(c, f.code, "%s", f.why);
}

/// Handles every whole frame in p[0, n); returns how many octets that consumed.
static size_t handle_frames(struct conn *c, const uint8_t *p, size_t n, double at_ms) {
    size_t at = 0;
    while (n - at >= DC_HEADER_LEN) {
        const uint8_t *h = p + at;
        uint32_t len = dc_get_u32(h), stream_id = dc_get_u32(h + 6);
        check_header(c, len, h[4], h[5], stream_id);
        if (n - at < DC_HEADER_LEN + (size_t)len) break;
        at += DC_HEADER_LEN + len;
        handle_frame(c, h[4], h[5], stream_id, h + DC_HEADER_LEN, len, at_ms);
    }
    return at;
}

/// Octets just read into `scratch`: frames are handled straight from there;
/// only a frame cut by the read is kept in the connection's own buffer.
static void received(struct conn *c, size_t n, double at_ms) {
    struct dc_buf *b = &c->in;
    if (b->off == b->len) {
        size_t used = handle_frames(c, scratch, n, at_ms);
        if (used < n) {
            b->off = b->len = 0;
            dc_put_bytes(b, scratch + used, n - used);
        }
        return;
    }
    dc_put_bytes(b, scratch, n);
    b->off += handle_frames(c, b->data + b->off, b->len - b->off, at_ms);
    if (b->off == b->len) dc_buf_clear(b);
}

/// Reads what has arrived and handles it; `at_ms` is when epoll reported it.
/// epoll is level-triggered, so reading until OpenSSL holds nothing more is enough.
static void read_available(struct conn *c, double at_ms) {
    for (;;) {
        int n = SSL_read(c->ssl, scratch, (int)sizeof scratch);
        if (n > 0) {
            received(c, (size_t)n, at_ms);
            if (!SSL_has_pending(c->ssl)) return;
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ) return;
        if (err == SSL_ERROR_WANT_WRITE) {
            c->want_write = 1;
            return;
        }
        if (err == SSL_ERROR_ZERO_RETURN && c->in.off < c->in.len)
            protocol_failure(c, DC_PROTOCOL_ERROR, "the connection ended inside a frame");
        tls_failure(c, c->state == CS_AWAIT_HELLO ? "before its HELLO" : "while reading", n);
    }
}

/// The TLS handshake as far as the socket lets it go; then our HELLO.
static void handshake(struct conn *c, double at_ms) {
    int ret;
    enum dc_io step = dc_handshake(c->ssl, &c->want_write, &ret, conn_name(c));
    if (step == DC_IO_FAILED) tls_failure(c, "during the TLS handshake", ret);
    if (step == DC_IO_WAIT) return;
    dc_queue_hello(&c->out);
    c->state = CS_AWAIT_HELLO;
    flush(c);
    read_available(c, at_ms);
}

/// One epoll event for a connection, reported at `at_ms`.
static void on_event(struct conn *c, double at_ms) {
    if (c->state == CS_CONNECTING) {
        dc_check_connected(c->fd, &cfg, conn_name(c));
        c->state = CS_HANDSHAKING;
        handshake(c, at_ms);
    } else if (c->state == CS_HANDSHAKING) {
        handshake(c, at_ms);
    } else {
        if (c->want_write || c->out.off < c->out.len) flush(c);
        read_available(c, at_ms);
    }
    update_interest(c);
}

/// Starts a connection: a non-blocking TCP connect; the rest happens in the event loop.
static void open_connection(struct conn *c, enum role role, int index) {
    memset(c, 0, sizeof *c);
    c->role = role;
    c->index = index;
    c->next_stream_id = 1;
    c->peer_max_frame = DC_PEER_DEFAULT_MAX_FRAME;
    c->fd = socket(cfg.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        dc_die("%s: socket: %s%s", conn_name(c), strerror(errno),
            errno == EMFILE ? " (the file-descriptor limit is too low: ulimit -n)" : "");
    dc_no_delay(c->fd);  // every frame goes out at once
    c->ssl = dc_new_ssl(tls, c->fd, &cfg);
    SSL_set_app_data(c->ssl, c);
    // Subscribers resume the latest session one of them received, as the
    // Swift tool's shared client context does (its first batch cannot).
    if (role == ROLE_SUBSCRIBER && cached_session != NULL) SSL_set_session(c->ssl, cached_session);
    c->state = CS_CONNECTING;
    c->started_ms = dc_now_ms();
    dc_start_connect(epoll_fd, c->fd, &cfg, c, &c->events, conn_name(c));
}

/// close_notify (best effort, not waiting for the server's), then close.
static void close_connection(struct conn *c) {
    dc_close(c->ssl, c->fd, &c->in, &c->out);
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

/// OpenSSL's new-session callback: a TLS 1.3 ticket arrived on a subscriber's
/// connection. Keeps the latest one (taking OpenSSL's reference: returns 1).
static int new_session(SSL *ssl, SSL_SESSION *session) {
    const struct conn *c = SSL_get_app_data(ssl);
    if (c == NULL || c->role != ROLE_SUBSCRIBER || !SSL_SESSION_is_resumable(session)) return 0;
    if (cached_session != NULL) SSL_SESSION_free(cached_session);
    cached_session = session;
    return 1;
}

/// The client context (driver_common's), plus: sessions kept for resumption
/// by new_session, not OpenSSL's internal cache, and 10,000 idle connections
/// should not each pin OpenSSL's 2 × 16 KiB of buffers.
static void tls_setup(void) {
    tls = dc_tls_client_context(&cfg, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(tls, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(tls, new_session);
}

// ---------------------------------------------------------------------------
// The event loop and the phases of the benchmark
// ---------------------------------------------------------------------------

/// Waits up to `timeout_ms` for events and handles them.
///
/// Everything read for one batch of events is stamped with the time
/// epoll_wait returned it: the moment the driver knew the data was there. So
/// a subscriber handled late in a batch of thousands is not charged for this
/// one thread's work on the others (in a real deployment each subscriber is a
/// process of its own and reads at once).
static void loop_once(double timeout_ms) {
    static struct epoll_event events[4096];
    int k = epoll_wait(epoll_fd, events, 4096, timeout_ms < 0 ? 0 : (int)(timeout_ms + 0.999));
    if (k < 0) {
        if (errno == EINTR) return;
        dc_die("epoll_wait: %s", strerror(errno));
    }
    double at_ms = dc_now_ms();
    for (int i = 0; i < k; i++) on_event(events[i].data.ptr, at_ms);
}

/// Keeps every connection served (PINGs, heartbeats) for `ms`.
static void run_for(double ms) {
    double until = dc_now_ms() + ms;
    for (double now = dc_now_ms(); now < until; now = dc_now_ms()) loop_once(until - now);
}

/// The admin connection: connected, TLS done, HELLOs exchanged.
static void admin_connect(struct conn *admin) {
    open_connection(admin, ROLE_ADMIN, -1);
    while (admin->state != CS_READY) {
        loop_once(100);
        if (dc_now_ms() - admin->started_ms > CONNECT_TIMEOUT_MS)
            dc_die("admin connection: TLS and HELLO did not complete in %.0f s", CONNECT_TIMEOUT_MS / 1000);
    }
}

/// One unary call on the admin connection, served in the event loop with
/// everything else; returns when its OK trailers arrived, with their time.
static double admin_call(struct conn *admin, const char *path, const ProtobufCMessage *request) {
    start_unary(admin, path, request);
    while (admin->state == CS_IN_CALL) {
        loop_once(100);
        if (admin->state == CS_IN_CALL && dc_now_ms() - admin->started_ms > CALL_STALL_MS)
            dc_die("admin connection: no answer to %s in %.0f s", path, CALL_STALL_MS / 1000);
    }
    return admin->acked_ms;
}

/// Features/Define BenchFanout, as Writers.defineFeatures does.
static void define_feature(struct conn *admin) {
    Gatehouse__V1__Feature feature = GATEHOUSE__V1__FEATURE__INIT;
    feature.name = FEATURE_NAME;
    feature.stage = GATEHOUSE__V1__STAGE__STAGE_ALPHA;
    feature.default_enabled = 0;
    feature.description = "load generator feature";
    Gatehouse__V1__DefineFeatureRequest define = GATEHOUSE__V1__DEFINE_FEATURE_REQUEST__INIT;
    define.feature = &feature;
    define.reason = "load generator setup";
    admin_call(admin, DC_DEFINE_PATH, &define.base);
}

/// Features/Set: BenchFanout at component scope bench-fanout, as the Swift
/// tool's round does. Returns the ack time; the revision is in admin->set_revision.
static double set_feature(struct conn *admin, int enabled) {
    Gatehouse__V1__ComponentScope component = GATEHOUSE__V1__COMPONENT_SCOPE__INIT;
    component.component = COMPONENT;
    Gatehouse__V1__Scope scope = GATEHOUSE__V1__SCOPE__INIT;
    scope.scope_case = GATEHOUSE__V1__SCOPE__SCOPE_COMPONENT;
    scope.component = &component;
    Gatehouse__V1__Change change = GATEHOUSE__V1__CHANGE__INIT, *changes[1] = {&change};
    change.target_case = GATEHOUSE__V1__CHANGE__TARGET_FEATURE;
    change.feature = FEATURE_NAME;
    change.scope = &scope;
    change.enabled_present_case = GATEHOUSE__V1__CHANGE__ENABLED_PRESENT_ENABLED;
    change.enabled = enabled;
    Gatehouse__V1__SetRequest set = GATEHOUSE__V1__SET_REQUEST__INIT;
    set.n_changes = 1;
    set.changes = changes;
    set.reason = SET_REASON;
    admin->set_revision = 0;
    double acked = admin_call(admin, DC_SET_PATH, &set.base);
    if (admin->set_revision == 0) dc_die("admin connection: the SetResponse names no revision");
    return acked;
}

/// Connects `count` subscribers, at most --connect-concurrency handshakes at
/// once, and waits until every one has its snapshot.
static void connect_subscribers(struct conn *subs, int count) {
    in_flight = snapshots = resumed = 0;
    int next = 0;
    double last_check = dc_now_ms(), all_opened = 0;
    while (snapshots < count) {
        while (next < count && in_flight < opt.connect_concurrency) {
            open_connection(&subs[next], ROLE_SUBSCRIBER, next);
            next++;
            in_flight++;
        }
        if (next == count && all_opened == 0) all_opened = dc_now_ms();
        loop_once(100);
        double now = dc_now_ms();
        if (now - last_check < 1000) continue;
        last_check = now;
        for (int i = 0; i < next; i++) {
            const struct conn *c = &subs[i];
            if (c->state < CS_SUBSCRIBING && now - c->started_ms > CONNECT_TIMEOUT_MS)
                dc_die("%s: TLS and HELLO did not complete in %.0f s (server overloaded, or at its --max-connections?)",
                    conn_name(c), CONNECT_TIMEOUT_MS / 1000);
            if (c->state == CS_SUBSCRIBING && now - c->started_ms > ARRIVAL_TIMEOUT_MS)
                dc_die("%s: no snapshot %.0f s after subscribing (%d of %d subscribers have theirs)", conn_name(c),
                    ARRIVAL_TIMEOUT_MS / 1000, snapshots, count);
        }
    }
    // Every snapshot must show BenchFanout alike: the rounds flip that one state.
    for (int i = 1; i < count; i++)
        if (subs[i].snapshot_enabled != subs[0].snapshot_enabled)
            dc_die("subscribers s0 and s%d see %s differently in their snapshots; is another writer changing it?", i,
                FEATURE_NAME);
}

/// Raises the soft file-descriptor limit to what `most` connections need, or
/// says how far it can go and exits.
static void raise_file_limit(int most) {
    rlim_t need = (rlim_t)most + 64;  // one per connection, the admin's, epoll, stdio, config and /proc reads
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) != 0) dc_die("getrlimit: %s", strerror(errno));
    if (files.rlim_cur >= need) return;
    if (files.rlim_max != RLIM_INFINITY && files.rlim_max < need)
        dc_die("%d subscribers need about %llu file descriptors, but this process may open at most %llu (hard limit "
            "of RLIMIT_NOFILE): raise it (e.g. `ulimit -n %llu` in the shell, as root if need be) or lower --counts",
            most, (unsigned long long)need, (unsigned long long)files.rlim_max, (unsigned long long)need);
    files.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &files) != 0)
        dc_die("cannot raise the file-descriptor limit to %llu: %s", (unsigned long long)need, strerror(errno));
}

int main(int argc, char **argv) {
    dc_program = "subscriber_driver";
    parse_options(argc, argv);
    signal(SIGPIPE, SIG_IGN);  // a server that goes away is reported by OpenSSL, not by a signal
    dc_load_config(&cfg, opt.config_path);
    if (opt.server_pid && dc_process_cpu_seconds(opt.server_pid) < 0)
        dc_die("cannot read /proc/%ld/stat: no such process?", opt.server_pid);
    int most = 0;
    for (int i = 0; i < opt.n_counts; i++)
        if (opt.counts[i] > most) most = opt.counts[i];
    raise_file_limit(most);
    tls_setup();
    dc_resolve_server(&cfg);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) dc_die("epoll_create1: %s", strerror(errno));

    struct conn admin;
    admin_connect(&admin);
    define_feature(&admin);

    printf("one mTLS connection per subscriber. Latency: per subscriber and round, from the Set's ack (its response\n"
           "and OK trailers received; etcd's origin, \"from the put's ack\") to the arrival of that subscriber's delta\n"
           "at the Set's revision (when epoll reported it); a delta ahead of the ack counts 0. \"from send\": from the\n"
           "moment the Set was written. Server CPU: /proc/PID/stat over the rounds / rounds. Driver CPU: this\n"
           "process over the rounds / messages its subscribers received.\n");
    printf("subscribers  connect s  RSS KiB/subscriber  p50/p99/max ms from ack  p99 ms from send  "
           "server CPU ms/change  driver CPU µs/message\n");
    fflush(stdout);

    size_t max_samples = (size_t)most * (size_t)opt.rounds;
    double *from_ack = dc_xrealloc(NULL, max_samples * sizeof *from_ack);
    double *from_send = dc_xrealloc(NULL, max_samples * sizeof *from_send);
    arrival_ms = dc_xrealloc(NULL, (size_t)most * sizeof *arrival_ms);
    for (int k = 0; k < opt.n_counts; k++) {
        int count = opt.counts[k];
        long rss_before = opt.server_pid ? process_rss_kib(opt.server_pid) : -1;
        struct conn *subs = calloc((size_t)count, sizeof *subs);
        if (subs == NULL) dc_die("out of memory");
        double connect_start = dc_now_ms();
        connect_subscribers(subs, count);
        double connect_seconds = (dc_now_ms() - connect_start) / 1000;
        run_for(SETTLE_MS);
        long rss_after = opt.server_pid ? process_rss_kib(opt.server_pid) : -1;

        double server_before = opt.server_pid ? dc_process_cpu_seconds(opt.server_pid) : -1;
        double own_before = dc_own_cpu_seconds();
        uint64_t messages_before = messages;
        size_t samples = 0;
        int enabled = subs[0].snapshot_enabled;
        for (int round = 0; round < opt.rounds; round++) {
            enabled = !enabled;
            awaited_revision = 0;  // unknown until the Set is acked; deltas wait in each subscriber's `recent`
            awaited_enabled = enabled;
            arrived = 0;
            double sent = dc_now_ms();
            double acked = set_feature(&admin, enabled);
            awaited_revision = admin.set_revision;
            for (int i = 0; i < count; i++) {  // deltas that came before the ack
                struct conn *c = &subs[i];
                for (int j = 0; j < RECENT && c->arrived_revision != awaited_revision; j++)
                    if (c->recent[j].revision == awaited_revision) got_awaited(c, &c->recent[j]);
            }
            while (arrived < count) {
                double left = acked + ARRIVAL_TIMEOUT_MS - dc_now_ms();
                if (left <= 0) {
                    int missing = 0;
                    while (subs[missing].arrived_revision == awaited_revision) missing++;
                    dc_die("round %d of %d subscribers: only %d had the delta at r%llu %.0f s after the Set's ack "
                        "(s%d has not: it reached r%llu)",
                        round + 1, count, arrived, (unsigned long long)awaited_revision, ARRIVAL_TIMEOUT_MS / 1000,
                        missing, (unsigned long long)subs[missing].reached);
                }
                loop_once(left < 100 ? left : 100);
            }
            for (int i = 0; i < count; i++) {
                double ack_ms = arrival_ms[i] - acked, send_ms = arrival_ms[i] - sent;
                from_ack[samples] = ack_ms > 0 ? ack_ms : 0;  // a delta can beat the ack to us
                from_send[samples++] = send_ms;
            }
            run_for(ROUND_PAUSE_MS);
        }
        awaited_revision = 0;
        double server_after = opt.server_pid ? dc_process_cpu_seconds(opt.server_pid) : -1;
        double own_after = dc_own_cpu_seconds();
        uint64_t received_messages = messages - messages_before;

        qsort(from_ack, samples, sizeof *from_ack, dc_compare_doubles);
        qsort(from_send, samples, sizeof *from_send, dc_compare_doubles);
        char rss[32] = "-", server_cpu[32] = "-", own_cpu[32] = "-";
        if (rss_before >= 0 && rss_after >= 0)
            snprintf(rss, sizeof rss, "%.1f", (double)(rss_after - rss_before) / count);
        if (server_before >= 0 && server_after >= 0)
            snprintf(server_cpu, sizeof server_cpu, "%.1f", (server_after - server_before) * 1000 / opt.rounds);
        if (received_messages > 0)
            snprintf(own_cpu, sizeof own_cpu, "%.1f", (own_after - own_before) * 1e6 / (double)received_messages);
        printf("%-13d%9.1f  %-20s%6.1f / %6.1f / %6.1f  %16.1f  %-22s%s\n", count, connect_seconds, rss,
               dc_percentile(from_ack, samples, 0.50), dc_percentile(from_ack, samples, 0.99), from_ack[samples - 1],
               dc_percentile(from_send, samples, 0.99), server_cpu, own_cpu);
        fflush(stdout);
        fprintf(stderr,
                "subscriber_driver: %d subscribers: %d TLS sessions resumed, %llu messages received in %d rounds, "
                "driver CPU %.3f s over the rounds\n",
                count, resumed, (unsigned long long)received_messages, opt.rounds, own_after - own_before);

        for (int i = 0; i < count; i++) close_connection(&subs[i]);
        free(subs);
        run_for(CLOSE_PAUSE_MS);
    }
    close_connection(&admin);
    SSL_CTX_free(tls);
    return 0;
}
