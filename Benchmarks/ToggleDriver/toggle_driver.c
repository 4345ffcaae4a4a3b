// toggle_driver: durable toggles per second against a Gatehouse server, from
// a client that costs little CPU.
//
// It measures the same thing as `gatehouse-load toggles` (Benchmarks/
// LoadGenerator/ToggleBenchmark.swift) and prints the same table, but the
// Swift load generator spends about 120 µs of CPU per toggle, which on a small
// machine is CPU the server does not get. This driver is one thread, one epoll
// loop, OpenSSL used directly and protobuf-c messages, so nearly all of the
// machine is left to the server (its own CPU per toggle is the last column).
//
// What it does, as the Swift tool does:
//   1. One connection defines the feature BenchToggle with Features/Define
//      (alpha, default off, "load generator feature"; replacing an existing
//      definition with the same one is harmless).
//   2. For each writer count N: N connections (TLS 1.3, mutual TLS, ALPN
//      gatehouse/1, HELLO exchanged), then for --seconds every writer i
//      toggles its own instance override (component "bench", instance "w<i>")
//      in a closed loop: one Features/Set call, wait for its response and OK
//      trailers, record the latency, send the next.
//   3. One row per writer count: toggles/s, p50 and p99 latency, the server's
//      CPU per toggle (/proc/PID/stat, with --server-pid) and this driver's
//      (getrusage).
//
// The wire protocol is PROTOCOL.md: a 10-octet frame header (length 4, type 1,
// flags 1, stream id 4, big-endian), HELLO/HEADERS/MESSAGE/TRAILERS frames.
// Any refusal, non-OK status or protocol error ends the run with a message
// and exit status 1.
//
// Build with build.sh next to this file (it generates the protobuf-c code from
// Proto/ and compiles); run with --help for the options.
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
#include "gatehouse/v1/errors.pb-c.h"
#include "gatehouse/v1/features.pb-c.h"

// ---------------------------------------------------------------------------
// What the benchmark sends: the same requests as Writers.swift (the frame
// constants, ALPN and method paths are in ../DriverCommon/driver_common.h)
// ---------------------------------------------------------------------------

#define FEATURE_NAME "BenchToggle"
#define BENCH_COMPONENT "bench"
#define SET_REASON "benchmark"

// A call or a handshake that takes longer than this ends the run (the Swift
// tool's calls carry no deadline either; this only keeps a hung server from
// hanging the driver).
#define STALL_MS 30000.0

// ---------------------------------------------------------------------------
// Options and the client config
// ---------------------------------------------------------------------------

static struct {
    const char *config_path;
    int *writer_counts;
    int n_writer_counts;
    double seconds;
    long server_pid;  // 0: not given
} opt = {.seconds = 10};

static struct dc_config cfg;  // from the client config file

static void usage(FILE *to) {
    fputs(
        "usage: toggle_driver --config PATH [--writers 1,16,64,256] [--seconds 10] [--server-pid PID]\n"
        "\n"
        "Durable toggles/s and p50/p99 latency at several concurrent writer counts over mTLS,\n"
        "as `gatehouse-load toggles` measures them, from a lean C client (one thread, epoll,\n"
        "OpenSSL, protobuf-c). Each writer has its own TLS 1.3 connection and toggles its own\n"
        "instance override of BenchToggle (component bench, instance w<index>) with one\n"
        "Features/Set call at a time until the time is up. The feature is defined first\n"
        "(Features/Define, as the Swift tool does).\n"
        "\n"
        "  --config PATH     client config of an admin (Features/Define needs admin): server:,\n"
        "                    ca:, certificate:, key:, optionally server_name:; e.g. the\n"
        "                    DATA_DIR/admin.conf that `gatehouse serve` writes\n"
        "  --writers LIST    writer counts to measure, comma separated (default 1,16,64,256)\n"
        "  --seconds S       seconds per writer count (default 10)\n"
        "  --server-pid PID  the server's pid, to report its CPU time per toggle\n"
        "  --help            this text\n"
        "\n"
        "Prints one row per writer count; CPU columns are µs of CPU per toggle (server: utime +\n"
        "stime of PID from /proc; driver: this process, from getrusage). Exits 1 with a message\n"
        "on any refused connection, non-OK status or protocol error.\n",
        to);
}

