// driver_common: what the lean C benchmark drivers share; see driver_common.h.
#define _GNU_SOURCE
#include "driver_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "gatehouse/v1/errors.pb-c.h"

// ---------------------------------------------------------------------------
// Protocol constants
// ---------------------------------------------------------------------------

const char *const DC_FRAME_NAMES[] = {"HELLO", "HEADERS", "MESSAGE", "TRAILERS", "CANCEL", "PING", "GOAWAY"};
// The flag bits each type defines; any other bit set is a PROTOCOL_ERROR.
static const uint8_t DEFINED_FLAGS[] = {0, 0, 0x01, 0, 0, 0x01, 0};
const char *const DC_ERROR_NAMES[] = {"NO_ERROR", "PROTOCOL_ERROR", "FRAME_SIZE_ERROR",
                                      "UNSUPPORTED_VERSION", "INTERNAL_ERROR", "TIMEOUT"};
static const char *const STATUS_NAMES[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED"};

const char *dc_status_name(unsigned status) { return status <= 16 ? STATUS_NAMES[status] : "UNKNOWN"; }

// ---------------------------------------------------------------------------
// Small helpers: time, CPU, errors
// ---------------------------------------------------------------------------

const char *dc_program = "driver";

double dc_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

double dc_own_cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
           + (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double dc_process_cpu_seconds(long pid) {
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
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p + 1, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        if (++field == 14) utime = strtoull(tok, NULL, 10);
        if (field == 15) {
            stime = strtoull(tok, NULL, 10);
            return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
        }
    }
    return -1;
}

void dc_die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fflush(stdout);  // the table so far first
    fprintf(stderr, "%s: ", dc_program);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

void *dc_xrealloc(void *p, size_t size) {
    void *q = realloc(p, size);
    if (q == NULL && size > 0) dc_die("out of memory");
    return q;
}

const char *dc_openssl_errors(void) {
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

int dc_valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t c = s[i], cp, min;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

int dc_compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double dc_percentile(const double *sorted, size_t n, double p) {
    if (n == 0) return 0;
    size_t i = (size_t)((double)n * p);
    return sorted[i < n - 1 ? i : n - 1];
}

// ---------------------------------------------------------------------------
// Byte buffers
// ---------------------------------------------------------------------------

void dc_buf_reserve(struct dc_buf *b, size_t extra) {
    if (b->off > 0 && (b->off == b->len || b->len + extra > b->cap)) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + extra > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra) cap *= 2;
        b->data = dc_xrealloc(b->data, cap);
        b->cap = cap;
    }
}

