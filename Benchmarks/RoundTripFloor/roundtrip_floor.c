// roundtrip_floor: the machine's floor for durable toggles per second over
// mutual TLS, with no Swift and no domain logic.
//
// It answers "how fast could ANY server written on this machine's OpenSSL and
// SQLite go, on these cores, doing the least work a durable, audited toggle
// needs?", so the toggle benchmark's figures for `gatehouse serve` can be read
// against it. It is a measuring tool, not a server: it answers the C toggle
// driver (Benchmarks/ToggleDriver) exactly as far as the driver needs.
//
// What it does per connection, as the real server does:
//   - TLS as Sources/GatehouseTLS/TLSContext.swift sets it up: TLS 1.2 minimum
//     (the driver speaks 1.3), the same AEAD ciphers and groups, a client
//     certificate required and verified against pki/ca.crt, ALPN gatehouse/1,
//     one session ticket, TCP_NODELAY; the actor is the certificate's CN.
//   - PROTOCOL.md's framing: HELLO exchange, HEADERS + MESSAGE per call, the
//     request decoded with protobuf-c (DefineFeatureRequest, SetRequest), a real
//     encoded response (its revision), then OK trailers; errors as TRAILERS or
//     GOAWAY. Concurrent streams, CANCEL, PING and the client's GOAWAY work;
//     deadlines, keepalive pings, idle and handshake timeouts are not enforced.
// T event-loop threads (default 2, one per core, as SwiftNIO's
// MultiThreadedEventLoopGroup), each with its own epoll; the first also
// accepts and hands connections round-robin to all of them.
//
// --store none: every call is answered at once (kernel loopback + OpenSSL +
// framing + protobuf). --store DIR: the leanest durable store: one SQLite
// database DIR/roundtrip.db, WAL, synchronous=FULL, one table
// journal(revision, time_ms, actor, request). Event loops queue decoded calls
// to one writer thread; it takes all that is queued, writes one row per call
// in ONE transaction (one fsync: group commit, never waiting to fill a group),
// then hands the revisions back to each call's event loop (a queue and an
// eventfd per loop), which sends the response and trailers. A call is
// answered only after its COMMIT returned.
//
// SIGINT or SIGTERM prints one line: calls answered, groups committed, mean group size.
//
//   Benchmarks/RoundTripFloor/build.sh     # prints the binary's path
//   .gen/roundtrip_floor --data-dir /tmp/ghb --listen 127.0.0.1:7555 --store /tmp/rtf/db
//   toggle_driver --config CONF --writers 1,16,64,256 --seconds 5 --server-pid PID
//   (CONF: a copy of DATA_DIR/admin.conf whose `server:` is 127.0.0.1:7555)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "driver_common.h"
#include "gatehouse/v1/features.pb-c.h"

#define MAX_STREAMS 100  // MAX_CONCURRENT_STREAMS we announce, the real server's default
enum { ST_INVALID_ARGUMENT = 3, ST_RESOURCE_EXHAUSTED = 8, ST_UNIMPLEMENTED = 12 };  // TRAILERS status
enum { UNSUPPORTED_VERSION = 3 };                                                   // GOAWAY code

enum tag { TAG_LISTEN, TAG_WAKE, TAG_CONN };  // the first field of what epoll events point to
enum method { M_DEFINE, M_SET };
enum stream_state { S_AWAIT_MESSAGE, S_DISPATCHED, S_HALF_CLOSED };  // dispatched: END_STREAM not seen yet
enum conn_state { C_HANDSHAKING, C_AWAIT_HELLO, C_OPEN, C_CLOSED };

struct conn;
/// One decoded call on its way to the writer and back (store mode).
struct call {
    struct call *next;
    struct conn *conn;  // not freed while calls are in flight (conn->inflight)
    uint32_t stream_id;
    enum method method;
    uint64_t revision;  // set by the writer
    size_t len;
    uint8_t request[];  // the request as received: the audit row's blob
};

/// An event-loop thread: its epoll, and the answers the writer handed back.
struct loop {
    enum tag tag;  // TAG_WAKE: its eventfd
    int epfd, wakefd;
    pthread_mutex_t lock;
    struct call *done, *done_tail;  // under lock
    struct conn *dead;              // closed connections, freed once no call of theirs is in flight
    _Atomic unsigned long answered;
};

