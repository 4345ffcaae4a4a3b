// driver_common: what the lean C benchmark drivers (Benchmarks/ToggleDriver,
// Benchmarks/SubscriberDriver) share, so that each driver's own file holds
// only its protocol flow, its measurement and its table.
//
// Here: time and CPU helpers, error helpers, growable byte buffers with the
// big-endian writers frames need, the frame header's constants and names
// (PROTOCOL.md sections 2-5), checks of the frames both drivers receive
// (header, HELLO, GOAWAY, TRAILERS), the frames both send (HELLO, a call's
// HEADERS and MESSAGE, PING ACK, GOAWAY), the client config file (`server:`,
// `ca:`, `certificate:`, `key:`, `server_name:`), the server's address, the
// OpenSSL client context (TLS 1.3, mutual TLS, the server verified against
// the CA for its name or IP, ALPN gatehouse/1) and the socket and TLS plumbing
// of one non-blocking connection in an epoll loop.
//
// Every message a driver prints starts with its own name: set `dc_program`
// before anything can fail. Everything here that fails ends the run as the
// drivers always have: a message on stderr and exit status 1.
//
// Plain C11 (with _GNU_SOURCE for getline, strtok_r, SOCK_NONBLOCK); it needs
// OpenSSL and the protobuf-c code build-driver.sh generates (errors.pb-c.h).
#ifndef DRIVER_COMMON_H
#define DRIVER_COMMON_H

#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <openssl/ssl.h>
#include <protobuf-c/protobuf-c.h>

// ---------------------------------------------------------------------------
// Protocol constants (PROTOCOL.md sections 2-5)
// ---------------------------------------------------------------------------

#define DC_HEADER_LEN 10                  // length 4, type 1, flags 1, stream id 4, big-endian
#define DC_PROTOCOL_VERSION 1
#define DC_OUR_MAX_FRAME_SIZE 1048576u    // what we announce in our HELLO and accept
#define DC_PEER_DEFAULT_MAX_FRAME 16384u  // a peer that announces no MAX_FRAME_SIZE accepts this
#define DC_MAX_STREAM_ID 0x7fffffffu

enum dc_frame_type {
    DC_FT_HELLO = 0, DC_FT_HEADERS, DC_FT_MESSAGE, DC_FT_TRAILERS, DC_FT_CANCEL, DC_FT_PING, DC_FT_GOAWAY
};
extern const char *const DC_FRAME_NAMES[];  // indexed by enum dc_frame_type
#define DC_FLAG_END_STREAM 0x01
#define DC_FLAG_ACK 0x01
#define DC_SETTING_MAX_FRAME_SIZE 1

// Connection error codes (GOAWAY); the drivers send the first three.
enum { DC_NO_ERROR = 0, DC_PROTOCOL_ERROR = 1, DC_FRAME_SIZE_ERROR = 2 };
extern const char *const DC_ERROR_NAMES[];  // codes 0 … 5

// Call status codes (TRAILERS): gRPC's canonical codes.
#define DC_STATUS_OK 0
/// The status code's name; "UNKNOWN" past the last (16).
const char *dc_status_name(unsigned status);

// What both drivers call and announce.
#define DC_ALPN_ID "gatehouse/1"
#define DC_DEFINE_PATH "/gatehouse.v1.Features/Define"
#define DC_SET_PATH "/gatehouse.v1.Features/Set"

// ---------------------------------------------------------------------------
// Small helpers: time, CPU, errors
// ---------------------------------------------------------------------------

/// The driver's name, the prefix of every message (e.g. "toggle_driver").
extern const char *dc_program;

/// Monotonic time in milliseconds.
double dc_now_ms(void);
/// This process's CPU time (user + system), in seconds.
double dc_own_cpu_seconds(void);
/// Another process's CPU time (utime + stime from /proc/PID/stat), in seconds; -1 when unreadable.
double dc_process_cpu_seconds(long pid);

/// Flushes stdout, prints "<dc_program>: <message>" to stderr and exits with status 1.
__attribute__((noreturn, format(printf, 1, 2))) void dc_die(const char *format, ...);
/// realloc, or dc_die("out of memory").
void *dc_xrealloc(void *p, size_t size);
/// OpenSSL's queued errors as one line ("; "-separated), emptying the queue; "" when none.
const char *dc_openssl_errors(void);
/// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
int dc_valid_utf8(const uint8_t *s, size_t n);

