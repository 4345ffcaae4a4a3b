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
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "gatehouse/v1/errors.pb-c.h"
#include "gatehouse/v1/features.pb-c.h"

// ---------------------------------------------------------------------------
// Protocol constants (PROTOCOL.md sections 2-5)
// ---------------------------------------------------------------------------

#define HEADER_LEN 10
#define PROTOCOL_VERSION 1
#define OUR_MAX_FRAME_SIZE 1048576u     // what we announce in our HELLO and accept
#define PEER_DEFAULT_MAX_FRAME 16384u   // a peer that announces no MAX_FRAME_SIZE accepts this
#define MAX_STREAM_ID 0x7fffffffu

enum frame_type { FT_HELLO = 0, FT_HEADERS, FT_MESSAGE, FT_TRAILERS, FT_CANCEL, FT_PING, FT_GOAWAY };
static const char *const FRAME_NAMES[] = {"HELLO", "HEADERS", "MESSAGE", "TRAILERS", "CANCEL", "PING", "GOAWAY"};
// The flag bits each type defines; any other bit set is a PROTOCOL_ERROR.
static const uint8_t DEFINED_FLAGS[] = {0, 0, 0x01, 0, 0, 0x01, 0};
#define FLAG_END_STREAM 0x01
#define FLAG_ACK 0x01

enum setting_id { SETTING_MAX_FRAME_SIZE = 1 };

// Connection error codes (GOAWAY).
enum { NO_ERROR = 0, PROTOCOL_ERROR = 1, FRAME_SIZE_ERROR = 2 };
static const char *const ERROR_NAMES[] = {"NO_ERROR", "PROTOCOL_ERROR", "FRAME_SIZE_ERROR",
                                          "UNSUPPORTED_VERSION", "INTERNAL_ERROR", "TIMEOUT"};