static void parse_writer_counts(const char *list) {
    opt.n_writer_counts = 0;
    free(opt.writer_counts);
    opt.writer_counts = NULL;
    const char *p = list;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno != 0 || v < 1 || v > 100000 || (*end != ',' && *end != '\0'))
            dc_die("--writers wants a comma separated list of positive counts, e.g. 1,16,64 (got \"%s\")", list);
        opt.writer_counts = dc_xrealloc(opt.writer_counts, sizeof(int) * (size_t)(opt.n_writer_counts + 1));
        opt.writer_counts[opt.n_writer_counts++] = (int)v;
        if (*end == '\0') break;
        p = end + 1;
    }
}

static void parse_options(int argc, char **argv) {
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},  {"writers", required_argument, NULL, 'w'},
        {"seconds", required_argument, NULL, 's'}, {"server-pid", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    parse_writer_counts("1,16,64,256");
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c':
            opt.config_path = optarg;
            break;
        case 'w':
            parse_writer_counts(optarg);
            break;
        case 's':
            opt.seconds = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(opt.seconds > 0) || opt.seconds > 86400)
                dc_die("--seconds wants a positive number of seconds (got \"%s\")", optarg);
            break;
        case 'p':
            opt.server_pid = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || opt.server_pid <= 0)
                dc_die("--server-pid wants a process id (got \"%s\")", optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        usage(stderr);
        fprintf(stderr, "toggle_driver: unexpected argument \"%s\"\n", argv[optind]);
        exit(2);
    }
    if (opt.config_path == NULL) {
        usage(stderr);
        fprintf(stderr, "toggle_driver: --config is required\n");
        exit(2);
    }
}

static SSL_CTX *tls;

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

enum conn_state {
    CS_CONNECTING,   // TCP connect in progress
    CS_HANDSHAKING,  // TLS handshake
    CS_AWAIT_HELLO,  // our HELLO sent, waiting for the server's
    CS_READY,        // idle: no call open
    CS_IN_CALL,      // one call open, waiting for its response and trailers
};

enum call_kind { CALL_DEFINE, CALL_SET };

/// One writer's connection and its one open call.
struct conn {
    int index;  // the writer's index (instance "w<index>"); -1 for the setup connection
    int fd;
    SSL *ssl;
    enum conn_state state;
    uint32_t events;     // the epoll interest registered now
    int want_write;      // OpenSSL asked to be called again when the socket is writable
    struct dc_buf in, out;  // received, not yet parsed; to send, not yet sent
    uint32_t peer_max_frame;
    uint32_t next_stream_id;  // 1, 3, 5, … as the Swift client counts
    char instance[16];        // "w<index>"
    int enabled;              // the value of the last Set this writer sent
    // The open call:
    enum call_kind kind;
    uint32_t stream_id;
    int responses;  // MESSAGE frames received on it
    double started_ms;
};

static int epoll_fd;
static int busy;             // connections that have not reached the current phase's goal yet
static int measuring;        // in the toggle phase: Set calls repeat until the deadline
static double deadline_ms;   // when writers stop starting calls
static double *latencies;    // milliseconds, one per completed Set
static size_t n_latencies, cap_latencies;

static const char *conn_name(const struct conn *c) {
    static char name[32];
    if (c->index < 0) return "setup connection";
    snprintf(name, sizeof name, "writer %d", c->index);
    return name;
}

/// Ends the run for a connection error of the server's making: sends GOAWAY
/// with `code` (best effort, as PROTOCOL.md asks) and exits 1.
__attribute__((noreturn, format(printf, 3, 4))) static void protocol_failure(struct conn *c, int code,
                                                                             const char *format, ...) {
    va_list args;
    va_start(args, format);  // no va_end: dc_protocol_failure does not return
    dc_protocol_failure(c->ssl, &c->out, conn_name(c), code, format, args);
}

/// Ends the run for a failed TLS operation, saying why as precisely as OpenSSL knows.
__attribute__((noreturn)) static void tls_failure(struct conn *c, const char *during, int ret) {
    int saved_errno = errno;
    dc_tls_failure(c->ssl, &cfg, conn_name(c), during, ret, saved_errno, c->state == CS_AWAIT_HELLO, "");
}