/// For qsort: ascending doubles.
int dc_compare_doubles(const void *a, const void *b);
/// As ToggleBenchmark.percentile: sorted[min(n - 1, Int(n * p))]; 0 when n is 0.
double dc_percentile(const double *sorted, size_t n, double p);

// ---------------------------------------------------------------------------
// Byte buffers: big-endian writers for frames
// ---------------------------------------------------------------------------

/// A growable byte buffer; bytes [off, len) are the ones not yet consumed (or sent).
struct dc_buf {
    uint8_t *data;
    size_t off, len, cap;
};

/// Makes room for `extra` more bytes at the end, first dropping consumed ones.
void dc_buf_reserve(struct dc_buf *b, size_t extra);
/// Forgets the contents; gives the memory back when it grew large (an idle
/// connection should not keep a snapshot-sized buffer).
void dc_buf_clear(struct dc_buf *b);
void dc_put_u8(struct dc_buf *b, uint8_t v);
void dc_put_u16(struct dc_buf *b, uint16_t v);
void dc_put_u32(struct dc_buf *b, uint32_t v);
void dc_put_bytes(struct dc_buf *b, const void *p, size_t n);
/// The 10-octet frame header.
void dc_put_header(struct dc_buf *b, uint32_t length, uint8_t type, uint8_t flags, uint32_t stream_id);
uint16_t dc_get_u16(const uint8_t *p);
uint32_t dc_get_u32(const uint8_t *p);

// ---------------------------------------------------------------------------
// Frames: what both drivers send, and the checks of what they receive
// ---------------------------------------------------------------------------

/// Our HELLO: magic, one version (1), one setting (MAX_FRAME_SIZE).
void dc_queue_hello(struct dc_buf *out);
/// A call's HEADERS (path, no deadline, no metadata) and its first MESSAGE,
/// the request packed in place (`size` is its packed size); END_STREAM when
/// `end_stream` (unary requests end the client's side, a subscription's does not).
void dc_queue_call(struct dc_buf *out, uint32_t stream_id, const char *path, const ProtobufCMessage *request,
                   size_t size, int end_stream);
/// The answer to a PING without ACK: ACK with the same 8 octets.
void dc_queue_ping_ack(struct dc_buf *out, const uint8_t *payload);
/// A GOAWAY with `code` and `detail`, written at once, then close_notify; best
/// effort (as PROTOCOL.md asks), and only when `out` holds nothing unsent.
void dc_send_goaway(SSL *ssl, const struct dc_buf *out, int code, const char *detail);
/// Ends the run for a connection error of the server's making: formats the
/// detail, sends GOAWAY with `code` (dc_send_goaway), and exits 1 naming `name`.
__attribute__((noreturn)) void dc_protocol_failure(SSL *ssl, const struct dc_buf *out, const char *name, int code,
                                                   const char *format, va_list args);

/// Why a received frame breaks PROTOCOL.md: the GOAWAY code to send and the text.
/// The checks below return 0 when the frame is fine, else fill one and return 1.
struct dc_fault {
    int code;
    char why[256];
};

/// The 10 header octets alone, before any payload, in PROTOCOL.md's order.
int dc_check_header(uint32_t len, uint8_t type, uint8_t flags, uint32_t stream_id, struct dc_fault *f);
/// Frames a client must never get: HEADERS or CANCEL, or anything but HELLO
/// or GOAWAY first (`awaiting_hello`: the server's HELLO has not come yet).
int dc_check_frame_from_server(uint8_t type, int awaiting_hello, struct dc_fault *f);
/// The server's HELLO: magic, exactly version 1, and its settings; sets
/// *peer_max_frame (PEER_DEFAULT_MAX_FRAME unless it announced MAX_FRAME_SIZE).
int dc_parse_server_hello(const uint8_t *p, uint32_t len, uint32_t *peer_max_frame, struct dc_fault *f);
/// The server's GOAWAY (last stream 4, code 2, debug str16 in valid UTF-8)
/// on connection `name`: returns 1 with the fault when the payload is
/// malformed, else ends the run saying what the server said (`awaiting_hello`:
/// it refused our HELLO; otherwise it is leaving).
int dc_goaway_from_server(const uint8_t *p, uint32_t len, const char *name, int awaiting_hello, struct dc_fault *f);
/// A TRAILERS payload: status 2, message str16 (valid UTF-8), details bytes32.
/// The message is at p + 4, the details at p + 8 + *message_len.
int dc_parse_trailers(const uint8_t *p, uint32_t len, uint16_t *status, uint16_t *message_len,
                      uint32_t *details_len, struct dc_fault *f);
