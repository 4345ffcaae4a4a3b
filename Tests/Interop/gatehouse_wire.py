"""The Gatehouse wire protocol (PROTOCOL.md, version 1) in plain Python.

Written from PROTOCOL.md alone: a frame codec (encode, a streaming decoder,
JSON forms matching Tests/Conformance/frames.json) and a small blocking client
over the standard library's ssl module (HELLO exchange, unary and
server-streaming calls, cancel, ping).

Nothing here knows about features: request and response messages are bytes,
serialized and parsed by the caller's protobuf classes.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional, Union

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

HEADER_LEN = 10
MAGIC = b"GHWP"
PROTOCOL_VERSION = 1
ALPN = "gatehouse/1"
DEFAULT_MAX_FRAME_SIZE = 1_048_576

HELLO, HEADERS, MESSAGE, TRAILERS, CANCEL, PING, GOAWAY = range(7)
TYPE_NAMES = {
    HELLO: "HELLO",
    HEADERS: "HEADERS",
    MESSAGE: "MESSAGE",
    TRAILERS: "TRAILERS",
    CANCEL: "CANCEL",
    PING: "PING",
    GOAWAY: "GOAWAY",
}
# Flag bits each type defines; any other bit set is a PROTOCOL_ERROR.
DEFINED_FLAGS = {HELLO: 0, HEADERS: 0, MESSAGE: 0x01, TRAILERS: 0, CANCEL: 0, PING: 0x01, GOAWAY: 0}
CONNECTION_TYPES = {HELLO, PING, GOAWAY}  # stream 0 only; the others never on stream 0
FLAG_END_STREAM = 0x01
FLAG_ACK = 0x01

# Settings (HELLO)
MAX_FRAME_SIZE = 1
MAX_CONCURRENT_STREAMS = 2
KEEPALIVE_INTERVAL_MS = 3
IDLE_TIMEOUT_MS = 4

# Connection error codes (GOAWAY)
NO_ERROR, PROTOCOL_ERROR, FRAME_SIZE_ERROR, UNSUPPORTED_VERSION, INTERNAL_ERROR, TIMEOUT, ENHANCE_YOUR_CALM = range(7)
ERROR_NAMES = {
    NO_ERROR: "NO_ERROR",
    PROTOCOL_ERROR: "PROTOCOL_ERROR",
    FRAME_SIZE_ERROR: "FRAME_SIZE_ERROR",
    UNSUPPORTED_VERSION: "UNSUPPORTED_VERSION",
    INTERNAL_ERROR: "INTERNAL_ERROR",
    TIMEOUT: "TIMEOUT",
    ENHANCE_YOUR_CALM: "ENHANCE_YOUR_CALM",
}

# Call status codes (TRAILERS), gRPC's canonical codes.
STATUS_NAMES = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
]
(OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, ALREADY_EXISTS,
 PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE,
 UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED) = range(17)

METADATA_KEY = re.compile(rb"\A[a-z0-9._-]{1,255}\Z")
MAX_STREAM_ID = 0x7FFF_FFFF


def status_name(code: int) -> str:
    return STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else f"STATUS_{code}"


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class WireError(Exception):
    """A connection error found while decoding; `code` is the GOAWAY code name."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class Incomplete(Exception):
    """The input ends inside a frame (a streaming decoder waits for more)."""


# --------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------


@dataclass
class Hello:
    versions: list[int]
    settings: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Headers:
    stream_id: int
    path: str
    timeout_ms: int = 0
    metadata: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Message:
    stream_id: int
    payload: bytes = b""
    end_stream: bool = False


@dataclass
class Trailers:
    stream_id: int
    status: int
    message: str = ""
    details: bytes = b""


@dataclass
class Cancel:
    stream_id: int


@dataclass
class Ping:
    payload: bytes
    ack: bool = False


@dataclass
class Goaway:
    last_stream_id: int
    error_code: int
    debug: str = ""


Frame = Union[Hello, Headers, Message, Trailers, Cancel, Ping, Goaway]


