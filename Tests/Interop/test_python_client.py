"""The Python client (written from PROTOCOL.md alone) against a live `gatehouse serve`."""

from __future__ import annotations

import signal
import socket
import ssl
import time

import pytest

import gatehouse_wire as wire

INFO = "/gatehouse.v1.Server/Info"
CHECK = "/gatehouse.v1.Health/Check"
WATCH = "/gatehouse.v1.Health/Watch"


def goaway_code(frames) -> int | None:
    codes = [f.error_code for f in frames if isinstance(f, wire.Goaway)]
    return codes[0] if codes else None


def expect_connection_error(c: wire.Client, codes: set[int], timeout: float = 5.0) -> list:
    """Reads until the server closes; it must have sent GOAWAY with one of `codes` first."""
    frames = c.read_until_closed(timeout)
    code = goaway_code(frames)
    assert code in codes, (f"expected GOAWAY {[wire.ERROR_NAMES[x] for x in codes]} then close, "
                           f"got {frames!r}")
    assert c.closed
    return frames


# --------------------------------------------------------------------------
# Handshake
# --------------------------------------------------------------------------


def test_tls_and_hello(client, server):
    assert client.tls_version == "TLSv1.3"
    assert client.alpn_protocol == wire.ALPN
    h = client.server_hello
    assert h.versions == [1], "the server answers exactly one version"
    s = client.server_settings
    assert 16_384 <= s.get(wire.MAX_FRAME_SIZE, wire.DEFAULT_MAX_FRAME_SIZE) <= 16_777_215
    assert len({i for i, _ in h.settings}) == len(h.settings), "a setting announced twice"


def test_hello_prefers_highest_shared_version(server):
    with server.connect(hello=wire.Hello([7, 1, 3], [])) as c:
        assert c.server_hello.versions == [1]


def test_hello_without_shared_version_is_refused(server):
    c = server.connect(send_hello=False)
    c.send(wire.Hello([2, 99], []))
    frames = expect_connection_error(c, {wire.UNSUPPORTED_VERSION})
    assert not any(isinstance(f, wire.Hello) for f in frames)
    c.close()


def test_second_hello_is_protocol_error(client):
    client.send(wire.Hello([1], []))
    expect_connection_error(client, {wire.PROTOCOL_ERROR})


def test_frame_before_hello_is_protocol_error(server):
    c = server.connect(send_hello=False)
    c.send(wire.Ping(b"12345678"))
    frames = expect_connection_error(c, {wire.PROTOCOL_ERROR})
    assert not any(isinstance(f, wire.Ping) for f in frames), "answered a PING before HELLO"
    c.close()
    with server.connect() as fresh:
        assert fresh.unary(CHECK, b"").status == wire.OK


def test_garbage_instead_of_hello(server, pb):
    c = server.connect(send_hello=False)
    # A 4-octet frame of unknown type 0x7f: PROTOCOL_ERROR.
    c.send_raw(bytes.fromhex("00000004" "7f" "00" "00000000") + b"junk")
    expect_connection_error(c, {wire.PROTOCOL_ERROR})
    c.close()
    # Text: "GET " read as a Length of 1.19 GB is a FRAME_SIZE_ERROR; either error, or a plain close.
    c = server.connect(send_hello=False)
    c.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    frames = c.read_until_closed(5)
    assert goaway_code(frames) in {None, wire.PROTOCOL_ERROR, wire.FRAME_SIZE_ERROR}
    assert not any(isinstance(f, wire.Hello) for f in frames)
    c.close()
    # A second, fresh connection still works.
    with server.connect() as fresh:
        r = fresh.unary(CHECK, pb.health.HealthCheckRequest().SerializeToString())
        assert r.status == wire.OK


# --------------------------------------------------------------------------
# Unary calls
# --------------------------------------------------------------------------


def test_server_info(client, pb):
    r = client.unary(INFO, pb.server.InfoRequest().SerializeToString(), timeout_ms=5000)
    assert r.status == wire.OK, r
    info = pb.server.InfoResponse.FromString(r.response())
    assert info.server_version
    assert list(info.protocol_versions) == [1]
    methods = {m.path: m for m in info.methods}
    assert INFO in methods and CHECK in methods and WATCH in methods
    K = pb.server.MethodDescriptor
    assert methods[INFO].kind == K.UNARY
    assert methods[CHECK].kind == K.UNARY
    assert methods[WATCH].kind == K.SERVER_STREAMING
    assert methods[INFO].request_type == "gatehouse.v1.InfoRequest"
    assert methods[INFO].response_type == "gatehouse.v1.InfoResponse"
    assert methods[CHECK].request_type == "gatehouse.v1.HealthCheckRequest"
    assert info.caller.common_name == "admin"
    assert len(info.caller.fingerprint_sha256) == 64
    assert info.limits.max_frame_size == client.server_settings.get(wire.MAX_FRAME_SIZE, wire.DEFAULT_MAX_FRAME_SIZE)
    assert info.started_at_unix_ms > 0