// Call status codes (TRAILERS): gRPC's canonical codes.
static const char *const STATUS_NAMES[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED"};
#define STATUS_OK 0

// What the benchmark sends: the same requests as Writers.swift.
#define ALPN_ID "gatehouse/1"
#define FEATURE_NAME "BenchToggle"
#define DEFINE_PATH "/gatehouse.v1.Features/Define"
#define SET_PATH "/gatehouse.v1.Features/Set"
#define BENCH_COMPONENT "bench"
#define SET_REASON "benchmark"

// A call or a handshake that takes longer than this ends the run (the Swift
// tool's calls carry no deadline either; this only keeps a hung server from
// hanging the driver).
#define STALL_MS 30000.0

// ---------------------------------------------------------------------------
// Small helpers: time, CPU, errors
// ---------------------------------------------------------------------------

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/// This process's CPU time (user + system), in seconds.
static double own_cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
           + (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/// Another process's CPU time (utime + stime from /proc/PID/stat), in seconds; -1 when unreadable.
static double process_cpu_seconds(long pid) {
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    // The command name (field 2) is in parentheses and may hold spaces, so
    // count fields from the last ')': state is field 3, utime 14, stime 15.
    char *p = strrchr(text, ')');
    if (p == NULL) return -1;
    p++;
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    for (char *save = NULL, *tok = strtok_r(p, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14) utime = strtoull(tok, NULL, 10);
        if (field == 15) {
            stime = strtoull(tok, NULL, 10);
            return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
        }
    }
    return -1;
}

/// Prints "toggle_driver: <message>" and exits with status 1.
__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("toggle_driver: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

static void *xrealloc(void *p, size_t size) {
    void *q = realloc(p, size);
    if (q == NULL) die("out of memory");
    return q;
}

/// OpenSSL's queued errors as one line ("; "-separated), emptying the queue; "" when none.
static const char *openssl_errors(void) {
    static char text[1024];
    size_t used = 0;
    text[0] = '\0';
    unsigned long code;
    while ((code = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(code, one, sizeof one);
        int n = snprintf(text + used, sizeof text - used, "%s%s", used ? "; " : "", one);
        if (n < 0 || (size_t)n >= sizeof text - used) break;
        used += (size_t)n;
    }
    return text;
}

/// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], cp, min;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

// ---------------------------------------------------------------------------
// Byte buffers: big-endian writers for frames
// ---------------------------------------------------------------------------

/// A growable byte buffer; bytes [off, len) are the ones not yet consumed (or sent).
struct buf {
    uint8_t *data;
    size_t off, len, cap;
};

/// Makes room for `extra` more bytes at the end, first dropping consumed ones.
static void buf_reserve(struct buf *b, size_t extra) {
    if (b->off > 0 && (b->off == b->len || b->len + extra > b->cap)) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + extra > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + extra) cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
}

static void put_u8(struct buf *b, uint8_t v) {
    buf_reserve(b, 1);
    b->data[b->len++] = v;
}

static void put_u16(struct buf *b, uint16_t v) {
    buf_reserve(b, 2);
    b->data[b->len++] = (uint8_t)(v >> 8);
    b->data[b->len++] = (uint8_t)v;
}

static void put_u32(struct buf *b, uint32_t v) {
    buf_reserve(b, 4);
    for (int shift = 24; shift >= 0; shift -= 8) b->data[b->len++] = (uint8_t)(v >> shift);
}

static void put_bytes(struct buf *b, const void *p, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/// The 10-octet frame header.
static void put_header(struct buf *b, uint32_t length, uint8_t type, uint8_t flags, uint32_t stream_id) {
    put_u32(b, length);
    put_u8(b, type);
    put_u8(b, flags);
    put_u32(b, stream_id);
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

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

static struct {
    char *server, *ca, *certificate, *key, *server_name;  // from the config file
    char *host, *port;        // `server` split
    char *verify_name;        // the name the server certificate must carry: server_name, else host
    int verify_name_is_ip;    // checked as an IP address SAN (no SNI)
    struct sockaddr_storage addr;
    socklen_t addr_len;
} cfg;

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
            die("--writers wants a comma separated list of positive counts, e.g. 1,16,64 (got \"%s\")", list);
        opt.writer_counts = xrealloc(opt.writer_counts, sizeof(int) * (size_t)(opt.n_writer_counts + 1));
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
                die("--seconds wants a positive number of seconds (got \"%s\")", optarg);
            break;
        case 'p':
            opt.server_pid = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || opt.server_pid <= 0)
                die("--server-pid wants a process id (got \"%s\")", optarg);
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

/// Trims spaces and tabs at both ends, in place.
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) *--e = '\0';
    return s;
}

/// A path from the config: relative ones are taken from the config file's directory (as the Swift client does).
static char *resolve_path(const char *value) {
    if (value[0] == '/') return strdup(value);
    const char *slash = strrchr(opt.config_path, '/');
    if (slash == NULL) return strdup(value);
    size_t dir = (size_t)(slash - opt.config_path);
    char *path = xrealloc(NULL, dir + 1 + strlen(value) + 1);
    memcpy(path, opt.config_path, dir);
    path[dir] = '/';
    strcpy(path + dir + 1, value);
    return path;
}

/// Reads the client config: `key: value` lines; `#` starts a comment; values may be quoted.
static void load_config(void) {
    FILE *f = fopen(opt.config_path, "r");
    if (f == NULL) die("cannot read client config %s: %s", opt.config_path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int number = 0;
    while (getline(&line, &cap, f) != -1) {
        number++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#') continue;
        char *colon = strchr(s, ':');
        if (colon == NULL) die("client config %s line %d: expected \"key: value\"", opt.config_path, number);
        *colon = '\0';
        char *key = trim(s), *value = trim(colon + 1);
        if (*value == '"' || *value == '\'') {  // a quoted value ends at its closing quote
            char *close = strchr(value + 1, *value);
            if (close == NULL) die("client config %s line %d: unterminated quote", opt.config_path, number);
            *close = '\0';
            value++;
        } else {  // an unquoted value ends at a " #" comment
            for (char *h = value; *h; h++) {
                if (*h == '#' && h > value && (h[-1] == ' ' || h[-1] == '\t')) {
                    *h = '\0';
                    break;
                }
            }
            value = trim(value);
        }
        if (strcmp(key, "server") == 0) cfg.server = strdup(value);
        else if (strcmp(key, "ca") == 0) cfg.ca = resolve_path(value);
        else if (strcmp(key, "certificate") == 0) cfg.certificate = resolve_path(value);
        else if (strcmp(key, "key") == 0) cfg.key = resolve_path(value);
        else if (strcmp(key, "server_name") == 0) cfg.server_name = strdup(value);
        // other keys are ignored, as the Swift client's decoder ignores them
    }
    free(line);
    fclose(f);
    if (!cfg.server || !cfg.ca || !cfg.certificate || !cfg.key || !*cfg.server)
        die("client config %s is not valid: it needs server, ca, certificate and key", opt.config_path);

    // server: "host:port", or "[v6]:port".
    char *s = strdup(cfg.server), *port;
    if (s[0] == '[') {
        char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') die("server \"%s\" has no port; expected [host]:port", cfg.server);
        *close = '\0';
        cfg.host = s + 1;
        port = close + 2;
    } else {
        char *colon = strrchr(s, ':');
        if (colon == NULL) die("server \"%s\" has no port; expected host:port", cfg.server);
        *colon = '\0';
        cfg.host = s;
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*cfg.host == '\0' || end == port || *end != '\0' || p < 1 || p > 65535)
        die("server \"%s\" is not host:port", cfg.server);
    cfg.port = port;
    cfg.verify_name = cfg.server_name && *cfg.server_name ? cfg.server_name : cfg.host;
    unsigned char ip[16];
    cfg.verify_name_is_ip =
        inet_pton(AF_INET, cfg.verify_name, ip) == 1 || inet_pton(AF_INET6, cfg.verify_name, ip) == 1;
}

/// Resolves the server. When the name has several addresses (localhost: ::1
/// and 127.0.0.1), keeps the first that accepts a TCP connection.
static void resolve_server(void) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *list;
    int rc = getaddrinfo(cfg.host, cfg.port, &hints, &list);
    if (rc != 0) die("cannot resolve %s: %s", cfg.host, gai_strerror(rc));
    if (list->ai_next == NULL) {  // one address: no probe (the server would log it as a failed handshake)
        memcpy(&cfg.addr, list->ai_addr, list->ai_addrlen);
        cfg.addr_len = list->ai_addrlen;
        freeaddrinfo(list);
        return;
    }
    char why[256] = "no address";
    for (struct addrinfo *a = list; a != NULL; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int err = 0;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                socklen_t len = sizeof err;
                if (poll(&p, 1, 5000) != 1) err = ETIMEDOUT;
                else getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            }
        }
        close(fd);
        if (err == 0) {
            memcpy(&cfg.addr, a->ai_addr, a->ai_addrlen);
            cfg.addr_len = a->ai_addrlen;
            freeaddrinfo(list);
            return;
        }
        snprintf(why, sizeof why, "%s", strerror(err));
    }
    freeaddrinfo(list);
    die("cannot connect to %s: %s", cfg.server, why);
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

static SSL_CTX *tls;

/// The client context: TLS 1.3, our certificate and key, the server verified
/// against the CA bundle and for the name (or IP) it was dialled by, ALPN gatehouse/1.
static void tls_setup(void) {
    tls = SSL_CTX_new(TLS_client_method());
    if (tls == NULL) die("cannot create a TLS context: %s", openssl_errors());
    SSL_CTX_set_min_proto_version(tls, TLS1_3_VERSION);
    if (SSL_CTX_load_verify_locations(tls, cfg.ca, NULL) != 1)
        die("cannot load the CA bundle %s: %s", cfg.ca, openssl_errors());
    if (SSL_CTX_use_certificate_chain_file(tls, cfg.certificate) != 1)
        die("cannot load the client certificate %s: %s", cfg.certificate, openssl_errors());
    if (SSL_CTX_use_PrivateKey_file(tls, cfg.key, SSL_FILETYPE_PEM) != 1)
        die("cannot load the private key %s: %s", cfg.key, openssl_errors());
    if (SSL_CTX_check_private_key(tls) != 1)
        die("the key %s does not match the certificate %s: %s", cfg.key, cfg.certificate, openssl_errors());
    SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(tls);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = cfg.verify_name_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, cfg.verify_name)
                                   : X509_VERIFY_PARAM_set1_host(param, cfg.verify_name, 0);
    if (ok != 1) die("cannot check the server certificate for \"%s\": %s", cfg.verify_name, openssl_errors());
    static const unsigned char alpn[] = "\x0b" ALPN_ID;
    if (SSL_CTX_set_alpn_protos(tls, alpn, sizeof alpn - 1) != 0)  // 0 is success here
        die("cannot set ALPN: %s", openssl_errors());
    // SSL_write may send part of a buffer, and the buffer may move (it grows) between retries.
    SSL_CTX_set_mode(tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Read what the socket has in one read() rather than header then body; records
    // left buffered inside OpenSSL are found with SSL_has_pending.
    SSL_CTX_set_read_ahead(tls, 1);
    SSL_CTX_set_options(tls, SSL_OP_NO_RENEGOTIATION);
}

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
    struct buf in, out;  // received, not yet parsed; to send, not yet sent
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
    char detail[512];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    struct buf b = {0};
    size_t debug_len = strlen(detail);
    put_header(&b, (uint32_t)(4 + 2 + 2 + debug_len), FT_GOAWAY, 0, 0);
    put_u32(&b, 0);  // we process no server-opened streams
    put_u16(&b, (uint16_t)code);
    put_u16(&b, (uint16_t)debug_len);
    put_bytes(&b, detail, debug_len);
    if (c->out.off == c->out.len && SSL_write(c->ssl, b.data, (int)b.len) > 0) SSL_shutdown(c->ssl);
    die("%s: %s from the server: %s", conn_name(c), ERROR_NAMES[code], detail);
}