struct stream {
    uint32_t id;
    uint8_t method, state;
};

struct conn {
    enum tag tag;  // TAG_CONN
    enum conn_state state;
    int fd, want_write;
    uint32_t events;
    SSL *ssl;
    struct loop *loop;
    struct dc_buf in, out;
    uint32_t last_opened;  // highest stream id opened
    int goaway;            // the client said it opens no more calls
    int inflight;          // calls at the writer
    int n_open;
    struct stream open[MAX_STREAMS];
    char actor[65];  // the client certificate's CN; read by the writer, never changed once set
    struct conn *next_dead;
};

static struct {
    const char *data_dir, *listen, *store;
    int threads;
} opt = {.listen = "127.0.0.1:7555", .threads = 2, .store = "none"};

static SSL_CTX *tls;
static struct loop *loops;
static int listen_fd, storing;
static enum tag listen_tag = TAG_LISTEN;
static _Atomic uint64_t next_revision = 1;  // --store none
// The writer's queue and its figures.
static pthread_mutex_t wq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wq_cond = PTHREAD_COND_INITIALIZER;
static struct call *wq_head, *wq_tail;
static sqlite3 *db;
static uint64_t db_revision;  // the last revision written
static _Atomic unsigned long groups, stored;

static void usage(FILE *to) {
    fputs("usage: roundtrip_floor --data-dir D [--listen 127.0.0.1:7555] [--threads 2] [--store none|DIR]\n"
          "\n"
          "A minimal mTLS Gatehouse-protocol server answering Features/Define and Features/Set\n"
          "(as Benchmarks/ToggleDriver sends them), to measure the machine's floor for durable toggles.\n"
          "\n"
          "  --data-dir D      a Gatehouse data directory: uses D/pki/server.crt, server.key, ca.crt\n"
          "  --listen H:PORT   address to listen on (default 127.0.0.1:7555)\n"
          "  --threads N       event-loop threads, each with its own epoll (default 2)\n"
          "  --store none|DIR  none: answer at once; DIR: commit one journal row per call to\n"
          "                    DIR/roundtrip.db (SQLite WAL, synchronous=FULL, group commit) first\n"
          "  --help            this text\n"
          "\n"
          "SIGINT/SIGTERM prints calls answered, groups committed and mean group size, and exits.\n",
          to);
}

static void parse_options(int argc, char **argv) {
    static const struct option longs[] = {{"data-dir", required_argument, NULL, 'd'},
                                          {"listen", required_argument, NULL, 'l'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"store", required_argument, NULL, 's'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'd': opt.data_dir = optarg; break;
        case 'l': opt.listen = optarg; break;
        case 's': opt.store = optarg; break;
        case 't':
            opt.threads = (int)strtol(optarg, &end, 10);
            if (end == optarg || *end || opt.threads < 1 || opt.threads > 64)
                dc_die("--threads wants 1 … 64 (got \"%s\")", optarg);
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) dc_die("unexpected argument \"%s\" (see --help)", argv[optind]);
    if (!opt.data_dir) dc_die("--data-dir is required (see --help)");
    if (!*opt.store) dc_die("--store wants none or a directory");
    storing = strcmp(opt.store, "none") != 0;
}

// ---------------------------------------------------------------------------
// TLS: the settings of TLSContext.server
// ---------------------------------------------------------------------------

/// ALPN: gatehouse/1, or refuse a client that offers ALPN without it (no_application_protocol).
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)ssl, (void)arg;
    static const unsigned char ours[] = "\x0b" DC_ALPN_ID;
    unsigned char *chosen;
    if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *server_context(void) {
    char cert[4096], key[4096], ca[4096];
    snprintf(cert, sizeof cert, "%s/pki/server.crt", opt.data_dir);
    snprintf(key, sizeof key, "%s/pki/server.key", opt.data_dir);
    snprintf(ca, sizeof ca, "%s/pki/ca.crt", opt.data_dir);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) dc_die("SSL_CTX_new: %s", dc_openssl_errors());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                     "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                     "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1 ||
        SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                      "TLS_CHACHA20_POLY1305_SHA256") != 1 ||
        SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1)
        dc_die("cannot set ciphers or groups: %s", dc_openssl_errors());
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_num_tickets(ctx, 1);
    // The real server's modes, plus partial writes (dc_flush sends from a buffer that may grow between
    // retries), and read ahead: one read() per burst, not record header then body (NIO reads into a buffer too).
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS |
                              SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_read_ahead(ctx, 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        dc_die("cannot load the server certificate %s: %s", cert, dc_openssl_errors());
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        dc_die("cannot use the private key %s: %s", key, dc_openssl_errors());
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        dc_die("cannot load the CA %s: %s", ca, dc_openssl_errors());
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 20000);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"gatehouse", 9);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
}