void dc_buf_clear(struct dc_buf *b) {
    b->off = b->len = 0;
    if (b->cap > 16384) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

void dc_put_u8(struct dc_buf *b, uint8_t v) {
    dc_buf_reserve(b, 1);
    b->data[b->len++] = v;
}

void dc_put_u16(struct dc_buf *b, uint16_t v) {
    dc_buf_reserve(b, 2);
    b->data[b->len++] = (uint8_t)(v >> 8);
    b->data[b->len++] = (uint8_t)v;
}

void dc_put_u32(struct dc_buf *b, uint32_t v) {
    dc_buf_reserve(b, 4);
    for (int shift = 24; shift >= 0; shift -= 8) b->data[b->len++] = (uint8_t)(v >> shift);
}

void dc_put_bytes(struct dc_buf *b, const void *p, size_t n) {
    dc_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void dc_put_header(struct dc_buf *b, uint32_t length, uint8_t type, uint8_t flags, uint32_t stream_id) {
    dc_put_u32(b, length);
    dc_put_u8(b, type);
    dc_put_u8(b, flags);
    dc_put_u32(b, stream_id);
}

uint16_t dc_get_u16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
uint32_t dc_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

void dc_queue_hello(struct dc_buf *out) {
    dc_put_header(out, 4 + 1 + 2 + 1 + 6, DC_FT_HELLO, 0, 0);
    dc_put_bytes(out, "GHWP", 4);
    dc_put_u8(out, 1);
    dc_put_u16(out, DC_PROTOCOL_VERSION);
    dc_put_u8(out, 1);
    dc_put_u16(out, DC_SETTING_MAX_FRAME_SIZE);
    dc_put_u32(out, DC_OUR_MAX_FRAME_SIZE);
}

void dc_queue_call(struct dc_buf *out, uint32_t stream_id, const char *path, const ProtobufCMessage *request,
                   size_t size, int end_stream) {
    size_t path_len = strlen(path);
    dc_put_header(out, (uint32_t)(2 + path_len + 4 + 2), DC_FT_HEADERS, 0, stream_id);
    dc_put_u16(out, (uint16_t)path_len);
    dc_put_bytes(out, path, path_len);
    dc_put_u32(out, 0);  // timeout_ms: none, as the Swift tool's calls
    dc_put_u16(out, 0);  // no metadata
    dc_put_header(out, (uint32_t)size, DC_FT_MESSAGE, end_stream ? DC_FLAG_END_STREAM : 0, stream_id);
    dc_buf_reserve(out, size);
    out->len += protobuf_c_message_pack(request, out->data + out->len);
}

void dc_queue_ping_ack(struct dc_buf *out, const uint8_t *payload) {
    dc_put_header(out, 8, DC_FT_PING, DC_FLAG_ACK, 0);
    dc_put_bytes(out, payload, 8);
}

void dc_send_goaway(SSL *ssl, const struct dc_buf *out, int code, const char *detail) {
    struct dc_buf b = {0};
    size_t debug_len = strlen(detail);
    dc_put_header(&b, (uint32_t)(4 + 2 + 2 + debug_len), DC_FT_GOAWAY, 0, 0);
    dc_put_u32(&b, 0);  // we process no server-opened streams
    dc_put_u16(&b, (uint16_t)code);
    dc_put_u16(&b, (uint16_t)debug_len);
    dc_put_bytes(&b, detail, debug_len);
    if (out->off == out->len && SSL_write(ssl, b.data, (int)b.len) > 0) SSL_shutdown(ssl);
    free(b.data);
}

void dc_protocol_failure(SSL *ssl, const struct dc_buf *out, const char *name, int code, const char *format,
                         va_list args) {
    char detail[512];
    vsnprintf(detail, sizeof detail, format, args);
    dc_send_goaway(ssl, out, code, detail);
    dc_die("%s: %s from the server: %s", name, DC_ERROR_NAMES[code], detail);
}

/// Fills `f` and returns 1: the checks' way of saying no.
__attribute__((format(printf, 3, 4))) static int fault(struct dc_fault *f, int code, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(f->why, sizeof f->why, format, args);
    va_end(args);
    f->code = code;
    return 1;
}

int dc_check_header(uint32_t len, uint8_t type, uint8_t flags, uint32_t stream_id, struct dc_fault *f) {
    if (len > DC_OUR_MAX_FRAME_SIZE)
        return fault(f, DC_FRAME_SIZE_ERROR, "frame length %u exceeds our maximum %u", len, DC_OUR_MAX_FRAME_SIZE);
    if (type > DC_FT_GOAWAY) return fault(f, DC_PROTOCOL_ERROR, "unknown frame type 0x%02x", type);
    const char *name = DC_FRAME_NAMES[type];
    int connection_frame = type == DC_FT_HELLO || type == DC_FT_PING || type == DC_FT_GOAWAY;
    if (stream_id & 0x80000000u) return fault(f, DC_PROTOCOL_ERROR, "%s stream id has the high bit set", name);
    if (connection_frame && stream_id != 0)
        return fault(f, DC_PROTOCOL_ERROR, "%s on stream %u, must be 0", name, stream_id);
    if (!connection_frame && stream_id == 0) return fault(f, DC_PROTOCOL_ERROR, "%s on stream 0", name);
    if (flags & ~DEFINED_FLAGS[type])
        return fault(f, DC_PROTOCOL_ERROR, "%s has undefined flag bits 0x%02x", name, flags & ~DEFINED_FLAGS[type]);
    if (type == DC_FT_PING && len != 8)
        return fault(f, DC_PROTOCOL_ERROR, "PING payload is %u octets, must be 8", len);
    if (type == DC_FT_CANCEL && len != 0) return fault(f, DC_PROTOCOL_ERROR, "CANCEL carries no payload");
    return 0;
}

int dc_check_frame_from_server(uint8_t type, int awaiting_hello, struct dc_fault *f) {
    const char *name = DC_FRAME_NAMES[type];
    if (type == DC_FT_HEADERS || type == DC_FT_CANCEL)
        return fault(f, DC_PROTOCOL_ERROR, "%s is sent by clients only", name);
    if (awaiting_hello && type != DC_FT_HELLO && type != DC_FT_GOAWAY)
        return fault(f, DC_PROTOCOL_ERROR, "the server's first frame is %s, not HELLO", name);
    return 0;
}

int dc_parse_server_hello(const uint8_t *p, uint32_t len, uint32_t *peer_max_frame, struct dc_fault *f) {
    // magic "GHWP", version count, versions, setting count, settings (id 2, value 4)
    if (len < 5 || memcmp(p, "GHWP", 4) != 0) return fault(f, DC_PROTOCOL_ERROR, "HELLO magic is not GHWP");
    uint32_t n = p[4], at = 5;
    if (n < 1) return fault(f, DC_PROTOCOL_ERROR, "HELLO lists no version");
    if (len < at + 2 * n + 1) return fault(f, DC_PROTOCOL_ERROR, "HELLO payload shorter than its fields");
    if (n != 1 || dc_get_u16(p + at) != DC_PROTOCOL_VERSION)
        return fault(f, DC_PROTOCOL_ERROR, "the server's HELLO must choose exactly version 1");
    at += 2 * n;
    uint32_t m = p[at++];
    if (len != at + 6 * m)
        return fault(f, DC_PROTOCOL_ERROR, "HELLO payload %s than its fields", len < at + 6 * m ? "shorter" : "longer");
    *peer_max_frame = DC_PEER_DEFAULT_MAX_FRAME;
    for (uint32_t i = 0; i < m; i++, at += 6) {
        uint32_t value = dc_get_u32(p + at + 2);
        if (dc_get_u16(p + at) != DC_SETTING_MAX_FRAME_SIZE) continue;  // others do not matter; unknown ids ignored
        if (value < 16384 || value > 16777215)
            return fault(f, DC_PROTOCOL_ERROR, "MAX_FRAME_SIZE %u outside 16384 … 16777215", value);
        *peer_max_frame = value;  // a repeated id takes its last value
    }
    return 0;
}

int dc_goaway_from_server(const uint8_t *p, uint32_t len, const char *name, int awaiting_hello, struct dc_fault *f) {
    if (len < 8) return fault(f, DC_PROTOCOL_ERROR, "GOAWAY payload shorter than its fields");
    uint16_t code = dc_get_u16(p + 4), debug_len = dc_get_u16(p + 6);
    if (len != 8u + debug_len)
        return fault(f, DC_PROTOCOL_ERROR, "GOAWAY payload %s than its fields",
                     len < 8u + debug_len ? "shorter" : "longer");
    if (!dc_valid_utf8(p + 8, debug_len)) return fault(f, DC_PROTOCOL_ERROR, "GOAWAY debug is not valid UTF-8");
    dc_die("%s: the server sent GOAWAY %s (%u): %.*s%s", name, code <= 5 ? DC_ERROR_NAMES[code] : "?", code,
           (int)debug_len, (const char *)(p + 8),
           awaiting_hello ? " (it refused our HELLO)" : " (it is leaving; the run cannot go on)");
}

int dc_parse_trailers(const uint8_t *p, uint32_t len, uint16_t *status, uint16_t *message_len,
                      uint32_t *details_len, struct dc_fault *f) {
    if (len < 8) return fault(f, DC_PROTOCOL_ERROR, "TRAILERS payload shorter than its fields");
    *status = dc_get_u16(p);
    *message_len = dc_get_u16(p + 2);
    if (len < 8u + *message_len) return fault(f, DC_PROTOCOL_ERROR, "TRAILERS payload shorter than its fields");
    *details_len = dc_get_u32(p + 4 + *message_len);
    uint64_t fields = 8u + (uint64_t)*message_len + *details_len;
    if ((uint64_t)len != fields)
        return fault(f, DC_PROTOCOL_ERROR, "TRAILERS payload %s than its fields",
                     (uint64_t)len < fields ? "shorter" : "longer");
    if (!dc_valid_utf8(p + 4, *message_len))
        return fault(f, DC_PROTOCOL_ERROR, "TRAILERS message is not valid UTF-8");
    return 0;
}

void dc_call_failed(const char *name, const char *what, const char *verb, uint16_t status, const uint8_t *message,
                    size_t message_len, const uint8_t *details, size_t details_len) {
    char extra[1024] = "";
    size_t used = 0;
    Gatehouse__V1__ErrorDetails *d =
        details_len ? gatehouse__v1__error_details__unpack(NULL, details_len, details) : NULL;
    if (d != NULL) {
        if (*d->reason) used += (size_t)snprintf(extra, sizeof extra, " [reason %s", d->reason);
        for (size_t i = 0; i < d->n_metadata && used < sizeof extra; i++)
            used += (size_t)snprintf(extra + used, sizeof extra - used, "%s%s=%s", used ? ", " : " [",
                                     d->metadata[i]->key, d->metadata[i]->value);
        for (size_t i = 0; i < d->n_field_violations && used < sizeof extra; i++)
            used += (size_t)snprintf(extra + used, sizeof extra - used, "%s%s: %s", used ? ", " : " [",
                                     d->field_violations[i]->field, d->field_violations[i]->description);
        if (used > 0 && used < sizeof extra - 1) strcat(extra, "]");
        gatehouse__v1__error_details__free_unpacked(d, NULL);
    }
    dc_die("%s: %s %s: %s (%u): %.*s%s", name, what, verb, dc_status_name(status), status, (int)message_len,
           (const char *)message, extra);
}

// ---------------------------------------------------------------------------
// The client config and the server's address
// ---------------------------------------------------------------------------

/// Trims blanks (and a line end) at both ends, in place.
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) *--e = '\0';
    return s;
}