/// Ends the run for a failed TLS operation, saying why as precisely as OpenSSL knows.
__attribute__((noreturn)) static void tls_failure(struct conn *c, const char *during, int ret) {
    int saved_errno = errno;
    int err = SSL_get_error(c->ssl, ret);
    long verify = SSL_get_verify_result(c->ssl);
    const char *errors = openssl_errors();
    if (verify != X509_V_OK)
        die("%s: certificate verification failed for the server %s (checked against the CA %s, for the %s "
            "\"%s\"): %s",
            conn_name(c), cfg.server, cfg.ca, cfg.verify_name_is_ip ? "IP address" : "name", cfg.verify_name,
            X509_verify_cert_error_string(verify));
    if (err == SSL_ERROR_ZERO_RETURN)
        die("%s: the server closed the connection (close_notify) %s", conn_name(c), during);
    if (err == SSL_ERROR_SYSCALL && *errors == '\0')
        die("%s: the connection to %s ended %s: %s", conn_name(c), cfg.server, during,
            saved_errno ? strerror(saved_errno) : "unexpected end of stream");
    die("%s: TLS error %s with %s: %s%s", conn_name(c), during, cfg.server, *errors ? errors : "unknown",
        c->state == CS_AWAIT_HELLO ? " (the server refused the connection after the handshake; is our "
                                     "certificate from its CA and allowed by its policy?)"
                                   : "");
}