// ---------------------------------------------------------------------------
// Frames the server sends
// ---------------------------------------------------------------------------

static void queue_hello(struct dc_buf *out) {
    static const uint16_t ids[] = {1, 2, 3, 4};  // MAX_FRAME_SIZE, MAX_CONCURRENT_STREAMS, KEEPALIVE, IDLE
    static const uint32_t values[] = {DC_OUR_MAX_FRAME_SIZE, MAX_STREAMS, 30000, 300000};
    dc_put_header(out, 4 + 3 + 1 + 4 * 6, DC_FT_HELLO, 0, 0);
    dc_put_bytes(out, "GHWP", 4);
    dc_put_u8(out, 1);
    dc_put_u16(out, DC_PROTOCOL_VERSION);
    dc_put_u8(out, 4);
    for (int i = 0; i < 4; i++) dc_put_u16(out, ids[i]), dc_put_u32(out, values[i]);
}

static void queue_trailers(struct conn *c, uint32_t id, uint16_t status, const char *message) {
    size_t n = strlen(message);
    dc_put_header(&c->out, (uint32_t)(8 + n), DC_FT_TRAILERS, 0, id);
    dc_put_u16(&c->out, status);
    dc_put_u16(&c->out, (uint16_t)n);
    dc_put_bytes(&c->out, message, n);
    dc_put_u32(&c->out, 0);  // no details
}

static void queue_goaway(struct conn *c, int code, const char *debug) {
    size_t n = strlen(debug);
    dc_put_header(&c->out, (uint32_t)(8 + n), DC_FT_GOAWAY, 0, 0);
    dc_put_u32(&c->out, c->last_opened);
    dc_put_u16(&c->out, (uint16_t)code);
    dc_put_u16(&c->out, (uint16_t)n);
    dc_put_bytes(&c->out, debug, n);
}