def _str16(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 0xFFFF:
        raise ValueError("str16 longer than 65535 octets")
    return struct.pack(">H", len(b)) + b


def _header(length: int, ftype: int, flags: int, stream_id: int) -> bytes:
    return struct.pack(">IBBI", length, ftype, flags, stream_id)


def encode(frame: Frame) -> bytes:
    """Encodes one frame, header included."""
    if isinstance(frame, Hello):
        p = MAGIC + struct.pack(">B", len(frame.versions))
        p += b"".join(struct.pack(">H", v) for v in frame.versions)
        p += struct.pack(">B", len(frame.settings))
        p += b"".join(struct.pack(">HI", i, v) for i, v in frame.settings)
        return _header(len(p), HELLO, 0, 0) + p
    if isinstance(frame, Headers):
        p = _str16(frame.path) + struct.pack(">IH", frame.timeout_ms, len(frame.metadata))
        for key, value in frame.metadata:
            k = key.encode("ascii")
            p += struct.pack(">B", len(k)) + k + struct.pack(">H", len(value)) + bytes(value)
        return _header(len(p), HEADERS, 0, frame.stream_id) + p
    if isinstance(frame, Message):
        flags = FLAG_END_STREAM if frame.end_stream else 0
        return _header(len(frame.payload), MESSAGE, flags, frame.stream_id) + bytes(frame.payload)
    if isinstance(frame, Trailers):
        p = struct.pack(">H", frame.status) + _str16(frame.message)
        p += struct.pack(">I", len(frame.details)) + bytes(frame.details)
        return _header(len(p), TRAILERS, 0, frame.stream_id) + p
    if isinstance(frame, Cancel):
        return _header(0, CANCEL, 0, frame.stream_id)
    if isinstance(frame, Ping):
        if len(frame.payload) != 8:
            raise ValueError("PING payload must be 8 octets")
        return _header(8, PING, FLAG_ACK if frame.ack else 0, 0) + bytes(frame.payload)
    if isinstance(frame, Goaway):
        p = struct.pack(">IH", frame.last_stream_id, frame.error_code) + _str16(frame.debug)
        return _header(len(p), GOAWAY, 0, 0) + p
    raise TypeError(f"not a frame: {frame!r}")


class _Reader:
    """Reads a frame payload field by field; short or trailing octets are PROTOCOL_ERROR."""

    def __init__(self, data: bytes, what: str):
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise WireError("PROTOCOL_ERROR", f"{self.what} payload shorter than its fields")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def utf8(self, n: int, field_name: str) -> str:
        raw = self.take(n)
        try:
            return raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise WireError("PROTOCOL_ERROR", f"{self.what} {field_name} is not valid UTF-8") from None

    def end(self) -> None:
        if self.pos != len(self.data):
            raise WireError("PROTOCOL_ERROR", f"{self.what} payload has {len(self.data) - self.pos} trailing octet(s)")


def check_header(header: bytes, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> tuple[int, int, int, int]:
    """Validates the 10 header octets alone; returns (length, type, flags, stream_id).

    Order of checks (PROTOCOL.md 2.1): Length against the maximum first (it
    is known from the header and must be refused before any payload is read),
    then type, stream id, flags, and the fixed lengths of PING and CANCEL.
    """
    length, ftype, flags, stream_id = struct.unpack(">IBBI", header)
    if length > max_frame_size:
        raise WireError("FRAME_SIZE_ERROR", f"frame length {length} exceeds maximum {max_frame_size}")
    if ftype not in TYPE_NAMES:
        raise WireError("PROTOCOL_ERROR", f"unknown frame type 0x{ftype:02x}")
    name = TYPE_NAMES[ftype]
    if stream_id & 0x8000_0000:
        raise WireError("PROTOCOL_ERROR", f"{name} stream id has the high bit set")
    if ftype in CONNECTION_TYPES and stream_id != 0:
        raise WireError("PROTOCOL_ERROR", f"{name} on stream {stream_id}, must be 0")
    if ftype not in CONNECTION_TYPES and stream_id == 0:
        raise WireError("PROTOCOL_ERROR", f"{name} on stream 0")
    if flags & ~DEFINED_FLAGS[ftype]:
        raise WireError("PROTOCOL_ERROR", f"{name} has undefined flag bits 0x{flags & ~DEFINED_FLAGS[ftype]:02x}")
    if ftype == PING and length != 8:
        raise WireError("PROTOCOL_ERROR", f"PING payload is {length} octets, must be 8")
    if ftype == CANCEL and length != 0:
        raise WireError("PROTOCOL_ERROR", f"CANCEL carries no payload, not {length} octets")
    return length, ftype, flags, stream_id


def decode_payload(ftype: int, flags: int, stream_id: int, payload: bytes) -> Frame:
    """Decodes the payload of a frame whose header check_header accepted."""
    name = TYPE_NAMES[ftype]
    r = _Reader(payload, name)
    if ftype == HELLO:
        if r.take(4) != MAGIC:
            raise WireError("PROTOCOL_ERROR", "HELLO magic is not GHWP")
        n = r.u8()
        if n < 1:
            raise WireError("PROTOCOL_ERROR", "HELLO lists no version")
        versions = [r.u16() for _ in range(n)]
        m = r.u8()
        settings = [(r.u16(), r.u32()) for _ in range(m)]
        r.end()
        return Hello(versions, settings)
    if ftype == HEADERS:
        path = r.utf8(r.u16(), "path")
        timeout_ms = r.u32()
        k = r.u16()
        metadata = []
        for _ in range(k):
            key = r.take(r.u8())
            if not METADATA_KEY.match(key):
                raise WireError("PROTOCOL_ERROR", f"HEADERS metadata key {key!r} is not [a-z0-9._-]{{1,255}}")
            metadata.append((key.decode("ascii"), r.take(r.u16())))
        r.end()
        return Headers(stream_id, path, timeout_ms, metadata)
    if ftype == MESSAGE:
        return Message(stream_id, payload, bool(flags & FLAG_END_STREAM))
    if ftype == TRAILERS:
        status = r.u16()
        message = r.utf8(r.u16(), "message")
        details = r.take(r.u32())
        r.end()
        return Trailers(stream_id, status, message, details)
    if ftype == CANCEL:
        r.end()
        return Cancel(stream_id)
    if ftype == PING:
        if len(payload) != 8:
            raise WireError("PROTOCOL_ERROR", f"PING payload is {len(payload)} octets, must be 8")
        return Ping(payload, bool(flags & FLAG_ACK))
    if ftype == GOAWAY:
        last = r.u32()
        code = r.u16()
        debug = r.utf8(r.u16(), "debug")
        r.end()
        return Goaway(last, code, debug)
    raise AssertionError(ftype)


class Decoder:
    """A streaming decoder: feed octets, take whole frames.

    Raises WireError on the first malformed frame; frames before it are
    returned by earlier calls (or collected by decode_all).
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size = max_frame_size
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    def next(self) -> Optional[Frame]:
        """The next whole frame, or None when more octets are needed."""
        if len(self.buf) < HEADER_LEN:
            return None
        length, ftype, flags, stream_id = check_header(bytes(self.buf[:HEADER_LEN]), self.max_frame_size)
        if len(self.buf) < HEADER_LEN + length:
            return None
        payload = bytes(self.buf[HEADER_LEN:HEADER_LEN + length])
        frame = decode_payload(ftype, flags, stream_id, payload)
        del self.buf[:HEADER_LEN + length]
        return frame

    @property
    def pending(self) -> int:
        return len(self.buf)


def decode_all(data: bytes, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> tuple[list[Frame], Optional[str]]:
    """Decodes a complete input: (frames, None), or (frames before the error, error name).

    The error name is "PROTOCOL_ERROR", "FRAME_SIZE_ERROR" or "INCOMPLETE"
    (the input ends inside a frame), as in the conformance vectors.
    """
    d = Decoder(max_frame_size)
    d.feed(data)
    frames: list[Frame] = []
    while True:
        try:
            f = d.next()
        except WireError as e:
            return frames, e.code
        if f is None:
            return frames, ("INCOMPLETE" if d.pending else None)
        frames.append(f)


# --- JSON forms of the conformance vectors ---------------------------------


def frame_to_json(f: Frame) -> dict:
    if isinstance(f, Hello):
        return {"type": "HELLO", "versions": list(f.versions), "settings": [[i, v] for i, v in f.settings]}
    if isinstance(f, Headers):
        return {"type": "HEADERS", "stream_id": f.stream_id, "path": f.path, "timeout_ms": f.timeout_ms,
                "metadata": [[k, v.hex()] for k, v in f.metadata]}
    if isinstance(f, Message):
        return {"type": "MESSAGE", "stream_id": f.stream_id, "end_stream": f.end_stream, "payload": f.payload.hex()}
    if isinstance(f, Trailers):
        return {"type": "TRAILERS", "stream_id": f.stream_id, "status": f.status, "message": f.message,
                "details": f.details.hex()}
    if isinstance(f, Cancel):
        return {"type": "CANCEL", "stream_id": f.stream_id}
    if isinstance(f, Ping):
        return {"type": "PING", "ack": f.ack, "payload": f.payload.hex()}
    if isinstance(f, Goaway):
        return {"type": "GOAWAY", "last_stream_id": f.last_stream_id, "error_code": f.error_code, "debug": f.debug}
    raise TypeError(f)


def frame_from_json(j: dict) -> Frame:
    t = j["type"]
    if t == "HELLO":
        return Hello(list(j["versions"]), [(i, v) for i, v in j["settings"]])
    if t == "HEADERS":
        return Headers(j["stream_id"], j["path"], j["timeout_ms"], [(k, bytes.fromhex(v)) for k, v in j["metadata"]])
    if t == "MESSAGE":
        return Message(j["stream_id"], bytes.fromhex(j["payload"]), j["end_stream"])
    if t == "TRAILERS":
        return Trailers(j["stream_id"], j["status"], j["message"], bytes.fromhex(j["details"]))
    if t == "CANCEL":
        return Cancel(j["stream_id"])
    if t == "PING":
        return Ping(bytes.fromhex(j["payload"]), j["ack"])
    if t == "GOAWAY":
        return Goaway(j["last_stream_id"], j["error_code"], j["debug"])
    raise ValueError(f"unknown frame type {t!r}")


# --------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------


class ConnectionClosed(Exception):
    """The server ended the connection; `goaway` is its GOAWAY, when it sent one."""

    def __init__(self, message: str, goaway: Optional[Goaway] = None):
        super().__init__(message)
        self.goaway = goaway


class RpcError(Exception):
    def __init__(self, status: int, message: str, details: bytes = b""):
        super().__init__(f"{status_name(status)} ({status}): {message}")
        self.status = status
        self.message = message
        self.details = details


@dataclass
class CallResult:
    """The outcome of a call: its response messages and its TRAILERS."""

    status: int
    message: str
    details: bytes = b""
    responses: list[bytes] = field(default_factory=list)

    @property
    def status_name(self) -> str:
        return status_name(self.status)

    @property
    def ok(self) -> bool:
        return self.status == OK

    def response(self) -> bytes:
        """The single response of a successful unary call."""
        if self.status != OK:
            raise RpcError(self.status, self.message, self.details)
        if len(self.responses) != 1:
            raise AssertionError(f"unary call answered {len(self.responses)} messages")
        return self.responses[0]


def client_context(ca: str, cert: Optional[str], key: Optional[str], *,
                   alpn: Optional[Iterable[str]] = (ALPN,), check_hostname: bool = True) -> ssl.SSLContext:
    """A TLS client context as PROTOCOL.md section 1 asks: 1.2 minimum, server verified against `ca`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=ca)
    ctx.check_hostname = check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    if cert:
        ctx.load_cert_chain(certfile=cert, keyfile=key)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class Client:
    """A blocking, single-threaded client for one connection.

    Frames for streams other than the one being read are queued; a PING from
    the server is answered at once; a GOAWAY is recorded in `self.goaway`.
    """

    def __init__(self, host: str, port: int, *, ca: str, cert: Optional[str], key: Optional[str],
                 server_hostname: Optional[str] = None, alpn: Optional[Iterable[str]] = (ALPN,),
                 timeout: float = 5.0, hello: Optional[Hello] = None, send_hello: bool = True,
                 check_hostname: bool = True):
        self.timeout = timeout
        ctx = client_context(ca, cert, key, alpn=alpn, check_hostname=check_hostname)
        raw = socket.create_connection((host, port), timeout=timeout)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname or host)
        except Exception:
            raw.close()
            raise
        self.decoder = Decoder(DEFAULT_MAX_FRAME_SIZE)
        self.queued: dict[int, list[Frame]] = {}
        self.connection_frames: list[Frame] = []  # PING ACKs etc. not yet claimed
        self.goaway: Optional[Goaway] = None
        self.closed = False
        self.next_stream_id = 1
        self.server_hello: Optional[Hello] = None
        if send_hello:
            self.handshake(hello)

    # -- plumbing ---------------------------------------------------------------

    @property
    def tls_version(self) -> Optional[str]:
        return self.sock.version()

    @property
    def alpn_protocol(self) -> Optional[str]:
        return self.sock.selected_alpn_protocol()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, frame: Frame) -> None:
        self.send_raw(encode(frame))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.settimeout(0.5)  # do not wait long for the peer's close_notify
                self.sock.unwrap()  # close_notify
            except (OSError, ssl.SSLError, ValueError):
                pass
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read_frame(self, deadline: Optional[float] = None) -> Frame:
        """The next frame from the server, whatever its stream.

        Raises ConnectionClosed at end of stream, TimeoutError at the deadline,
        WireError when the server sends a malformed frame.
        """
        while True:
            f = self.decoder.next()
            if f is not None:
                if isinstance(f, Goaway):
                    self.goaway = f
                if isinstance(f, Ping) and not f.ack:
                    self.send(Ping(f.payload, ack=True))
                return f
            if self.closed:
                raise ConnectionClosed("connection closed", self.goaway)
            remaining = self.timeout if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no frame from the server in time")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no frame from the server in time") from None
            except (ssl.SSLError, ConnectionError) as e:
                self.closed = True
                raise ConnectionClosed(f"connection ended: {e}", self.goaway) from e
            if not data:
                self.closed = True
                if self.decoder.pending:
                    raise WireError("PROTOCOL_ERROR", "connection ended inside a frame")
                raise ConnectionClosed("connection closed by the server", self.goaway)
            self.decoder.feed(data)

    def read_until_closed(self, timeout: float = 5.0) -> list[Frame]:
        """Every frame until the server closes the connection (TimeoutError if it does not)."""
        deadline = time.monotonic() + timeout
        frames = []
        while True:
            try:
                frames.append(self.read_frame(deadline))
            except ConnectionClosed:
                return frames

    def _read_for_stream(self, stream_id: int, deadline: Optional[float]) -> Frame:
        q = self.queued.get(stream_id)
        if q:
            return q.pop(0)
        while True:
            f = self.read_frame(deadline)
            sid = getattr(f, "stream_id", 0)
            if sid == stream_id:
                return f
            if sid == 0:
                self.connection_frames.append(f)
            else:
                self.queued.setdefault(sid, []).append(f)

    # -- protocol ---------------------------------------------------------------

    def handshake(self, hello: Optional[Hello] = None) -> Hello:
        """Sends the client HELLO and waits for the server's."""
        self.send(hello or Hello([PROTOCOL_VERSION], [(MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE)]))
        deadline = time.monotonic() + self.timeout
        f = self.read_frame(deadline)
        if isinstance(f, Goaway):
            raise ConnectionClosed(f"server refused HELLO: GOAWAY {ERROR_NAMES.get(f.error_code, f.error_code)} "
                                   f"{f.debug!r}", f)
        if not isinstance(f, Hello):
            raise WireError("PROTOCOL_ERROR", f"server's first frame is {type(f).__name__}, not HELLO")
        self.server_hello = f
        return f

    @property
    def server_settings(self) -> dict[int, int]:
        return dict(self.server_hello.settings) if self.server_hello else {}

    def new_stream_id(self) -> int:
        sid = self.next_stream_id
        self.next_stream_id += 2
        return sid

    def open_call(self, path: str, request: bytes, *, timeout_ms: int = 0,
                  metadata: Iterable[tuple[str, bytes]] = (), end_stream: bool = True) -> "Call":
        sid = self.new_stream_id()
        self.send_raw(encode(Headers(sid, path, timeout_ms, list(metadata)))
                      + encode(Message(sid, request, end_stream)))
        return Call(self, sid, timeout_ms)

    def unary(self, path: str, request: bytes = b"", *, timeout_ms: int = 0,
              metadata: Iterable[tuple[str, bytes]] = (), wait: Optional[float] = None) -> CallResult:
        """A unary call: HEADERS, MESSAGE(END_STREAM); collects MESSAGEs until TRAILERS."""
        call = self.open_call(path, request, timeout_ms=timeout_ms, metadata=metadata)
        return call.result(wait)

    def server_stream(self, path: str, request: bytes = b"", *, timeout_ms: int = 0,
                      metadata: Iterable[tuple[str, bytes]] = (), end_stream: bool = True) -> "Call":
        """Opens a server-streaming call; iterate it, cancel it, or take its result."""
        return self.open_call(path, request, timeout_ms=timeout_ms, metadata=metadata, end_stream=end_stream)

    def ping(self, payload: Optional[bytes] = None, wait: Optional[float] = None) -> bytes:
        """Sends PING and returns the payload of the PING ACK."""
        payload = payload if payload is not None else os.urandom(8)
        self.send(Ping(payload))
        deadline = time.monotonic() + (wait or self.timeout)
        while True:
            for i, f in enumerate(self.connection_frames):
                if isinstance(f, Ping) and f.ack:
                    del self.connection_frames[i]
                    return f.payload
            f = self.read_frame(deadline)
            sid = getattr(f, "stream_id", 0)
            if sid == 0:
                self.connection_frames.append(f)
            else:
                self.queued.setdefault(sid, []).append(f)