/// Registers the epoll interest the connection needs now, if it changed.
static void update_interest(struct conn *c) {
    uint32_t want;
    if (c->state == CS_CONNECTING) want = EPOLLOUT;
    else want = EPOLLIN | (c->want_write || c->out.off < c->out.len ? EPOLLOUT : 0);
    if (want == c->events) return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl: %s", strerror(errno));
    c->events = want;
}

/// Sends what `out` holds, as far as the socket takes it.
static void flush(struct conn *c) {
    c->want_write = 0;
    while (c->out.off < c->out.len) {
        int n = SSL_write(c->ssl, c->out.data + c->out.off, (int)(c->out.len - c->out.off));
        if (n > 0) {
            c->out.off += (size_t)n;
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_WRITE) {
            c->want_write = 1;
            return;
        }
        if (err == SSL_ERROR_WANT_READ) return;  // retried on the next readable event
        tls_failure(c, "while sending", n);
    }
    c->out.off = c->out.len = 0;
}

/// Opens a call: HEADERS (path, no deadline, no metadata) and MESSAGE with END_STREAM, in one write.
static void start_call(struct conn *c, enum call_kind kind) {
    if (c->next_stream_id > MAX_STREAM_ID) die("%s: stream ids used up on this connection", conn_name(c));
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
        path = DEFINE_PATH;
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
        path = SET_PATH;
        request = &set.base;
    }
    size_t size = protobuf_c_message_get_packed_size(request);
    if (size > c->peer_max_frame)
        die("%s: RESOURCE_EXHAUSTED: a %zu-octet request exceeds the server's maximum frame size %u", conn_name(c),
            size, c->peer_max_frame);

    size_t path_len = strlen(path);
    struct buf *b = &c->out;
    put_header(b, (uint32_t)(2 + path_len + 4 + 2), FT_HEADERS, 0, c->stream_id);
    put_u16(b, (uint16_t)path_len);
    put_bytes(b, path, path_len);
    put_u32(b, 0);  // timeout_ms: none, as the Swift tool's calls
    put_u16(b, 0);  // no metadata
    put_header(b, (uint32_t)size, FT_MESSAGE, FLAG_END_STREAM, c->stream_id);
    buf_reserve(b, size);
    b->len += protobuf_c_message_pack(request, b->data + b->len);

    c->state = CS_IN_CALL;
    c->started_ms = now_ms();
    flush(c);
}