/// MESSAGE (SetResponse or DefineFeatureResponse with its revision), then OK TRAILERS.
static void queue_answer(struct conn *c, uint32_t id, enum method method, uint64_t revision) {
    Gatehouse__V1__SetResponse set = GATEHOUSE__V1__SET_RESPONSE__INIT;
    Gatehouse__V1__DefineFeatureResponse define = GATEHOUSE__V1__DEFINE_FEATURE_RESPONSE__INIT;
    set.revision = define.revision = revision;
    ProtobufCMessage *m = method == M_SET ? &set.base : &define.base;
    size_t size = protobuf_c_message_get_packed_size(m);
    dc_put_header(&c->out, (uint32_t)size, DC_FT_MESSAGE, 0, id);
    dc_buf_reserve(&c->out, size);
    c->out.len += protobuf_c_message_pack(m, c->out.data + c->out.len);
    queue_trailers(c, id, DC_STATUS_OK, "");
    atomic_fetch_add_explicit(&c->loop->answered, 1, memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

/// Closes the socket now; the struct is freed by its loop once no call of it is at the writer.
static void conn_close(struct conn *c, int clean) {
    if (c->state == C_CLOSED) return;
    if (clean) SSL_shutdown(c->ssl);  // close_notify, best effort
    SSL_free(c->ssl);
    close(c->fd);  // also leaves the epoll set
    ERR_clear_error();
    free(c->in.data), free(c->out.data);
    c->state = C_CLOSED;
    c->next_dead = c->loop->dead;
    c->loop->dead = c;
}

/// Sends what `out` holds, as far as the socket takes it; -1 when the connection is gone.
static int flush(struct conn *c) {
    int ret;
    if (c->out.off == c->out.len) return 0;
    if (dc_flush(c->ssl, &c->out, &c->want_write, &ret) != DC_IO_FAILED) return 0;
    conn_close(c, 0);
    return -1;
}

/// A connection error: GOAWAY with `code`, close_notify, close. Returns -1.
__attribute__((format(printf, 3, 4))) static int conn_fail(struct conn *c, int code, const char *format, ...) {
    char debug[256];
    va_list args;
    va_start(args, format);
    vsnprintf(debug, sizeof debug, format, args);
    va_end(args);
    queue_goaway(c, code, debug);
    if (flush(c) == 0) conn_close(c, 1);
    return -1;
}

static struct stream *find_stream(struct conn *c, uint32_t id) {
    for (int i = 0; i < c->n_open; i++)
        if (c->open[i].id == id) return &c->open[i];
    return NULL;
}

static void remove_stream(struct conn *c, struct stream *s) { *s = c->open[--c->n_open]; }

/// The call's request: decoded (as the real server must), then answered now or handed to the writer.
static void dispatch(struct conn *c, struct stream *s, const uint8_t *p, uint32_t len) {
    ProtobufCMessage *request = s->method == M_SET
        ? (ProtobufCMessage *)gatehouse__v1__set_request__unpack(NULL, len, p)
        : (ProtobufCMessage *)gatehouse__v1__define_feature_request__unpack(NULL, len, p);
    if (!request) {
        queue_trailers(c, s->id, ST_INVALID_ARGUMENT, "the request does not decode as the method's message");
        remove_stream(c, s);
        return;
    }
    protobuf_c_message_free_unpacked(request, NULL);
    if (!storing) {
        queue_answer(c, s->id, s->method, atomic_fetch_add(&next_revision, 1));
        remove_stream(c, s);
        return;
    }
    struct call *call = dc_xrealloc(NULL, sizeof *call + len);
    *call = (struct call){.conn = c, .stream_id = s->id, .method = s->method, .len = len};
    memcpy(call->request, p, len);
    c->inflight++;
    pthread_mutex_lock(&wq_lock);
    if (wq_tail) wq_tail->next = call;
    else wq_head = call, pthread_cond_signal(&wq_cond);  // the writer waits only on an empty queue
    wq_tail = call;
    pthread_mutex_unlock(&wq_lock);
}

/// The client's HELLO: magic, versions (one of them 1), settings; answered with ours.
static int on_hello(struct conn *c, const uint8_t *p, uint32_t len) {
    if (len < 5 || memcmp(p, "GHWP", 4) != 0) return conn_fail(c, DC_PROTOCOL_ERROR, "HELLO magic is not GHWP");
    uint32_t n = p[4], at = 5, v1 = 0;
    if (n < 1) return conn_fail(c, DC_PROTOCOL_ERROR, "HELLO lists no version");
    if (len < at + 2 * n + 1) return conn_fail(c, DC_PROTOCOL_ERROR, "HELLO payload shorter than its fields");
    for (uint32_t i = 0; i < n; i++, at += 2) v1 |= dc_get_u16(p + at) == DC_PROTOCOL_VERSION;
    uint32_t m = p[at++];
    if (len != at + 6 * m) return conn_fail(c, DC_PROTOCOL_ERROR, "HELLO payload length does not match its fields");
    for (uint32_t i = 0; i < m; i++, at += 6) {
        uint32_t value = dc_get_u32(p + at + 2);  // only MAX_FRAME_SIZE is checked; our frames are all small
        if (dc_get_u16(p + at) == DC_SETTING_MAX_FRAME_SIZE && (value < 16384 || value > 16777215))
            return conn_fail(c, DC_PROTOCOL_ERROR, "MAX_FRAME_SIZE %u outside 16384 … 16777215", value);
    }
    if (!v1) return conn_fail(c, UNSUPPORTED_VERSION, "this server speaks version 1");
    queue_hello(&c->out);
    c->state = C_OPEN;
    return 0;
}

/// HEADERS: path str16, timeout_ms 4 (not enforced), metadata (key str8, value bytes16) × count 2.
static int on_headers(struct conn *c, uint32_t id, const uint8_t *p, uint32_t len) {
    if (id <= c->last_opened) return conn_fail(c, DC_PROTOCOL_ERROR, "HEADERS for stream %u is not a new id", id);
    if (len < 2 || len < 2u + dc_get_u16(p) + 6) return conn_fail(c, DC_PROTOCOL_ERROR, "HEADERS payload too short");
    uint32_t path_len = dc_get_u16(p), at = 2 + path_len + 4, count = dc_get_u16(p + at);
    const char *path = (const char *)p + 2;
    if (!dc_valid_utf8(p + 2, path_len)) return conn_fail(c, DC_PROTOCOL_ERROR, "HEADERS path is not UTF-8");
    for (at += 2; count > 0; count--) {
        uint32_t key_len = at < len ? p[at] : 0;
        if (at + 1 + key_len + 2 > len || key_len == 0)
            return conn_fail(c, DC_PROTOCOL_ERROR, "HEADERS metadata malformed");
        for (uint32_t k = 0; k < key_len; k++) {
            uint8_t ch = p[at + 1 + k];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
                return conn_fail(c, DC_PROTOCOL_ERROR, "metadata key is not [a-z0-9._-]");
        }
        at += 1 + key_len;
        at += 2 + dc_get_u16(p + at);
    }
    if (at != len) return conn_fail(c, DC_PROTOCOL_ERROR, "HEADERS payload length does not match its fields");
    c->last_opened = id;
    int method = path_len == strlen(DC_SET_PATH) && !memcmp(path, DC_SET_PATH, path_len)         ? M_SET
                 : path_len == strlen(DC_DEFINE_PATH) && !memcmp(path, DC_DEFINE_PATH, path_len) ? M_DEFINE
                                                                                                 : -1;
    if (c->n_open == MAX_STREAMS) queue_trailers(c, id, ST_RESOURCE_EXHAUSTED, "too many concurrent calls");
    else if (method < 0) queue_trailers(c, id, ST_UNIMPLEMENTED, "this floor server has only Features/Define and Set");
    else c->open[c->n_open++] = (struct stream){.id = id, .method = (uint8_t)method, .state = S_AWAIT_MESSAGE};
    return 0;
}

/// Acts on one whole frame whose header passed dc_check_header; -1 when the connection is gone.
static int handle_frame(struct conn *c, uint8_t type, uint8_t flags, uint32_t id, const uint8_t *p, uint32_t len) {
    if (type == DC_FT_TRAILERS) return conn_fail(c, DC_PROTOCOL_ERROR, "TRAILERS is sent by servers only");
    if (c->state == C_AWAIT_HELLO && type != DC_FT_HELLO)
        return conn_fail(c, DC_PROTOCOL_ERROR, "the first frame is %s, not HELLO", DC_FRAME_NAMES[type]);
    struct stream *s = id ? find_stream(c, id) : NULL;
    switch (type) {
    case DC_FT_HELLO:
        if (c->state != C_AWAIT_HELLO) return conn_fail(c, DC_PROTOCOL_ERROR, "a second HELLO");
        return on_hello(c, p, len);
    case DC_FT_HEADERS: return on_headers(c, id, p, len);
    case DC_FT_MESSAGE:
    case DC_FT_CANCEL:
        if (!s) {  // never opened: an error; closed (answered or cancelled): ignored
            if (id > c->last_opened)
                return conn_fail(c, DC_PROTOCOL_ERROR, "%s for stream %u, never opened", DC_FRAME_NAMES[type], id);
            return 0;
        }
        if (type == DC_FT_CANCEL) remove_stream(c, s);  // an answer from the writer is then dropped
        else if (s->state == S_HALF_CLOSED)
            return conn_fail(c, DC_PROTOCOL_ERROR, "MESSAGE after END_STREAM on stream %u", id);
        else if (s->state == S_DISPATCHED) {
            queue_trailers(c, id, ST_INVALID_ARGUMENT, "a second message on a unary call");
            remove_stream(c, s);
        } else {
            s->state = flags & DC_FLAG_END_STREAM ? S_HALF_CLOSED : S_DISPATCHED;
            dispatch(c, s, p, len);
        }
        return 0;
    case DC_FT_PING:
        if (!(flags & DC_FLAG_ACK)) dc_queue_ping_ack(&c->out, p);
        return 0;
    case DC_FT_GOAWAY:  // the client opens no more calls: close once the open ones are answered
        if (len < 8 || len != 8u + dc_get_u16(p + 6)) return conn_fail(c, DC_PROTOCOL_ERROR, "GOAWAY malformed");
        c->goaway = 1;
        return 0;
    }
    return 0;
}

/// Handles every whole frame in `in`; a partial one waits for more octets.
static int handle_input(struct conn *c) {
    struct dc_buf *b = &c->in;
    struct dc_fault f;
    while (b->len - b->off >= DC_HEADER_LEN) {
        const uint8_t *h = b->data + b->off;
        uint32_t len = dc_get_u32(h), id = dc_get_u32(h + 6);
        if (dc_check_header(len, h[4], h[5], id, &f)) return conn_fail(c, f.code, "%s", f.why);
        if (b->len - b->off < DC_HEADER_LEN + (size_t)len) break;
        b->off += DC_HEADER_LEN + len;  // handling queues output, never input, so `h` stays valid
        if (handle_frame(c, h[4], h[5], id, h + DC_HEADER_LEN, len)) return -1;
    }
    if (b->off == b->len) b->off = b->len = 0;
    if (c->goaway && c->n_open == 0 && c->inflight == 0 && flush(c) == 0) conn_close(c, 1);
    return c->state == C_CLOSED ? -1 : 0;
}

/// Reads what has arrived and handles it (level-triggered epoll reports the rest).
static int read_available(struct conn *c) {
    for (;;) {
        dc_buf_reserve(&c->in, 16384);
        int n = SSL_read(c->ssl, c->in.data + c->in.len, (int)(c->in.cap - c->in.len));
        if (n > 0) {
            c->in.len += (size_t)n;
            if (handle_input(c)) return -1;
            if (!SSL_has_pending(c->ssl)) return 0;
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ) return 0;
        if (err == SSL_ERROR_WANT_WRITE) return c->want_write = 1, 0;
        conn_close(c, err == SSL_ERROR_ZERO_RETURN);  // the client left (close_notify, reset or EOF)
        return -1;
    }
}

/// The TLS handshake as far as the socket lets it go; then the actor's CN and the client's HELLO.
static int handshake(struct conn *c) {
    int r = SSL_accept(c->ssl);
    if (r != 1) {
        int err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            return c->want_write = err == SSL_ERROR_WANT_WRITE, 0;
        const char *why = dc_openssl_errors();
        fprintf(stderr, "roundtrip_floor: TLS handshake failed: %s\n", *why ? why : "the client closed the connection");
        conn_close(c, 0);
        return -1;
    }
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    X509_NAME *subject = peer ? X509_get_subject_name(peer) : NULL;
    if (!subject || X509_NAME_get_text_by_NID(subject, NID_commonName, c->actor, sizeof c->actor) < 0) c->actor[0] = 0;
    c->state = C_AWAIT_HELLO;
    return read_available(c);
}

/// EPOLLIN always; EPOLLOUT while there is something unsent or OpenSSL waits to write.
static void set_interest(struct conn *c) {
    uint32_t want = EPOLLIN | (c->want_write || c->out.off < c->out.len ? EPOLLOUT : 0);
    dc_set_interest(c->loop->epfd, c->fd, c, &c->events, want);
}

static void on_conn_event(struct conn *c) {
    int gone;
    if (c->state == C_HANDSHAKING) gone = handshake(c);
    else c->want_write = 0, gone = read_available(c);
    if (!gone && !flush(c)) set_interest(c);
}

/// The writer's answers for this loop: response and trailers for each call still open, then one flush per connection.
static void on_wake(struct loop *l) {
    uint64_t ignored;
    if (read(l->wakefd, &ignored, sizeof ignored) < 0 && errno != EAGAIN) dc_die("eventfd: %s", strerror(errno));
    pthread_mutex_lock(&l->lock);
    struct call *list = l->done;
    l->done = l->done_tail = NULL;
    pthread_mutex_unlock(&l->lock);
    for (struct call *k = list; k; k = k->next) {
        struct conn *c = k->conn;
        c->inflight--;
        struct stream *s = c->state == C_CLOSED ? NULL : find_stream(c, k->stream_id);
        if (!s) continue;  // closed or cancelled meanwhile
        queue_answer(c, k->stream_id, k->method, k->revision);
        remove_stream(c, s);
    }
    for (struct call *k = list, *next; k; k = next) {
        struct conn *c = k->conn;
        next = k->next;
        free(k);
        if (c->state == C_CLOSED || c->out.off == c->out.len) continue;  // already flushed (or nothing to send)
        if (flush(c)) continue;
        if (c->goaway && c->n_open == 0 && c->inflight == 0) conn_close(c, 1);
        else set_interest(c);
    }
}

/// Loop 0: accepts everything pending and hands each connection round-robin to a loop.
static void accept_all(void) {
    static unsigned next;
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "roundtrip_floor: accept: %s\n", strerror(errno));
            return;
        }
        dc_no_delay(fd);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) dc_die("out of memory");
        c->tag = TAG_CONN, c->fd = fd, c->loop = &loops[next++ % (unsigned)opt.threads];
        c->ssl = SSL_new(tls);
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) dc_die("SSL_new: %s", dc_openssl_errors());
        SSL_set_accept_state(c->ssl);
        c->events = EPOLLIN;  // the ClientHello; epoll_ctl is thread-safe, and from here the conn is its loop's
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(c->loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) dc_die("epoll_ctl: %s", strerror(errno));
    }
}