/// A path from the config at `config_path`; a relative one is taken from the config file's directory.
static char *resolve_path(const char *config_path, const char *value) {
    const char *slash = strrchr(config_path, '/');
    if (value[0] == '/' || slash == NULL) return strdup(value);
    size_t dir = (size_t)(slash - config_path) + 1;
    char *path = dc_xrealloc(NULL, dir + strlen(value) + 1);
    memcpy(path, config_path, dir);
    strcpy(path + dir, value);
    return path;
}

void dc_load_config(struct dc_config *cfg, const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) dc_die("cannot read client config %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    for (int number = 1; getline(&line, &cap, f) != -1; number++) {
        char *s = trim(line);
        if (*s == '\0' || *s == '#') continue;
        char *colon = strchr(s, ':');
        if (colon == NULL) dc_die("client config %s line %d: expected \"key: value\"", path, number);
        *colon = '\0';
        char *key = trim(s), *value = trim(colon + 1);
        if (*value == '"' || *value == '\'') {  // a quoted value ends at its closing quote
            char *close = strchr(value + 1, *value);
            if (close == NULL) dc_die("client config %s line %d: unterminated quote", path, number);
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
        if (strcmp(key, "server") == 0) cfg->server = strdup(value);
        else if (strcmp(key, "ca") == 0) cfg->ca = resolve_path(path, value);
        else if (strcmp(key, "certificate") == 0) cfg->certificate = resolve_path(path, value);
        else if (strcmp(key, "key") == 0) cfg->key = resolve_path(path, value);
        else if (strcmp(key, "server_name") == 0) cfg->server_name = strdup(value);
        // other keys are ignored, as the Swift client's decoder ignores them
    }
    free(line);
    fclose(f);
    if (!cfg->server || !*cfg->server || !cfg->ca || !cfg->certificate || !cfg->key)
        dc_die("client config %s is not valid: it needs server, ca, certificate and key", path);

    // server: "host:port", or "[v6]:port".
    char *s = strdup(cfg->server), *port;
    if (s[0] == '[') {
        char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') dc_die("server \"%s\" has no port; expected [host]:port", cfg->server);
        *close = '\0';
        cfg->host = s + 1;
        port = close + 2;
    } else {
        char *colon = strrchr(s, ':');
        if (colon == NULL) dc_die("server \"%s\" has no port; expected host:port", cfg->server);
        *colon = '\0';
        cfg->host = s;
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*cfg->host == '\0' || end == port || *end != '\0' || p < 1 || p > 65535)
        dc_die("server \"%s\" is not host:port", cfg->server);
    cfg->port = port;
    cfg->verify_name = cfg->server_name && *cfg->server_name ? cfg->server_name : cfg->host;
    unsigned char ip[16];
    cfg->verify_name_is_ip =
        inet_pton(AF_INET, cfg->verify_name, ip) == 1 || inet_pton(AF_INET6, cfg->verify_name, ip) == 1;
}