/// The open call answered OK with one response: record it, and go on or stop.
static void call_done(struct conn *c) {
    double end = now_ms();
    c->state = CS_READY;
    if (c->kind == CALL_SET) {
        if (n_latencies == cap_latencies) {
            cap_latencies = cap_latencies ? cap_latencies * 2 : 65536;
            latencies = xrealloc(latencies, cap_latencies * sizeof *latencies);
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
    char extra[1024] = "";
    size_t used = 0;
    Gatehouse__V1__ErrorDetails *d =
        details_len ? gatehouse__v1__error_details__unpack(NULL, details_len, details) : NULL;
    if (d != NULL) {
        if (*d->reason) used += (size_t)snprintf(extra + used, sizeof extra - used, " [reason %s", d->reason);
        for (size_t i = 0; i < d->n_metadata && used < sizeof extra; i++)
            used += (size_t)snprintf(extra + used, sizeof extra - used, "%s%s=%s", used ? ", " : " [",
                                     d->metadata[i]->key, d->metadata[i]->value);
        for (size_t i = 0; i < d->n_field_violations && used < sizeof extra; i++)
            used += (size_t)snprintf(extra + used, sizeof extra - used, "%s%s: %s", used ? ", " : " [",
                                     d->field_violations[i]->field, d->field_violations[i]->description);
        if (used > 0 && used < sizeof extra - 1) strcat(extra, "]");
        gatehouse__v1__error_details__free_unpacked(d, NULL);
    }
    die("%s: %s failed: %s (%u): %.*s%s", conn_name(c), c->kind == CALL_SET ? SET_PATH : DEFINE_PATH,
        status <= 16 ? STATUS_NAMES[status] : "UNKNOWN", status, (int)message_len, (const char *)message, extra);
}

/// Acts on one whole frame whose header passed check_header.
static void handle_frame(struct conn *c, uint8_t type, uint8_t flags, uint32_t stream_id, const uint8_t *p,
                         uint32_t len) {
    const char *name = FRAME_NAMES[type];
    if (type == FT_HEADERS || type == FT_CANCEL)
        protocol_failure(c, PROTOCOL_ERROR, "%s is sent by clients only", name);
    if (c->state == CS_AWAIT_HELLO && type != FT_HELLO && type != FT_GOAWAY)
        protocol_failure(c, PROTOCOL_ERROR, "the server's first frame is %s, not HELLO", name);

    switch (type) {
    case FT_HELLO: {
        if (c->state != CS_AWAIT_HELLO) protocol_failure(c, PROTOCOL_ERROR, "a second HELLO");
        // magic "GHWP", version count, versions, setting count, settings (id 2, value 4)
        if (len < 5 || memcmp(p, "GHWP", 4) != 0) protocol_failure(c, PROTOCOL_ERROR, "HELLO magic is not GHWP");
        uint32_t n = p[4], at = 5;
        if (n < 1) protocol_failure(c, PROTOCOL_ERROR, "HELLO lists no version");
        if (len < at + 2 * n + 1) protocol_failure(c, PROTOCOL_ERROR, "HELLO payload shorter than its fields");
        if (n != 1 || get_u16(p + at) != PROTOCOL_VERSION)
            protocol_failure(c, PROTOCOL_ERROR, "the server's HELLO must choose exactly version 1");
        at += 2 * n;
        uint32_t m = p[at++];
        if (len != at + 6 * m)
            protocol_failure(c, PROTOCOL_ERROR, "HELLO payload %s than its fields",
                             len < at + 6 * m ? "shorter" : "longer");
        c->peer_max_frame = PEER_DEFAULT_MAX_FRAME;
        for (uint32_t i = 0; i < m; i++, at += 6) {
            uint16_t id = get_u16(p + at);
            uint32_t value = get_u32(p + at + 2);
            if (id == SETTING_MAX_FRAME_SIZE) {
                if (value < 16384 || value > 16777215)
                    protocol_failure(c, PROTOCOL_ERROR, "MAX_FRAME_SIZE %u outside 16384 … 16777215", value);
                c->peer_max_frame = value;  // a repeated id takes its last value
            }  // other settings do not matter to one call at a time; unknown ids are ignored
        }
        c->state = CS_READY;
        busy--;
        return;
    }
    case FT_PING:
        if (!(flags & FLAG_ACK)) {  // answer at once with ACK and the same 8 octets
            put_header(&c->out, 8, FT_PING, FLAG_ACK, 0);
            put_bytes(&c->out, p, 8);
            flush(c);
        }
        return;
    case FT_GOAWAY: {
        if (len < 8) protocol_failure(c, PROTOCOL_ERROR, "GOAWAY payload shorter than its fields");
        uint16_t code = get_u16(p + 4), debug_len = get_u16(p + 6);
        if (len != 8u + debug_len)
            protocol_failure(c, PROTOCOL_ERROR, "GOAWAY payload %s than its fields",
                             len < 8u + debug_len ? "shorter" : "longer");
        if (!valid_utf8(p + 8, debug_len)) protocol_failure(c, PROTOCOL_ERROR, "GOAWAY debug is not valid UTF-8");
        die("%s: the server sent GOAWAY %s (%u): %.*s%s", conn_name(c), code <= 5 ? ERROR_NAMES[code] : "?", code,
            (int)debug_len, (const char *)(p + 8),
            c->state == CS_AWAIT_HELLO ? " (it refused our HELLO)" : " (it is leaving; the run cannot go on)");
    }
    case FT_MESSAGE:
    case FT_TRAILERS:
        break;
    }

    // MESSAGE and TRAILERS belong to the one open call.
    if (c->state != CS_IN_CALL || stream_id != c->stream_id)
        protocol_failure(c, PROTOCOL_ERROR, "%s on stream %u, which has no open call", name, stream_id);
    if (type == FT_MESSAGE) {
        if (flags & FLAG_END_STREAM) protocol_failure(c, PROTOCOL_ERROR, "the server set END_STREAM on a MESSAGE");
        if (++c->responses > 1) die("%s: the server sent more than one response to a unary call", conn_name(c));
        // Decode the response, as a real client would (and to be sure it is one).
        ProtobufCMessage *response =
            c->kind == CALL_SET ? (ProtobufCMessage *)gatehouse__v1__set_response__unpack(NULL, len, p)
                                : (ProtobufCMessage *)gatehouse__v1__define_feature_response__unpack(NULL, len, p);
        if (response == NULL)
            die("%s: the response on stream %u does not decode as %s", conn_name(c), stream_id,
                c->kind == CALL_SET ? "SetResponse" : "DefineFeatureResponse");
        protobuf_c_message_free_unpacked(response, NULL);
        return;
    }
    // TRAILERS: status 2, message str16, details bytes32.
    if (len < 4) protocol_failure(c, PROTOCOL_ERROR, "TRAILERS payload shorter than its fields");
    uint16_t status = get_u16(p), message_len = get_u16(p + 2);
    if (len < 4u + message_len + 4) protocol_failure(c, PROTOCOL_ERROR, "TRAILERS payload shorter than its fields");
    uint32_t details_len = get_u32(p + 4 + message_len);
    if ((uint64_t)len != 8u + (uint64_t)message_len + details_len)
        protocol_failure(c, PROTOCOL_ERROR, "TRAILERS payload %s than its fields",
                         (uint64_t)len < 8u + (uint64_t)message_len + details_len ? "shorter" : "longer");
    if (!valid_utf8(p + 4, message_len)) protocol_failure(c, PROTOCOL_ERROR, "TRAILERS message is not valid UTF-8");
    if (status != STATUS_OK) call_failed(c, status, p + 4, message_len, p + 8 + message_len, details_len);
    if (c->responses != 1) die("%s: the server answered a unary call OK without a response", conn_name(c));
    call_done(c);
}

/// Checks the 10 header octets alone, before any payload, in PROTOCOL.md's order.
static void check_header(struct conn *c, uint32_t len, uint8_t type, uint8_t flags, uint32_t stream_id) {
    if (len > OUR_MAX_FRAME_SIZE)
        protocol_failure(c, FRAME_SIZE_ERROR, "frame length %u exceeds our maximum %u", len, OUR_MAX_FRAME_SIZE);
    if (type > FT_GOAWAY) protocol_failure(c, PROTOCOL_ERROR, "unknown frame type 0x%02x", type);
    const char *name = FRAME_NAMES[type];
    int connection_frame = type == FT_HELLO || type == FT_PING || type == FT_GOAWAY;
    if (stream_id & 0x80000000u) protocol_failure(c, PROTOCOL_ERROR, "%s stream id has the high bit set", name);
    if (connection_frame && stream_id != 0)
        protocol_failure(c, PROTOCOL_ERROR, "%s on stream %u, must be 0", name, stream_id);
    if (!connection_frame && stream_id == 0) protocol_failure(c, PROTOCOL_ERROR, "%s on stream 0", name);
    if (flags & ~DEFINED_FLAGS[type])
        protocol_failure(c, PROTOCOL_ERROR, "%s has undefined flag bits 0x%02x", name, flags & ~DEFINED_FLAGS[type]);
    if (type == FT_PING && len != 8) protocol_failure(c, PROTOCOL_ERROR, "PING payload is %u octets, must be 8", len);
    if (type == FT_CANCEL && len != 0) protocol_failure(c, PROTOCOL_ERROR, "CANCEL carries no payload");
}

/// Handles every whole frame in `in`; a partial one waits for more octets.
static void handle_input(struct conn *c) {
    struct buf *b = &c->in;
    while (b->len - b->off >= HEADER_LEN) {
        const uint8_t *h = b->data + b->off;
        uint32_t len = get_u32(h), stream_id = get_u32(h + 6);
        uint8_t type = h[4], flags = h[5];
        check_header(c, len, type, flags, stream_id);
        if (b->len - b->off < HEADER_LEN + (size_t)len) break;
        b->off += HEADER_LEN + len;  // consumed before handling: handling may queue output, never input
        handle_frame(c, type, flags, stream_id, h + HEADER_LEN, len);
    }
    if (b->off == b->len) b->off = b->len = 0;
}

/// Reads what has arrived and handles it. With level-triggered epoll it is
/// enough to read until OpenSSL holds nothing more; epoll reports the rest.
static void read_available(struct conn *c) {
    for (;;) {
        buf_reserve(&c->in, 16384);
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
            protocol_failure(c, PROTOCOL_ERROR, "the connection ended inside a frame");
        tls_failure(c, c->state == CS_AWAIT_HELLO ? "before its HELLO" : "while reading", n);
    }
}

/// The TLS handshake, as far as the sockets let it go; then our HELLO.
static void handshake(struct conn *c) {
    int r = SSL_connect(c->ssl);
    if (r != 1) {
        int err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_READ) c->want_write = 0;
        else if (err == SSL_ERROR_WANT_WRITE) c->want_write = 1;
        else tls_failure(c, "during the TLS handshake", r);
        return;
    }
    c->want_write = 0;
    const unsigned char *proto;
    unsigned int proto_len;
    SSL_get0_alpn_selected(c->ssl, &proto, &proto_len);
    if (proto_len != strlen(ALPN_ID) || memcmp(proto, ALPN_ID, proto_len) != 0)
        die("%s: the server did not select ALPN %s", conn_name(c), ALPN_ID);
    // HELLO: magic, one version (1), one setting (MAX_FRAME_SIZE).
    put_header(&c->out, 4 + 1 + 2 + 1 + 6, FT_HELLO, 0, 0);
    put_bytes(&c->out, "GHWP", 4);
    put_u8(&c->out, 1);
    put_u16(&c->out, PROTOCOL_VERSION);
    put_u8(&c->out, 1);
    put_u16(&c->out, SETTING_MAX_FRAME_SIZE);
    put_u32(&c->out, OUR_MAX_FRAME_SIZE);
    c->state = CS_AWAIT_HELLO;
    flush(c);
    read_available(c);
}

/// The TCP connect finished (or failed): on to TLS.
static void connected(struct conn *c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) die("%s: cannot connect to %s: %s", conn_name(c), cfg.server, strerror(err));
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
    if (conns == NULL) die("out of memory");
    for (int i = 0; i < n; i++) {
        struct conn *c = &conns[i];
        c->index = first_index < 0 ? -1 : first_index + i;
        snprintf(c->instance, sizeof c->instance, "w%d", c->index);
        c->next_stream_id = 1;
        c->peer_max_frame = PEER_DEFAULT_MAX_FRAME;
        c->fd = socket(cfg.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) die("socket: %s", strerror(errno));
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // no Nagle: each call goes out at once
        c->ssl = SSL_new(tls);
        if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) die("SSL_new: %s", openssl_errors());
        SSL_set_connect_state(c->ssl);
        if (!cfg.verify_name_is_ip && SSL_set_tlsext_host_name(c->ssl, cfg.verify_name) != 1)  // SNI: names only
            die("SNI: %s", openssl_errors());
        c->state = CS_CONNECTING;
        c->started_ms = now_ms();  // for the stall check until a call starts
        if (connect(c->fd, (struct sockaddr *)&cfg.addr, cfg.addr_len) != 0 && errno != EINPROGRESS)
            die("%s: cannot connect to %s: %s", conn_name(c), cfg.server, strerror(errno));
        c->events = EPOLLOUT;  // writable once connected (or failed)
        struct epoll_event ev = {.events = c->events, .data.ptr = c};
        if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl: %s", strerror(errno));
    }
    busy = n;  // each becomes ready when the server's HELLO arrives
    return conns;
}