/// Registers the epoll interest the connection needs now, if it changed.
static void update_interest(struct conn *c) {
    uint32_t want;
    if (c->state == CS_CONNECTING) want = EPOLLOUT;
    else want = EPOLLIN | (c->want_write || c->out.off < c->out.len ? EPOLLOUT : 0);
    dc_set_interest(epoll_fd, c->fd, c, &c->events, want);
}

/// Sends what `out` holds, as far as the socket takes it.
static void flush(struct conn *c) {
    int ret;
    if (dc_flush(c->ssl, &c->out, &c->want_write, &ret) == DC_IO_FAILED) tls_failure(c, "while sending", ret);
}

/// Opens a call: HEADERS (path, no deadline, no metadata) and MESSAGE with END_STREAM, in one write.
static void start_call(struct conn *c, enum call_kind kind) {
    if (c->next_stream_id > DC_MAX_STREAM_ID) dc_die("%s: stream ids used up on this connection", conn_name(c));
    c->kind = kind;
    c->stream_id = c->next_stream_id;
    c->next_stream_id += 2;
    c->responses = 0;

    const char *path;
    const ProtobufCMessage *request;
    // The request messages live on this stack frame only until they are packed below.
    Gatehouse__V1__Feature feature = GATEHOUSE__V1__FEATURE__INIT;
    Gatehouse__V1__DefineFeatureRequest define = GATEHOUSE__V1__DEFINE_FEATURE_REQUEST__INIT;
    Gatehouse__V1__InstanceScope instance = GATEHOUSE__V1__INSTANCE_SCOPE__INIT;
    Gatehouse__V1__Scope scope = GATEHOUSE__V1__SCOPE__INIT;
    Gatehouse__V1__Change change = GATEHOUSE__V1__CHANGE__INIT, *changes[1] = {&change};
    Gatehouse__V1__SetRequest set = GATEHOUSE__V1__SET_REQUEST__INIT;
    if (kind == CALL_DEFINE) {
        // Writers.defineFeatures: FeatureDefinition(name, stage: .alpha, defaultEnabled: false,
        // description: "load generator feature") at revision 0, reason "load generator setup".
        feature.name = FEATURE_NAME;
        feature.stage = GATEHOUSE__V1__STAGE__STAGE_ALPHA;
        feature.default_enabled = 0;
        feature.description = "load generator feature";
        define.feature = &feature;
        define.reason = "load generator setup";
        path = DC_DEFINE_PATH;
        request = &define.base;
    } else {
        // Writers.setRequest: one change, the feature at instance scope bench/w<index>.
        c->enabled = !c->enabled;
        instance.component = BENCH_COMPONENT;
        instance.instance_id = c->instance;
        scope.scope_case = GATEHOUSE__V1__SCOPE__SCOPE_INSTANCE;
        scope.instance = &instance;
        change.target_case = GATEHOUSE__V1__CHANGE__TARGET_FEATURE;
        change.feature = FEATURE_NAME;
        change.scope = &scope;
        change.enabled_present_case = GATEHOUSE__V1__CHANGE__ENABLED_PRESENT_ENABLED;
        change.enabled = c->enabled;
        set.n_changes = 1;
        set.changes = changes;
        set.reason = SET_REASON;
        // As Writers.setRequest: no catalog names "bench" and nothing registers it.
        set.allow_unknown_component = 1;
        path = DC_SET_PATH;
        request = &set.base;
    }
    size_t size = protobuf_c_message_get_packed_size(request);
    if (size > c->peer_max_frame)
        dc_die("%s: RESOURCE_EXHAUSTED: a %zu-octet request exceeds the server's maximum frame size %u", conn_name(c),
            size, c->peer_max_frame);

    dc_queue_call(&c->out, c->stream_id, path, request, size, 1);

    c->state = CS_IN_CALL;
    c->started_ms = dc_now_ms();
    flush(c);
}

/// The open call answered OK with one response: record it, and go on or stop.
static void call_done(struct conn *c) {
    double end = dc_now_ms();
    c->state = CS_READY;
    if (c->kind == CALL_SET) {
        if (n_latencies == cap_latencies) {
            cap_latencies = cap_latencies ? cap_latencies * 2 : 65536;
            latencies = dc_xrealloc(latencies, cap_latencies * sizeof *latencies);
        }
        latencies[n_latencies++] = end - c->started_ms;
        if (measuring && end < deadline_ms) {
            start_call(c, CALL_SET);
            return;
        }
    }
    busy--;
}