void dc_resolve_server(struct dc_config *cfg) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *list;
    int rc = getaddrinfo(cfg->host, cfg->port, &hints, &list);
    if (rc != 0) dc_die("cannot resolve %s: %s", cfg->host, gai_strerror(rc));
    char why[256] = "no address";
    for (struct addrinfo *a = list; a != NULL; a = a->ai_next) {
        int err = 0;
        if (list->ai_next != NULL) {  // several: probe (one address needs no probe; the server would log it)
            int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) continue;
            if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
                err = errno;
                if (err == EINPROGRESS) {
                    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                    socklen_t len = sizeof err;
                    if (poll(&pfd, 1, 5000) != 1) err = ETIMEDOUT;
                    else getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                }
            }
            close(fd);
        }
        if (err == 0) {
            memcpy(&cfg->addr, a->ai_addr, a->ai_addrlen);
            cfg->addr_len = a->ai_addrlen;
            freeaddrinfo(list);
            return;
        }
        snprintf(why, sizeof why, "%s", strerror(err));
    }
    freeaddrinfo(list);
    dc_die("cannot connect to %s: %s", cfg->server, why);
}

// ---------------------------------------------------------------------------
// TLS and one connection's plumbing
// ---------------------------------------------------------------------------

SSL_CTX *dc_tls_client_context(const struct dc_config *cfg, long extra_mode) {
    SSL_CTX *tls = SSL_CTX_new(TLS_client_method());
    if (tls == NULL) dc_die("cannot create a TLS context: %s", dc_openssl_errors());
    SSL_CTX_set_min_proto_version(tls, TLS1_3_VERSION);
    if (SSL_CTX_load_verify_locations(tls, cfg->ca, NULL) != 1)
        dc_die("cannot load the CA bundle %s: %s", cfg->ca, dc_openssl_errors());
    if (SSL_CTX_use_certificate_chain_file(tls, cfg->certificate) != 1)
        dc_die("cannot load the client certificate %s: %s", cfg->certificate, dc_openssl_errors());
    if (SSL_CTX_use_PrivateKey_file(tls, cfg->key, SSL_FILETYPE_PEM) != 1)
        dc_die("cannot load the private key %s: %s", cfg->key, dc_openssl_errors());
    if (SSL_CTX_check_private_key(tls) != 1)
        dc_die("the key %s does not match the certificate %s: %s", cfg->key, cfg->certificate, dc_openssl_errors());
    SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(tls);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = cfg->verify_name_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, cfg->verify_name)
                                    : X509_VERIFY_PARAM_set1_host(param, cfg->verify_name, 0);
    if (ok != 1) dc_die("cannot check the server certificate for \"%s\": %s", cfg->verify_name, dc_openssl_errors());
    static const unsigned char alpn[] = "\x0b" DC_ALPN_ID;
    if (SSL_CTX_set_alpn_protos(tls, alpn, sizeof alpn - 1) != 0)  // 0 is success here
        dc_die("cannot set ALPN: %s", dc_openssl_errors());
    // SSL_write may send part of a buffer, and the buffer may move (it grows) between retries.
    SSL_CTX_set_mode(tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | extra_mode);
    // Read what the socket has in one read() rather than header then body; records
    // left buffered inside OpenSSL are found with SSL_has_pending.
    SSL_CTX_set_read_ahead(tls, 1);
    SSL_CTX_set_options(tls, SSL_OP_NO_RENEGOTIATION);
    return tls;
}