/// close_notify (best effort, not waiting for the server's), then close.
static void close_connections(struct conn *conns, int n) {
    for (int i = 0; i < n; i++) {
        SSL_shutdown(conns[i].ssl);
        SSL_free(conns[i].ssl);
        close(conns[i].fd);  // also leaves the epoll set
        free(conns[i].in.data);
        free(conns[i].out.data);
    }
    free(conns);
}

/// Runs the event loop until every connection reached the phase's goal
/// (`busy` is 0). A connection that spends STALL_MS connecting or in one
/// call ends the run.
static void run_until_idle(struct conn *conns, int n) {
    struct epoll_event events[256];
    double last_check = now_ms();
    while (busy > 0) {
        int k = epoll_wait(epoll_fd, events, 256, 1000);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < k; i++) on_event(events[i].data.ptr);
        double now = now_ms();
        if (now - last_check < 1000) continue;
        last_check = now;
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[i];
            if (c->state != CS_READY && now - c->started_ms > STALL_MS)
                die("%s: %s in %.0f s", conn_name(c),
                    c->state == CS_IN_CALL ? "no answer to a call" : "TLS and HELLO did not complete",
                    STALL_MS / 1000);
        }
    }
}

// ---------------------------------------------------------------------------
// The benchmark
// ---------------------------------------------------------------------------

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/// As ToggleBenchmark.percentile: sorted[min(n - 1, Int(n * p))].
static double percentile(const double *sorted, size_t n, double p) {
    if (n == 0) return 0;
    size_t i = (size_t)((double)n * p);
    return sorted[i < n - 1 ? i : n - 1];
}