/// A non-OK TRAILERS: print the status, its message and any ErrorDetails, and exit.
__attribute__((noreturn)) static void call_failed(struct conn *c, uint16_t status, const uint8_t *message,
                                                  size_t message_len, const uint8_t *details, size_t details_len) {
    dc_call_failed(conn_name(c), c->kind == CALL_SET ? DC_SET_PATH : DC_DEFINE_PATH, "failed", status, message,
                   message_len, details, details_len);
}

/// Acts on one whole frame whose header passed check_header.
static void handle_frame(struct conn *c, uint8_t type, uint8_t flags, uint32_t stream_id, const uint8_t *p,
                         uint32_t len) {
    const char *name = DC_FRAME_NAMES[type];
    struct dc_fault f;
    if (dc_check_frame_from_server(type, c->state == CS_AWAIT_HELLO, &f)) protocol_failure(c, f.code, "%s", f.why);

    switch (type) {
    case DC_FT_HELLO:
        if (c->state != CS_AWAIT_HELLO) protocol_failure(c, DC_PROTOCOL_ERROR, "a second HELLO");
        // Only MAX_FRAME_SIZE matters to one call at a time; unknown settings are ignored.
        if (dc_parse_server_hello(p, len, &c->peer_max_frame, &f)) protocol_failure(c, f.code, "%s", f.why);
        c->state = CS_READY;
        busy--;
        return;
    case DC_FT_PING:
        if (!(flags & DC_FLAG_ACK)) {  // answer at once with ACK and the same 8 octets
            dc_queue_ping_ack(&c->out, p);
            flush(c);
        }
        return;
    case DC_FT_GOAWAY:
        dc_goaway_from_server(p, len, conn_name(c), c->state == CS_AWAIT_HELLO, &f);  // returns only if malformed
        protocol_failure(c, f.code, "%s", f.why);
    case DC_FT_MESSAGE:
    case DC_FT_TRAILERS:
        break;
    }

    // MESSAGE and TRAILERS belong to the one open call.
    if (c->state != CS_IN_CALL || stream_id != c->stream_id)
        protocol_failure(c, DC_PROTOCOL_ERROR, "%s on stream %u, which has no open call", name, stream_id);
    if (type == DC_FT_MESSAGE) {
        if (flags & DC_FLAG_END_STREAM)
            protocol_failure(c, DC_PROTOCOL_ERROR, "the server set END_STREAM on a MESSAGE");
        if (++c->responses > 1) dc_die("%s: the server sent more than one response to a unary call", conn_name(c));
        // Decode the response, as a real client would (and to be sure it is one).
        ProtobufCMessage *response =
            c->kind == CALL_SET ? (ProtobufCMessage *)gatehouse__v1__set_response__unpack(NULL, len, p)
                                : (ProtobufCMessage *)gatehouse__v1__define_feature_response__unpack(NULL, len, p);
        if (response == NULL)
            dc_die("%s: the response on stream %u does not decode as %s", conn_name(c), stream_id,
                c->kind == CALL_SET ? "SetResponse" : "DefineFeatureResponse");
        protobuf_c_message_free_unpacked(response, NULL);
        return;
    }
    // TRAILERS: status 2, message str16, details bytes32.
    uint16_t status, message_len;
    uint32_t details_len;
    if (dc_parse_trailers(p, len, &status, &message_len, &details_len, &f)) protocol_failure(c, f.code, "%s", f.why);
    if (status != DC_STATUS_OK) call_failed(c, status, p + 4, message_len, p + 8 + message_len, details_len);
    if (c->responses != 1) dc_die("%s: the server answered a unary call OK without a response", conn_name(c));
    call_done(c);
}

/// Checks the 10 header octets alone, before any payload, in PROTOCOL.md's order.
static void check_header(struct conn *c, uint32_t len, uint8_t type, uint8_t flags, uint32_t stream_id) {
    struct dc_fault f;
    if (dc_check_header(len, type, flags, stream_id, &f)) protocol_failure(c, f.code, "%s", f.why);
}