def test_health_check_serving(client, pb):
    for service in ("", "gatehouse"):
        r = client.unary(CHECK, pb.health.HealthCheckRequest(service=service).SerializeToString())
        assert r.status == wire.OK, r
        assert r.message == ""
        assert pb.health.HealthCheckResponse.FromString(r.response()).status == pb.health.HealthCheckResponse.SERVING


def test_frames_arrive_in_any_pieces(client, pb):
    """The server reads frames however TCP and TLS cut them: octet by octet
    (one TLS record each), and two calls' frames in one record."""
    request = pb.health.HealthCheckRequest().SerializeToString()

    def frames(sid: int) -> bytes:
        return wire.encode(wire.Headers(sid, CHECK)) + wire.encode(wire.Message(sid, request, True))

    split = client.new_stream_id()
    for octet in frames(split):
        client.send_raw(bytes([octet]))
    first, second = client.new_stream_id(), client.new_stream_id()
    client.send_raw(frames(first) + frames(second))
    for sid in (split, first, second):
        r = wire.Call(client, sid, 0).result()
        assert r.status == wire.OK, (sid, r)
        assert pb.health.HealthCheckResponse.FromString(r.response()).status == pb.health.HealthCheckResponse.SERVING


def test_unknown_method_is_unimplemented(client):
    r = client.unary("/gatehouse.v1.Nope/Nothing", b"")
    assert r.status == wire.UNIMPLEMENTED, r
    assert r.responses == []
    # The connection is unaffected.
    assert client.unary(CHECK, b"").status == wire.OK


def test_undecodable_request_is_invalid_argument(client):
    r = client.unary(CHECK, b"\xff\xff\xff")
    assert r.status == wire.INVALID_ARGUMENT, r
    assert r.responses == []
    assert client.unary(CHECK, b"").status == wire.OK


def test_concurrent_calls_on_one_connection(client, pb):
    """Several calls open at once, answered on their own streams."""
    watch = client.server_stream(WATCH, b"")
    calls = [client.open_call(CHECK, b"") for _ in range(5)]
    calls.append(client.open_call(INFO, b""))
    for c in calls:
        assert c.result().status == wire.OK
    assert watch.next_message() is not None
    watch.cancel()
    assert len({c.stream_id for c in calls} | {watch.stream_id}) == 7


def test_metadata_is_accepted(client):
    r = client.unary(CHECK, b"", metadata=[("x-request-id", b"abc"), ("x-request-id", b"def"), ("k", b"")])
    assert r.status == wire.OK


# --------------------------------------------------------------------------
# Streaming, cancel, deadline
# --------------------------------------------------------------------------


def test_watch_streams_then_cancel(client, pb):
    call = client.server_stream(WATCH, pb.health.HealthCheckRequest(service="gatehouse").SerializeToString())
    first = call.next_message()
    assert first is not None, f"Watch ended at once: {call.trailers}"
    assert pb.health.HealthCheckResponse.FromString(first).status == pb.health.HealthCheckResponse.SERVING
    call.cancel()
    # The connection keeps working; whatever still arrives for the cancelled stream is discarded.
    assert client.ping(b"afterCNL") == b"afterCNL"
    r = client.unary(CHECK, b"")
    assert r.status == wire.OK
    call.discard()


def test_cancel_stops_the_stream(client):
    """After CANCEL the server sends nothing more on that stream, beyond what crossed it in flight."""
    call = client.server_stream(WATCH, b"")
    assert call.next_message() is not None
    call.cancel()
    client.ping(b"sync-001")  # the server has read our CANCEL before it answers this PING
    client.queued.pop(call.stream_id, None)
    time.sleep(0.3)
    client.ping(b"sync-002")
    late = [f for f in client.queued.get(call.stream_id, []) if isinstance(f, wire.Message)]
    assert late == [], f"MESSAGEs after CANCEL: {late}"


def test_deadline_on_streaming_call(client):
    start = time.monotonic()
    call = client.server_stream(WATCH, b"", timeout_ms=300)
    r = call.result(wait=5)
    elapsed = time.monotonic() - start
    assert r.status == wire.DEADLINE_EXCEEDED, r
    assert len(r.responses) >= 1
    assert 0.25 <= elapsed < 3.0, f"deadline of 300 ms ended the call after {elapsed:.2f}s"


