#!/usr/bin/env python3
"""Builds Tests/Conformance/frames.json, the conformance vectors of PROTOCOL.md.

    python3 Tests/Conformance/make_vectors.py           # rewrite frames.json
    python3 Tests/Conformance/make_vectors.py --check   # exit 1 if frames.json is stale

Deterministic: no randomness, no clock. Each case is built from raw octets
with the small helpers below (independent of any codec in this repository),
next to the decoded frames written out by hand, or the error the input must
raise. The format is the one PROTOCOL.md's "Conformance vectors" section
defines: a JSON list of {"name", "hex", "frames"} or {"name", "hex",
"error"[, "frames"]}; `frames` on an error case lists what decodes before the
error. All cases assume a receiver maximum frame size of 1,048,576.

One case per line in the output, so that a review diff shows whole cases.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "frames.json"
MAX = 1_048_576

HELLO, HEADERS, MESSAGE, TRAILERS, CANCEL, PING, GOAWAY = range(7)


# --- raw octet helpers (deliberately dumb) ----------------------------------

def u8(v: int) -> bytes:
    return struct.pack(">B", v)


def u16(v: int) -> bytes:
    return struct.pack(">H", v)


def u32(v: int) -> bytes:
    return struct.pack(">I", v)


def hdr(length: int, ftype: int, flags: int, stream: int) -> bytes:
    return u32(length) + u8(ftype) + u8(flags) + u32(stream)


def frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return hdr(len(payload), ftype, flags, stream) + payload


def str16(b: bytes | str) -> bytes:
    b = b.encode() if isinstance(b, str) else b
    return u16(len(b)) + b


def str8(b: bytes | str) -> bytes:
    b = b.encode() if isinstance(b, str) else b
    return u8(len(b)) + b


def bytes16(b: bytes) -> bytes:
    return u16(len(b)) + b


def bytes32(b: bytes) -> bytes:
    return u32(len(b)) + b


# --- valid frames: (octets, decoded JSON) -----------------------------------

def hello(versions: list[int], settings: list[tuple[int, int]]):
    p = b"GHWP" + u8(len(versions)) + b"".join(u16(v) for v in versions)
    p += u8(len(settings)) + b"".join(u16(i) + u32(v) for i, v in settings)
    return frame(HELLO, 0, 0, p), {"type": "HELLO", "versions": versions, "settings": [[i, v] for i, v in settings]}


def headers(stream: int, path: str, timeout_ms: int, metadata: list[tuple[str, bytes]]):
    p = str16(path) + u32(timeout_ms) + u16(len(metadata))
    p += b"".join(str8(k) + bytes16(v) for k, v in metadata)
    return frame(HEADERS, 0, stream, p), {
        "type": "HEADERS", "stream_id": stream, "path": path, "timeout_ms": timeout_ms,
        "metadata": [[k, v.hex()] for k, v in metadata]}


def message(stream: int, payload: bytes, end_stream: bool):
    return frame(MESSAGE, 1 if end_stream else 0, stream, payload), {
        "type": "MESSAGE", "stream_id": stream, "end_stream": end_stream, "payload": payload.hex()}


def trailers(stream: int, status: int, msg: str, details: bytes):
    p = u16(status) + str16(msg) + bytes32(details)
    return frame(TRAILERS, 0, stream, p), {
        "type": "TRAILERS", "stream_id": stream, "status": status, "message": msg, "details": details.hex()}


def cancel(stream: int):
    return frame(CANCEL, 0, stream, b""), {"type": "CANCEL", "stream_id": stream}


def ping(payload: bytes, ack: bool):
    return frame(PING, 1 if ack else 0, 0, payload), {"type": "PING", "ack": ack, "payload": payload.hex()}


def goaway(last: int, code: int, debug: str):
    p = u32(last) + u16(code) + str16(debug)
    return frame(GOAWAY, 0, 0, p), {"type": "GOAWAY", "last_stream_id": last, "error_code": code, "debug": debug}


CASES: list[dict] = []


def ok(name: str, *parts):
    """A valid input: the concatenation of parts, each (octets, decoded)."""
    CASES.append({"name": name, "hex": b"".join(p[0] for p in parts).hex(), "frames": [p[1] for p in parts]})


def bad(name: str, error: str, raw: bytes, *before):
    """An input that raises `error` after decoding the frames in `before` (each (octets, decoded))."""
    case = {"name": name, "hex": (b"".join(p[0] for p in before) + raw).hex(), "error": error}
    if before:
        case["frames"] = [p[1] for p in before]
    CASES.append(case)


def build() -> list[dict]:
    CASES.clear()
    # ErrorDetails{reason: "LOCKED_GATE", metadata: {"feature": "Foo"}}, serialized by hand:
    # field 1 (0x0a) len 11 "LOCKED_GATE"; field 2 (0x12) len 14 map entry {1: "feature", 2: "Foo"}.
    details = (b"\x0a\x0bLOCKED_GATE"
               + b"\x12\x0e" + b"\x0a\x07feature" + b"\x12\x03Foo")

    # ---- PROTOCOL.md section 8, byte by byte (hex copied from the document) ----
    s8 = {
        "client HELLO": "0000000e000000000000" "47485750" "010001" "01000100100000",
        "server HELLO": "00000020000000000000" "47485750010001" "04"
                        "000100100000" "000200000064" "000300007530" "0004000493e0",
        "client HEADERS": "00000022010000000001" "001a2f6761746568" "6f7573652e76312e"
                          "4865616c74682f436865636b" "00001388" "0000",
        "client MESSAGE": "0000000b020100000001" "0a09" "67617465686f757365",
        "server MESSAGE": "00000002020000000001" "0801",
        "server TRAILERS": "00000008030000000001" "0000" "0000" "00000000",
    }
    built = {
        "client HELLO": hello([1], [(1, 1048576)]),
        "server HELLO": hello([1], [(1, 1048576), (2, 100), (3, 30000), (4, 300000)]),
        "client HEADERS": headers(1, "/gatehouse.v1.Health/Check", 5000, []),
        "client MESSAGE": message(1, b"\x0a\x09gatehouse", True),
        "server MESSAGE": message(1, b"\x08\x01", False),
        "server TRAILERS": trailers(1, 0, "", b""),
    }
    for key, octets_hex in s8.items():
        octets, decoded = built[key]
        assert octets.hex() == octets_hex, f"section 8 {key}: helper gives {octets.hex()}, document {octets_hex}"
        ok(f"section 8: {key}", (octets, decoded))
    ok("section 8: client side of the call in one input",
       built["client HELLO"], built["client HEADERS"], built["client MESSAGE"])
    ok("section 8: server side of the call in one input",
       built["server HELLO"], built["server MESSAGE"], built["server TRAILERS"])

    # ---- valid frames, every type ----
    ok("empty input decodes to no frame")
    ok("HELLO client form: versions 2 and 1, no settings", hello([2, 1], []))
    ok("HELLO server form: one version, two settings", hello([1], [(1, 16384), (2, 1)]))
    ok("HELLO with an unknown setting id (kept by the decoder, ignored by the receiver)",
       hello([1], [(0x1234, 0xdeadbeef), (1, 16777215)]))
    ok("HEADERS without metadata, no deadline", headers(1, "/gatehouse.v1.Server/Info", 0, []))
    ok("HEADERS with metadata", headers(3, "/gatehouse.v1.Features/Set", 1500,
                                        [("x-request-id", b"abc-123"), ("empty-value", b"")]))
    ok("HEADERS with a repeated metadata key (order kept)",
       headers(5, "/gatehouse.v1.Health/Check", 0,
               [("x-trace", b"\x01"), ("x.other_key-9", b"v"), ("x-trace", b"\x02\x00\xff")]))
    ok("HEADERS with a 255-octet metadata key and the largest stream id and timeout",
       headers(0x7FFFFFFF, "/a.B/C", 0xFFFFFFFF, [("k" * 255, b"\x00")]))
    ok("HEADERS with a non-ASCII UTF-8 path", headers(7, "/gatehouse.v1.Größe/Ünïcødé✓", 0, []))
    ok("MESSAGE without END_STREAM", message(1, b"\x08\x01", False))
    ok("MESSAGE with END_STREAM", message(1, b"\x0a\x09gatehouse", True))
    ok("MESSAGE with an empty payload (a message whose fields are all default)", message(9, b"", False))
    ok("MESSAGE with an empty payload and END_STREAM", message(9, b"", True))
    ok("MESSAGE of 4096 octets", message(11, bytes(i % 251 for i in range(4096)), False))
    ok("TRAILERS OK", trailers(1, 0, "", b""))
    ok("TRAILERS error with message and details", trailers(3, 9, "feature Foo is locked to its default", details))
    ok("TRAILERS UNIMPLEMENTED without details", trailers(5, 12, "unknown method /x.Y/Z", b""))
    ok("TRAILERS with a status above 16 (decodes; meaning is the receiver's business)",
       trailers(5, 0xFFFF, "", b""))
    ok("CANCEL", cancel(1))
    ok("PING", ping(bytes.fromhex("0102030405060708"), False))
    ok("PING ACK", ping(bytes.fromhex("0102030405060708"), True))
    ok("GOAWAY NO_ERROR while draining", goaway(7, 0, "server shutting down"))
    ok("GOAWAY PROTOCOL_ERROR with empty debug", goaway(0, 1, ""))
    ok("several frames in one input: a whole streaming call",
       hello([1], [(1, 1048576)]),
       headers(1, "/gatehouse.v1.Health/Watch", 300, [("x-k", b"1")]),
       message(1, b"", True),
       ping(b"\x00" * 8, False),
       message(1, b"\x08\x01", False),
       message(1, b"\x08\x02", False),
       trailers(1, 4, "deadline exceeded", b""),
       cancel(3),
       ping(b"\xff" * 8, True),
       goaway(3, 0, "bye"))

    # ---- header-level errors ----
    bad("unknown frame type 0x07", "PROTOCOL_ERROR", frame(7, 0, 0, b""))
    bad("unknown frame type 0xff", "PROTOCOL_ERROR", frame(0xFF, 0, 1, b"\x00\x00"))
    bad("HELLO with a flag bit set", "PROTOCOL_ERROR", frame(HELLO, 0x01, 0, hello([1], [])[0][10:]))
    bad("HEADERS with a flag bit set", "PROTOCOL_ERROR", frame(HEADERS, 0x01, 1, headers(1, "/a.B/C", 0, [])[0][10:]))
    bad("MESSAGE with undefined flag bit 0x02", "PROTOCOL_ERROR", frame(MESSAGE, 0x02, 1, b"\x08\x01"))
    bad("MESSAGE with undefined flag bit 0x80 besides END_STREAM", "PROTOCOL_ERROR", frame(MESSAGE, 0x81, 1, b""))
    bad("TRAILERS with a flag bit set", "PROTOCOL_ERROR", frame(TRAILERS, 0x01, 1, trailers(1, 0, "", b"")[0][10:]))
    bad("CANCEL with a flag bit set", "PROTOCOL_ERROR", frame(CANCEL, 0x01, 1, b""))
    bad("PING with undefined flag bit 0x02", "PROTOCOL_ERROR", frame(PING, 0x02, 0, b"\x00" * 8))
    bad("GOAWAY with a flag bit set", "PROTOCOL_ERROR", frame(GOAWAY, 0x01, 0, goaway(0, 0, "")[0][10:]))
    bad("HELLO on stream 1", "PROTOCOL_ERROR", frame(HELLO, 0, 1, hello([1], [])[0][10:]))
    bad("PING on stream 1", "PROTOCOL_ERROR", frame(PING, 0, 1, b"\x00" * 8))
    bad("GOAWAY on stream 5", "PROTOCOL_ERROR", frame(GOAWAY, 0, 5, goaway(0, 0, "")[0][10:]))
    bad("HEADERS on stream 0", "PROTOCOL_ERROR", frame(HEADERS, 0, 0, headers(1, "/a.B/C", 0, [])[0][10:]))
    bad("MESSAGE on stream 0", "PROTOCOL_ERROR", frame(MESSAGE, 0, 0, b"\x08\x01"))
    bad("TRAILERS on stream 0", "PROTOCOL_ERROR", frame(TRAILERS, 0, 0, trailers(1, 0, "", b"")[0][10:]))
    bad("CANCEL on stream 0", "PROTOCOL_ERROR", frame(CANCEL, 0, 0, b""))
    bad("HEADERS on a stream id with the high bit set", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 0x80000001, headers(1, "/a.B/C", 0, [])[0][10:]))
    bad("MESSAGE on stream 0x80000000 (high bit set)", "PROTOCOL_ERROR", frame(MESSAGE, 0, 0x80000000, b""))
    bad("CANCEL on stream 0xffffffff", "PROTOCOL_ERROR", frame(CANCEL, 0, 0xFFFFFFFF, b""))

    # ---- frame size: decided from the 10 header octets alone ----
    bad("Length 1048577 (max + 1), header only: FRAME_SIZE_ERROR without any payload", "FRAME_SIZE_ERROR",
        hdr(MAX + 1, MESSAGE, 0, 1))
    bad("Length 2 GiB, header only", "FRAME_SIZE_ERROR", hdr(0x80000000, MESSAGE, 0, 1))
    bad("Length 0xffffffff on a HELLO header, header only", "FRAME_SIZE_ERROR", hdr(0xFFFFFFFF, HELLO, 0, 0))
    bad("Length exactly 1048576 (the maximum), header only: accepted, waits for the payload", "INCOMPLETE",
        hdr(MAX, MESSAGE, 0, 1))
    bad("valid PING, then a header with Length max + 1", "FRAME_SIZE_ERROR", hdr(MAX + 1, MESSAGE, 0, 1),
        ping(b"\x00" * 8, False))

    # ---- HELLO payload ----
    hp = hello([1], [(1, 1048576)])[0][10:]
    bad("HELLO with bad magic GHWQ", "PROTOCOL_ERROR", frame(HELLO, 0, 0, b"GHWQ" + hp[4:]))
    bad("HELLO with magic in lowercase", "PROTOCOL_ERROR", frame(HELLO, 0, 0, b"ghwp" + hp[4:]))
    bad("HELLO with zero versions", "PROTOCOL_ERROR", frame(HELLO, 0, 0, b"GHWP" + u8(0) + u8(0)))
    bad("HELLO with an empty payload", "PROTOCOL_ERROR", frame(HELLO, 0, 0, b""))
    bad("HELLO cut inside the magic", "PROTOCOL_ERROR", frame(HELLO, 0, 0, b"GHW"))
    bad("HELLO announcing 2 versions, carrying 1", "PROTOCOL_ERROR",
        frame(HELLO, 0, 0, b"GHWP" + u8(2) + u16(1) + u8(0)))
    bad("HELLO without the setting count", "PROTOCOL_ERROR", frame(HELLO, 0, 0, b"GHWP" + u8(1) + u16(1)))
    bad("HELLO announcing 1 setting, carrying none", "PROTOCOL_ERROR",
        frame(HELLO, 0, 0, b"GHWP" + u8(1) + u16(1) + u8(1)))
    bad("HELLO with a setting cut short", "PROTOCOL_ERROR",
        frame(HELLO, 0, 0, b"GHWP" + u8(1) + u16(1) + u8(1) + u16(1) + u16(16)))
    bad("HELLO with a trailing octet after the settings", "PROTOCOL_ERROR", frame(HELLO, 0, 0, hp + b"\x00"))

    # ---- HEADERS payload ----
    bad("HEADERS with an empty payload", "PROTOCOL_ERROR", frame(HEADERS, 0, 1, b""))
    bad("HEADERS whose path length exceeds the payload", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, u16(40) + b"/a.B/C" + u32(0) + u16(0)))
    bad("HEADERS without the metadata count", "PROTOCOL_ERROR", frame(HEADERS, 0, 1, str16("/a.B/C") + u32(0)))
    bad("HEADERS announcing 1 metadata entry, carrying none", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16("/a.B/C") + u32(0) + u16(1)))
    bad("HEADERS whose metadata value length exceeds the payload", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16("/a.B/C") + u32(0) + u16(1) + str8("k") + u16(5) + b"ab"))
    bad("HEADERS with a trailing octet after the metadata", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16("/a.B/C") + u32(0) + u16(1) + str8("k") + bytes16(b"v") + b"\x00"))
    bad("HEADERS path not valid UTF-8 (0xff)", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16(b"/a.B/\xff") + u32(0) + u16(0)))
    bad("HEADERS path not valid UTF-8 (truncated sequence)", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16(b"/a.B/\xc3") + u32(0) + u16(0)))
    bad("HEADERS path not valid UTF-8 (overlong encoding of '/')", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16(b"/a.B\xc0\xafC") + u32(0) + u16(0)))
    bad("HEADERS path not valid UTF-8 (encoded surrogate U+D800)", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16(b"/a.B/\xed\xa0\x80") + u32(0) + u16(0)))
    bad("HEADERS metadata key with an uppercase letter", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16("/a.B/C") + u32(0) + u16(1) + str8("X-Trace") + bytes16(b"1")))
    bad("HEADERS metadata key empty", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16("/a.B/C") + u32(0) + u16(1) + str8("") + bytes16(b"1")))
    bad("HEADERS metadata key with a space", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16("/a.B/C") + u32(0) + u16(1) + str8("x trace") + bytes16(b"1")))
    bad("HEADERS metadata key with a non-ASCII octet", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16("/a.B/C") + u32(0) + u16(1) + str8(b"x\xc3\xa9") + bytes16(b"1")))
    bad("HEADERS second metadata key invalid (':path')", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 1, str16("/a.B/C") + u32(0) + u16(2) + str8("ok") + bytes16(b"")
              + str8(":path") + bytes16(b"1")))

    # ---- TRAILERS payload ----
    bad("TRAILERS with an empty payload", "PROTOCOL_ERROR", frame(TRAILERS, 0, 1, b""))
    bad("TRAILERS without the details length", "PROTOCOL_ERROR", frame(TRAILERS, 0, 1, u16(0) + str16("")))
    bad("TRAILERS whose details length exceeds the payload", "PROTOCOL_ERROR",
        frame(TRAILERS, 0, 1, u16(13) + str16("x") + u32(10) + b"\x0a\x01"))
    bad("TRAILERS whose message length exceeds the payload", "PROTOCOL_ERROR",
        frame(TRAILERS, 0, 1, u16(13) + u16(200) + b"oops" + u32(0)))
    bad("TRAILERS with a trailing octet after the details", "PROTOCOL_ERROR",
        frame(TRAILERS, 0, 1, u16(0) + str16("") + bytes32(b"") + b"\x00"))
    bad("TRAILERS message not valid UTF-8", "PROTOCOL_ERROR",
        frame(TRAILERS, 0, 1, u16(13) + str16(b"bad \xfe\xfe") + bytes32(b"")))

    # ---- CANCEL, PING, GOAWAY payloads ----
    bad("CANCEL with a 1-octet payload", "PROTOCOL_ERROR", frame(CANCEL, 0, 1, b"\x00"))
    bad("PING with a 7-octet payload", "PROTOCOL_ERROR", frame(PING, 0, 0, b"\x00" * 7))
    # Fixed lengths are header facts: refused from the 10 header octets, payload or not.
    bad("PING header announcing 9 octets, payload not yet sent", "PROTOCOL_ERROR", frame(PING, 0, 0, b"\x00" * 9)[:10])
    bad("CANCEL header announcing 4 octets, payload not yet sent", "PROTOCOL_ERROR", frame(CANCEL, 0, 1, b"\x00" * 4)[:10])
    bad("PING with a 9-octet payload", "PROTOCOL_ERROR", frame(PING, 0, 0, b"\x00" * 9))
    bad("PING ACK with an empty payload", "PROTOCOL_ERROR", frame(PING, 1, 0, b""))
    bad("GOAWAY with an empty payload", "PROTOCOL_ERROR", frame(GOAWAY, 0, 0, b""))
    bad("GOAWAY without the debug length", "PROTOCOL_ERROR", frame(GOAWAY, 0, 0, u32(0) + u16(1)))
    bad("GOAWAY whose debug length exceeds the payload", "PROTOCOL_ERROR",
        frame(GOAWAY, 0, 0, u32(0) + u16(1) + u16(9) + b"bad"))
    bad("GOAWAY with a trailing octet after the debug text", "PROTOCOL_ERROR",
        frame(GOAWAY, 0, 0, u32(0) + u16(0) + str16("x") + b"\x00"))
    bad("GOAWAY debug not valid UTF-8", "PROTOCOL_ERROR", frame(GOAWAY, 0, 0, u32(0) + u16(1) + str16(b"\x80")))

    # ---- incomplete input ----
    bad("1 octet", "INCOMPLETE", b"\x00")
    bad("truncated header (9 of 10 octets)", "INCOMPLETE", hello([1], [])[0][:9])
    bad("truncated payload (MESSAGE of 4 octets, 2 present)", "INCOMPLETE", hdr(4, MESSAGE, 0, 1) + b"\x08\x01")
    bad("HELLO header without its payload", "INCOMPLETE", hdr(14, HELLO, 0, 0))
    bad("valid HELLO, then a truncated HEADERS", "INCOMPLETE", headers(1, "/a.B/C", 0, [])[0][:-3],
        hello([1], [(1, 1048576)]))
    bad("valid frames, then 3 octets of a next header", "INCOMPLETE", b"\x00\x00\x00",
        cancel(1), ping(b"\x01" * 8, True))

    # ---- a valid frame followed by a malformed one: frames lists the first ----
    bad("valid HELLO, then a frame of unknown type", "PROTOCOL_ERROR", frame(0x09, 0, 1, b""),
        hello([1], [(1, 1048576)]))
    bad("valid HEADERS and MESSAGE, then a PING of 4 octets", "PROTOCOL_ERROR", frame(PING, 0, 0, b"\x00" * 4),
        headers(1, "/gatehouse.v1.Health/Check", 0, []), message(1, b"", True))
    bad("valid MESSAGE, then a second MESSAGE with a bad flag", "PROTOCOL_ERROR", frame(MESSAGE, 0x04, 1, b""),
        message(1, b"\x08\x01", False))
    bad("valid GOAWAY, then HEADERS on stream 0", "PROTOCOL_ERROR",
        frame(HEADERS, 0, 0, headers(1, "/a.B/C", 0, [])[0][10:]), goaway(1, 0, ""))

    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    return list(CASES)


def render(cases: list[dict]) -> str:
    return "[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n"


def main() -> int:
    text = render(build())
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run python3 {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{OUT.name} is up to date ({len(CASES)} cases)")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