/// Handles every whole frame in `in`; a partial one waits for more octets.
static void handle_input(struct conn *c) {
    struct dc_buf *b = &c->in;
    while (b->len - b->off >= DC_HEADER_LEN) {
        const uint8_t *h = b->data + b->off;
        uint32_t len = dc_get_u32(h), stream_id = dc_get_u32(h + 6);
        uint8_t type = h[4], flags = h[5];
        check_header(c, len, type, flags, stream_id);
        if (b->len - b->off < DC_HEADER_LEN + (size_t)len) break;
        b->off += DC_HEADER_LEN + len;  // consumed before handling: handling may queue output, never input
        handle_frame(c, type, flags, stream_id, h + DC_HEADER_LEN, len);
    }
    if (b->off == b->len) b->off = b->len = 0;
}

/// Reads what has arrived and handles it. With level-triggered epoll it is
/// enough to read until OpenSSL holds nothing more; epoll reports the rest.
static void read_available(struct conn *c) {
    for (;;) {
        dc_buf_reserve(&c->in, 16384);
        int n = SSL_read(c->ssl, c->in.data + c->in.len, (int)(c->in.cap - c->in.len));
        if (n > 0) {
            c->in.len += (size_t)n;
            handle_input(c);
            if (!SSL_has_pending(c->ssl)) return;
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ) return;
        if (err == SSL_ERROR_WANT_WRITE) {
            c->want_write = 1;
            return;
        }
        if (err == SSL_ERROR_ZERO_RETURN && c->in.len > c->in.off)
            protocol_failure(c, DC_PROTOCOL_ERROR, "the connection ended inside a frame");
        tls_failure(c, c->state == CS_AWAIT_HELLO ? "before its HELLO" : "while reading", n);
    }
}

/// The TLS handshake, as far as the sockets let it go; then our HELLO.
static void handshake(struct conn *c) {
    int ret;
    enum dc_io step = dc_handshake(c->ssl, &c->want_write, &ret, conn_name(c));
    if (step == DC_IO_FAILED) tls_failure(c, "during the TLS handshake", ret);
    if (step == DC_IO_WAIT) return;
    dc_queue_hello(&c->out);
    c->state = CS_AWAIT_HELLO;
    flush(c);
    read_available(c);
}

/// The TCP connect finished (or failed): on to TLS.
static void connected(struct conn *c) {
    dc_check_connected(c->fd, &cfg, conn_name(c));
    c->state = CS_HANDSHAKING;
    handshake(c);
}

/// One epoll event for a connection.
static void on_event(struct conn *c) {
    switch (c->state) {
    case CS_CONNECTING:
        connected(c);
        break;
    case CS_HANDSHAKING:
        handshake(c);
        break;
    default:
        if (c->want_write || c->out.off < c->out.len) flush(c);
        read_available(c);
        break;
    }
    update_interest(c);
}

/// Starts `n` connections (TCP connect, then everything else in the event loop).
static struct conn *open_connections(int n, int first_index) {
    struct conn *conns = calloc((size_t)n, sizeof *conns);
    if (conns == NULL) dc_die("out of memory");
    for (int i = 0; i < n; i++) {
        struct conn *c = &conns[i];
        c->index = first_index < 0 ? -1 : first_index + i;
        snprintf(c->instance, sizeof c->instance, "w%d", c->index);
        c->next_stream_id = 1;
        c->peer_max_frame = DC_PEER_DEFAULT_MAX_FRAME;
        c->fd = socket(cfg.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) dc_die("socket: %s", strerror(errno));
        dc_no_delay(c->fd);  // each call goes out at once
        c->ssl = dc_new_ssl(tls, c->fd, &cfg);
        c->state = CS_CONNECTING;
        c->started_ms = dc_now_ms();  // for the stall check until a call starts
        dc_start_connect(epoll_fd, c->fd, &cfg, c, &c->events, conn_name(c));
    }
    busy = n;  // each becomes ready when the server's HELLO arrives
    return conns;
}

/// close_notify (best effort, not waiting for the server's), then close.
static void close_connections(struct conn *conns, int n) {
    for (int i = 0; i < n; i++) dc_close(conns[i].ssl, conns[i].fd, &conns[i].in, &conns[i].out);
    free(conns);
}