/// CPU µs per toggle as text, "-" when unknown (as ToggleBenchmark.microsecondsPerToggle).
static void per_toggle(char *out, size_t size, double before, double after, size_t toggles) {
    if (before < 0 || after < 0) snprintf(out, size, "-");
    else snprintf(out, size, "%.0f", (after - before) / (double)(toggles > 0 ? toggles : 1) * 1e6);
}

int main(int argc, char **argv) {
    parse_options(argc, argv);
    signal(SIGPIPE, SIG_IGN);  // a server that goes away is reported by OpenSSL, not by a signal
    load_config();
    if (opt.server_pid && process_cpu_seconds(opt.server_pid) < 0)
        die("cannot read /proc/%ld/stat: no such process?", opt.server_pid);

    // One descriptor per writer, plus a few.
    int most = 1;
    for (int i = 0; i < opt.n_writer_counts; i++)
        if (opt.writer_counts[i] > most) most = opt.writer_counts[i];
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < (rlim_t)most + 64) {
        files.rlim_cur = files.rlim_max < (rlim_t)most + 64 ? files.rlim_max : (rlim_t)most + 64;
        setrlimit(RLIMIT_NOFILE, &files);
    }

    tls_setup();
    resolve_server();
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) die("epoll_create1: %s", strerror(errno));

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

        double server_before = opt.server_pid ? process_cpu_seconds(opt.server_pid) : -1;
        double own_before = own_cpu_seconds();
        double started = now_ms();
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
        double elapsed = (now_ms() - started) / 1000;
        double server_after = opt.server_pid ? process_cpu_seconds(opt.server_pid) : -1;
        double own_after = own_cpu_seconds();

        qsort(latencies, n_latencies, sizeof *latencies, compare_doubles);
        char server_cpu[32], own_cpu[32];
        per_toggle(server_cpu, sizeof server_cpu, server_before, server_after, n_latencies);
        per_toggle(own_cpu, sizeof own_cpu, own_before, own_after, n_latencies);
        printf("%-9d%9.0f  %7.2f  %7.2f   %-23s%s\n", count, (double)n_latencies / elapsed,
               percentile(latencies, n_latencies, 0.50), percentile(latencies, n_latencies, 0.99), server_cpu,
               own_cpu);
        fflush(stdout);
        close_connections(conns, count);
    }
    SSL_CTX_free(tls);
    return 0;
}