def test_deadline_does_not_hit_fast_unary(client):
    assert client.unary(CHECK, b"", timeout_ms=2000).status == wire.OK


# --------------------------------------------------------------------------
# Connection-level rules
# --------------------------------------------------------------------------


def test_ping_gets_ack_with_same_payload(client):
    for payload in (b"\x00" * 8, b"\x01\x02\x03\x04\x05\x06\x07\x08", b"\xff" * 8):
        assert client.ping(payload) == payload


def test_oversized_length_header_is_frame_size_error(client):
    """A header announcing 2 GiB: GOAWAY FRAME_SIZE_ERROR and close, without waiting for the payload."""
    start = time.monotonic()
    client.send_raw(bytes.fromhex("80000000" "02" "00" "00000001"))
    expect_connection_error(client, {wire.FRAME_SIZE_ERROR}, timeout=5)
    assert time.monotonic() - start < 3


def test_just_over_max_frame_size_is_refused(client):
    limit = client.server_settings.get(wire.MAX_FRAME_SIZE, wire.DEFAULT_MAX_FRAME_SIZE)
    client.send_raw(wire.encode(wire.Headers(1, CHECK, 0, [])) + bytes.fromhex(f"{limit + 1:08x}" "02" "00" "00000001"))
    expect_connection_error(client, {wire.FRAME_SIZE_ERROR})


def test_malformed_frame_is_protocol_error(client):
    assert client.ping(b"abcdefgh") == b"abcdefgh"
    client.send_raw(bytes.fromhex("00000007" "05" "00" "00000000") + b"1234567")  # PING of 7 octets
    expect_connection_error(client, {wire.PROTOCOL_ERROR})


def test_stream_ids_must_increase(client):
    assert client.unary(CHECK, b"").status == wire.OK  # stream 1
    client.next_stream_id = 7
    assert client.unary(CHECK, b"").status == wire.OK  # stream 7
    client.send(wire.Headers(5, CHECK, 0, []))  # not greater than 7
    expect_connection_error(client, {wire.PROTOCOL_ERROR})


def test_message_on_unopened_stream_is_protocol_error(client):
    client.send(wire.Message(41, b"", True))
    expect_connection_error(client, {wire.PROTOCOL_ERROR})


def test_message_on_closed_stream_is_ignored(client):
    r = client.unary(CHECK, b"")  # stream 1, now closed
    assert r.status == wire.OK
    client.send(wire.Message(1, b"", True))
    client.send(wire.Cancel(1))
    assert client.ping(b"stillup!") == b"stillup!"
    assert client.unary(CHECK, b"").status == wire.OK


def test_client_without_alpn_is_accepted(server):
    with server.connect(alpn=None) as c:
        assert c.alpn_protocol is None
        assert c.unary(CHECK, b"").status == wire.OK


def test_client_with_wrong_alpn_is_refused(server):
    with pytest.raises((ssl.SSLError, wire.ConnectionClosed, ConnectionError)):
        c = server.connect(alpn=["h2"])
        c.unary(CHECK, b"")


def test_client_without_certificate_is_refused(server):
    with pytest.raises((ssl.SSLError, wire.ConnectionClosed, ConnectionError)):
        c = server.connect(cert=None, key=None)  # TLS 1.3: the refusal may arrive at the first read
        c.unary(CHECK, b"")


def test_server_still_serving(server, pb):
    server.assert_alive()
    with server.connect() as c:
        assert c.unary(CHECK, b"").status == wire.OK


# --------------------------------------------------------------------------
# Draining (own server)
# --------------------------------------------------------------------------


def test_sigterm_drains_with_goaway_and_exits_0(fresh_server):
    c = fresh_server.connect()
    watch = c.server_stream(WATCH, b"")
    assert watch.next_message() is not None
    fresh_server.proc.send_signal(signal.SIGTERM)
    goaway, trailers = None, None
    deadline = time.monotonic() + 10
    try:
        while trailers is None or goaway is None:
            f = c.read_frame(deadline)
            if isinstance(f, wire.Goaway):
                goaway = f
            elif isinstance(f, wire.Trailers) and f.stream_id == watch.stream_id:
                trailers = f
    except wire.ConnectionClosed:
        pass
    assert goaway is not None and goaway.error_code == wire.NO_ERROR, "no GOAWAY NO_ERROR on SIGTERM"
    assert goaway.last_stream_id >= watch.stream_id
    assert trailers is not None and trailers.status == wire.UNAVAILABLE, f"Watch ended with {trailers}"
    c.close()
    assert fresh_server.stop() == 0