static void *loop_run(void *arg) {
    struct loop *l = arg;
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(l->epfd, events, 256, -1);
        if (n < 0 && errno != EINTR) dc_die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            enum tag *tag = events[i].data.ptr;
            if (*tag == TAG_LISTEN) accept_all();
            else if (*tag == TAG_WAKE) on_wake(l);
            else if (((struct conn *)tag)->state != C_CLOSED) on_conn_event((struct conn *)tag);
        }
        for (struct conn **d = &l->dead; *d;) {  // closed connections with no call at the writer
            struct conn *c = *d;
            if (c->inflight) d = &c->next_dead;
            else *d = c->next_dead, free(c);
        }
    }
    return NULL;
}

// ---------------------------------------------------------------------------
// The store: one writer thread, group commit
// ---------------------------------------------------------------------------

static void check(int rc, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) dc_die("%s: %s", what, sqlite3_errmsg(db));
}

static void open_store(void) {
    char path[4096];
    if (mkdir(opt.store, 0755) != 0 && errno != EEXIST) dc_die("cannot create %s: %s", opt.store, strerror(errno));
    snprintf(path, sizeof path, "%s/roundtrip.db", opt.store);
    check(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL), path);
    sqlite3_stmt *st;
    check(sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL), "journal_mode");
    if (sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)
        dc_die("%s: cannot switch to WAL", path);
    sqlite3_finalize(st);
    check(sqlite3_exec(db, "PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS journal(revision INTEGER PRIMARY KEY,"
                           " time_ms INTEGER, actor TEXT, request BLOB)", NULL, NULL, NULL), "schema");
    check(sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(revision), 0) FROM journal", -1, &st, NULL), "max");
    check(sqlite3_step(st), "max");
    db_revision = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
}