/// Runs the event loop until every connection reached the phase's goal
/// (`busy` is 0). A connection that spends STALL_MS connecting or in one
/// call ends the run.
static void run_until_idle(struct conn *conns, int n) {
    struct epoll_event events[256];
    double last_check = dc_now_ms();
    while (busy > 0) {
        int k = epoll_wait(epoll_fd, events, 256, 1000);
        if (k < 0) {
            if (errno == EINTR) continue;
            dc_die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < k; i++) on_event(events[i].data.ptr);
        double now = dc_now_ms();
        if (now - last_check < 1000) continue;
        last_check = now;
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[i];
            if (c->state != CS_READY && now - c->started_ms > STALL_MS)
                dc_die("%s: %s in %.0f s", conn_name(c),
                    c->state == CS_IN_CALL ? "no answer to a call" : "TLS and HELLO did not complete",
                    STALL_MS / 1000);
        }
    }
}

// ---------------------------------------------------------------------------
// The benchmark
// ---------------------------------------------------------------------------

/// CPU µs per toggle as text, "-" when unknown (as ToggleBenchmark.microsecondsPerToggle).
static void per_toggle(char *out, size_t size, double before, double after, size_t toggles) {
    if (before < 0 || after < 0) snprintf(out, size, "-");
    else snprintf(out, size, "%.0f", (after - before) / (double)(toggles > 0 ? toggles : 1) * 1e6);
}

int main(int argc, char **argv) {
    dc_program = "toggle_driver";
    parse_options(argc, argv);
    signal(SIGPIPE, SIG_IGN);  // a server that goes away is reported by OpenSSL, not by a signal
    dc_load_config(&cfg, opt.config_path);
    if (opt.server_pid && dc_process_cpu_seconds(opt.server_pid) < 0)
        dc_die("cannot read /proc/%ld/stat: no such process?", opt.server_pid);

    // One descriptor per writer, plus a few.
    int most = 1;
    for (int i = 0; i < opt.n_writer_counts; i++)
        if (opt.writer_counts[i] > most) most = opt.writer_counts[i];
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < (rlim_t)most + 64) {
        files.rlim_cur = files.rlim_max < (rlim_t)most + 64 ? files.rlim_max : (rlim_t)most + 64;
        setrlimit(RLIMIT_NOFILE, &files);
    }

    tls = dc_tls_client_context(&cfg, 0);
    dc_resolve_server(&cfg);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) dc_die("epoll_create1: %s", strerror(errno));

    // The feature the writers toggle, defined as Writers.defineFeatures does.
    struct conn *setup = open_connections(1, -1);
    run_until_idle(setup, 1);
    busy = 1;
    start_call(&setup[0], CALL_DEFINE);
    update_interest(&setup[0]);
    run_until_idle(setup, 1);
    close_connections(setup, 1);

    printf("one connection per writer\n");
    printf("writers  toggles/s   p50 ms   p99 ms   server CPU µs/toggle   driver CPU µs/toggle\n");
    fflush(stdout);
    for (int w = 0; w < opt.n_writer_counts; w++) {
        int count = opt.writer_counts[w];
        struct conn *conns = open_connections(count, 0);
        run_until_idle(conns, count);  // all connected, TLS done, HELLOs exchanged

        double server_before = opt.server_pid ? dc_process_cpu_seconds(opt.server_pid) : -1;
        double own_before = dc_own_cpu_seconds();
        double started = dc_now_ms();
        deadline_ms = started + opt.seconds * 1000;
        n_latencies = 0;
        measuring = 1;
        busy = count;
        for (int i = 0; i < count; i++) {
            start_call(&conns[i], CALL_SET);
            update_interest(&conns[i]);
        }
        run_until_idle(conns, count);
        measuring = 0;
        double elapsed = (dc_now_ms() - started) / 1000;
        double server_after = opt.server_pid ? dc_process_cpu_seconds(opt.server_pid) : -1;
        double own_after = dc_own_cpu_seconds();

        qsort(latencies, n_latencies, sizeof *latencies, dc_compare_doubles);
        char server_cpu[32], own_cpu[32];
        per_toggle(server_cpu, sizeof server_cpu, server_before, server_after, n_latencies);
        per_toggle(own_cpu, sizeof own_cpu, own_before, own_after, n_latencies);
        printf("%-9d%9.0f  %7.2f  %7.2f   %-23s%s\n", count, (double)n_latencies / elapsed,
               dc_percentile(latencies, n_latencies, 0.50), dc_percentile(latencies, n_latencies, 0.99), server_cpu,
               own_cpu);
        fflush(stdout);
        close_connections(conns, count);
    }
    SSL_CTX_free(tls);
    return 0;
}