class Call:
    """One open call on a Client."""

    def __init__(self, client: Client, stream_id: int, timeout_ms: int):
        self.client = client
        self.stream_id = stream_id
        self.trailers: Optional[Trailers] = None
        self.cancelled = False
        self.responses: list[bytes] = []

    def send(self, request: bytes, end_stream: bool = False) -> None:
        """Sends a further client message on the open stream."""
        self.client.send(Message(self.stream_id, request, end_stream))

    def next_frame(self, wait: Optional[float] = None) -> Frame:
        deadline = time.monotonic() + (wait if wait is not None else self.client.timeout)
        return self.client._read_for_stream(self.stream_id, deadline)

    def next_message(self, wait: Optional[float] = None) -> Optional[bytes]:
        """The next response message, or None once TRAILERS arrived."""
        if self.trailers is not None:
            return None
        f = self.next_frame(wait)
        if isinstance(f, Message):
            if f.end_stream:
                raise WireError("PROTOCOL_ERROR", "server set END_STREAM on a MESSAGE")
            self.responses.append(f.payload)
            return f.payload
        if isinstance(f, Trailers):
            self.trailers = f
            return None
        raise WireError("PROTOCOL_ERROR", f"unexpected {type(f).__name__} on stream {self.stream_id}")

    def __iter__(self) -> Iterator[bytes]:
        while True:
            m = self.next_message()
            if m is None:
                return
            yield m

    def result(self, wait: Optional[float] = None) -> CallResult:
        """Reads to TRAILERS and returns the outcome."""
        deadline = time.monotonic() + (wait if wait is not None else self.client.timeout)
        while self.trailers is None:
            self.next_message(max(0.0, deadline - time.monotonic()))
        t = self.trailers
        return CallResult(t.status, t.message, t.details, list(self.responses))

    def cancel(self) -> None:
        """Sends CANCEL; frames that still arrive for this stream are dropped by discard()."""
        self.cancelled = True
        self.client.send(Cancel(self.stream_id))

    def discard(self) -> None:
        self.client.queued.pop(self.stream_id, None)