/// Ends the run for a call that ended with `status` on connection `name`:
/// "<name>: <what> <verb>: <STATUS> (<n>): <message> [<ErrorDetails>]".
__attribute__((noreturn)) void dc_call_failed(const char *name, const char *what, const char *verb, uint16_t status,
                                              const uint8_t *message, size_t message_len, const uint8_t *details,
                                              size_t details_len);

// ---------------------------------------------------------------------------
// The client config and the server's address
// ---------------------------------------------------------------------------

struct dc_config {
    char *server, *ca, *certificate, *key, *server_name;  // from the config file
    char *host, *port;      // `server`, split
    char *verify_name;      // the name the server certificate must carry: server_name, else host
    int verify_name_is_ip;  // checked as an IP address SAN, and no SNI sent
    struct sockaddr_storage addr;
    socklen_t addr_len;
};

/// Reads the client config at `path`: `key: value` lines, `#` starts a comment,
/// values may be quoted; relative paths are taken from the file's directory
/// (as the Swift client does); other keys are ignored.
void dc_load_config(struct dc_config *cfg, const char *path);
/// Resolves the server once. When the name has several addresses (localhost:
/// ::1 and 127.0.0.1), keeps the first that accepts a TCP connection.
void dc_resolve_server(struct dc_config *cfg);

// ---------------------------------------------------------------------------
// TLS and one connection's plumbing
// ---------------------------------------------------------------------------

/// The client context: TLS 1.3, our certificate and key, the server verified
/// against the CA bundle and for the name (or IP) it was dialled by, ALPN
/// gatehouse/1, partial writes from a moving buffer (plus `extra_mode`), read
/// ahead (records left inside OpenSSL are found with SSL_has_pending), no
/// renegotiation.
SSL_CTX *dc_tls_client_context(const struct dc_config *cfg, long extra_mode);

/// A new TLS client on the connected-to-be socket `fd`, with SNI (names only).
SSL *dc_new_ssl(SSL_CTX *tls, int fd, const struct dc_config *cfg);
/// Sets TCP_NODELAY: no Nagle, every frame goes out at once.
void dc_no_delay(int fd);
/// Starts the non-blocking TCP connect of `fd` and adds it to `epoll_fd`
/// (interest *events = EPOLLOUT: writable once connected, or failed), with `ptr`
/// as its event data; `name` is the connection's, for the message if it fails.
void dc_start_connect(int epoll_fd, int fd, const struct dc_config *cfg, void *ptr, uint32_t *events,
                      const char *name);
/// After the connect's EPOLLOUT: dies unless it succeeded.
void dc_check_connected(int fd, const struct dc_config *cfg, const char *name);
/// Registers the epoll interest `want` for `fd`, if it is not *events already.
void dc_set_interest(int epoll_fd, int fd, void *ptr, uint32_t *events, uint32_t want);

/// What a step of non-blocking TLS came to.
enum dc_io { DC_IO_DONE, DC_IO_WAIT, DC_IO_FAILED };
/// Sends what `out` holds, as far as the socket takes it. DONE: all sent, and
/// `out` emptied; WAIT: *want_write says which readiness to wait for;
/// FAILED: *ret is SSL_write's result, for dc_tls_failure.
enum dc_io dc_flush(SSL *ssl, struct dc_buf *out, int *want_write, int *ret);
/// A step of the TLS handshake. DONE: finished and the server selected ALPN
/// gatehouse/1 (else dies, naming `name`); WAIT and FAILED as for dc_flush.
enum dc_io dc_handshake(SSL *ssl, int *want_write, int *ret, const char *name);
/// close_notify (best effort, not waiting for the server's), then close (which
/// also leaves the epoll set) and free the buffers.
void dc_close(SSL *ssl, int fd, struct dc_buf *in, struct dc_buf *out);

/// Ends the run for a failed TLS operation on connection `name`, saying why
/// as precisely as OpenSSL knows. `saved_errno` is errno right after the
/// failure; `ret` the failed call's result; `after_handshake`: our HELLO was
/// sent and the server's not yet here (a refusal of our certificate shows
/// then); `hint` is appended to the messages of a closed connection ("" for none).
__attribute__((noreturn)) void dc_tls_failure(SSL *ssl, const struct dc_config *cfg, const char *name,
                                              const char *during, int ret, int saved_errno,
                                              int after_handshake, const char *hint);

#endif