SSL *dc_new_ssl(SSL_CTX *tls, int fd, const struct dc_config *cfg) {
    SSL *ssl = SSL_new(tls);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) dc_die("SSL_new: %s", dc_openssl_errors());
    SSL_set_connect_state(ssl);
    if (!cfg->verify_name_is_ip && SSL_set_tlsext_host_name(ssl, cfg->verify_name) != 1)  // SNI: names only
        dc_die("SNI: %s", dc_openssl_errors());
    return ssl;
}

void dc_no_delay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void dc_start_connect(int epoll_fd, int fd, const struct dc_config *cfg, void *ptr, uint32_t *events,
                      const char *name) {
    if (connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addr_len) != 0 && errno != EINPROGRESS)
        dc_die("%s: cannot connect to %s: %s", name, cfg->server, strerror(errno));
    *events = EPOLLOUT;  // writable once connected (or failed)
    struct epoll_event ev = {.events = *events, .data.ptr = ptr};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) dc_die("epoll_ctl: %s", strerror(errno));
}

void dc_check_connected(int fd, const struct dc_config *cfg, const char *name) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) dc_die("%s: cannot connect to %s: %s", name, cfg->server, strerror(err));
}

void dc_set_interest(int epoll_fd, int fd, void *ptr, uint32_t *events, uint32_t want) {
    if (want == *events) return;
    struct epoll_event ev = {.events = want, .data.ptr = ptr};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0) dc_die("epoll_ctl: %s", strerror(errno));
    *events = want;
}