static void *writer_run(void *arg) {
    (void)arg;
    sqlite3_stmt *begin, *commit, *insert;
    check(sqlite3_prepare_v2(db, "BEGIN", -1, &begin, NULL), "BEGIN");
    check(sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL), "COMMIT");
    check(sqlite3_prepare_v2(db, "INSERT INTO journal VALUES (?, ?, ?, ?)", -1, &insert, NULL), "INSERT");
    struct call **heads = calloc((size_t)opt.threads, sizeof *heads);
    struct call **tails = calloc((size_t)opt.threads, sizeof *tails);
    for (;;) {
        pthread_mutex_lock(&wq_lock);
        while (!wq_head) pthread_cond_wait(&wq_cond, &wq_lock);
        struct call *batch = wq_head;
        wq_head = wq_tail = NULL;
        pthread_mutex_unlock(&wq_lock);

        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        unsigned long count = 0;
        check(sqlite3_step(begin), "BEGIN"), sqlite3_reset(begin);
        for (struct call *k = batch; k; k = k->next, count++) {
            k->revision = ++db_revision;
            sqlite3_bind_int64(insert, 1, (sqlite3_int64)k->revision);
            sqlite3_bind_int64(insert, 2, time_ms);
            sqlite3_bind_text(insert, 3, k->conn->actor, -1, SQLITE_STATIC);
            sqlite3_bind_blob(insert, 4, k->request, (int)k->len, SQLITE_STATIC);
            check(sqlite3_step(insert), "INSERT"), sqlite3_reset(insert);
        }
        check(sqlite3_step(commit), "COMMIT"), sqlite3_reset(commit);  // the fsync: now the calls may be answered
        atomic_fetch_add(&groups, 1), atomic_fetch_add(&stored, count);

        for (struct call *k = batch, *next; k; k = next) {  // sort the answers by loop, keeping their order
            next = k->next, k->next = NULL;
            int i = (int)(k->conn->loop - loops);
            if (tails[i]) tails[i]->next = k;
            else heads[i] = k;
            tails[i] = k;
        }
        for (int i = 0; i < opt.threads; i++) {
            if (!heads[i]) continue;
            struct loop *l = &loops[i];
            pthread_mutex_lock(&l->lock);
            if (l->done_tail) l->done_tail->next = heads[i];
            else l->done = heads[i];
            l->done_tail = tails[i];
            pthread_mutex_unlock(&l->lock);
            uint64_t one = 1;
            if (write(l->wakefd, &one, sizeof one) < 0) dc_die("eventfd: %s", strerror(errno));
            heads[i] = tails[i] = NULL;
        }
    }
    return NULL;
}

// ---------------------------------------------------------------------------
// Start, and the summary on SIGINT/SIGTERM
// ---------------------------------------------------------------------------

static int listen_on(const char *address) {
    char host[256];
    const char *colon = strrchr(address, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    if (!colon || (size_t)(colon - address) >= sizeof host || port < 1 || port > 65535)
        dc_die("--listen wants IPv4:PORT, e.g. 127.0.0.1:7555 (got \"%s\")", address);
    memcpy(host, address, (size_t)(colon - address)), host[colon - address] = '\0';
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) dc_die("--listen: \"%s\" is not an IPv4 address", host);
    sa.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0)
        dc_die("cannot listen on %s: %s", address, strerror(errno));
    return fd;
}

int main(int argc, char **argv) {
    dc_program = "roundtrip_floor";
    parse_options(argc, argv);
    tls = server_context();
    listen_fd = listen_on(opt.listen);
    if (storing) open_store();

    // Every thread inherits this mask; only main takes the signals, with sigwait.
    sigset_t stop;
    sigemptyset(&stop), sigaddset(&stop, SIGINT), sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    loops = calloc((size_t)opt.threads, sizeof *loops);
    for (int i = 0; i < opt.threads; i++) {
        struct loop *l = &loops[i];
        l->tag = TAG_WAKE;
        pthread_mutex_init(&l->lock, NULL);
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
        if (l->epfd < 0 || l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0)
            dc_die("epoll/eventfd: %s", strerror(errno));
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};
    if (epoll_ctl(loops[0].epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) dc_die("epoll_ctl: %s", strerror(errno));
    pthread_t thread;
    for (int i = 0; i < opt.threads; i++) pthread_create(&thread, NULL, loop_run, &loops[i]);
    if (storing) pthread_create(&thread, NULL, writer_run, NULL);
    printf("listening on %s (%d event loop%s, store %s%s)\n", opt.listen, opt.threads, opt.threads == 1 ? "" : "s",
           opt.store, storing ? "/roundtrip.db" : "");
    fflush(stdout);

    int sig;
    sigwait(&stop, &sig);
    unsigned long answered = 0, g = atomic_load(&groups), s = atomic_load(&stored);
    for (int i = 0; i < opt.threads; i++) answered += atomic_load(&loops[i].answered);
    if (storing)
        printf("roundtrip_floor: %lu calls answered, %lu groups committed (%lu rows), mean group size %.2f\n",
               answered, g, s, g ? (double)s / (double)g : 0.0);
    else printf("roundtrip_floor: %lu calls answered, store none (no groups)\n", answered);
    fflush(stdout);
    _exit(0);  // the store is durable at every COMMIT; a group in flight is rolled back at the next open
}