enum dc_io dc_flush(SSL *ssl, struct dc_buf *out, int *want_write, int *ret) {
    *want_write = 0;
    while (out->off < out->len) {
        int n = SSL_write(ssl, out->data + out->off, (int)(out->len - out->off));
        if (n > 0) {
            out->off += (size_t)n;
            continue;
        }
        int err = SSL_get_error(ssl, n);
        if (err == SSL_ERROR_WANT_WRITE) {
            *want_write = 1;
            return DC_IO_WAIT;
        }
        if (err == SSL_ERROR_WANT_READ) return DC_IO_WAIT;  // retried on the next readable event
        *ret = n;
        return DC_IO_FAILED;
    }
    dc_buf_clear(out);
    return DC_IO_DONE;
}

enum dc_io dc_handshake(SSL *ssl, int *want_write, int *ret, const char *name) {
    int r = SSL_connect(ssl);
    if (r != 1) {
        int err = SSL_get_error(ssl, r);
        if (err == SSL_ERROR_WANT_READ) *want_write = 0;
        else if (err == SSL_ERROR_WANT_WRITE) *want_write = 1;
        else {
            *ret = r;
            return DC_IO_FAILED;
        }
        return DC_IO_WAIT;
    }
    *want_write = 0;
    const unsigned char *proto;
    unsigned int proto_len;
    SSL_get0_alpn_selected(ssl, &proto, &proto_len);
    if (proto_len != strlen(DC_ALPN_ID) || memcmp(proto, DC_ALPN_ID, proto_len) != 0)
        dc_die("%s: the server did not select ALPN %s", name, DC_ALPN_ID);
    return DC_IO_DONE;
}

void dc_close(SSL *ssl, int fd, struct dc_buf *in, struct dc_buf *out) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);  // also leaves the epoll set
    free(in->data);
    free(out->data);
}

void dc_tls_failure(SSL *ssl, const struct dc_config *cfg, const char *name, const char *during, int ret,
                    int saved_errno, int after_handshake, const char *hint) {
    int err = SSL_get_error(ssl, ret);
    long verify = SSL_get_verify_result(ssl);
    const char *errors = dc_openssl_errors();
    if (verify != X509_V_OK)
        dc_die("%s: certificate verification failed for the server %s (checked against the CA %s, for the %s "
               "\"%s\"): %s",
               name, cfg->server, cfg->ca, cfg->verify_name_is_ip ? "IP address" : "name", cfg->verify_name,
               X509_verify_cert_error_string(verify));
    if (err == SSL_ERROR_ZERO_RETURN)
        dc_die("%s: the server closed the connection (close_notify) %s%s", name, during, hint);
    if (err == SSL_ERROR_SYSCALL && *errors == '\0')
        dc_die("%s: the connection to %s ended %s: %s%s", name, cfg->server, during,
               saved_errno ? strerror(saved_errno) : "unexpected end of stream", hint);
    dc_die("%s: TLS error %s with %s: %s%s", name, during, cfg->server, *errors ? errors : "unknown",
           after_handshake ? " (the server refused the connection after the handshake; is our "
                             "certificate from its CA and allowed by its policy?)"
                           : hint);
}
