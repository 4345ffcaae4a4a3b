"""Peers that stall: a TCP connection that never starts TLS, a TLS client
that never sends HELLO, a frame cut short. Each is cut off alone, at the
handshake timeout, while the server keeps serving everyone else."""
import socket
import time

import pytest

import gatehouse_wire as wire
from conftest import start_server

HANDSHAKE_TIMEOUT_S = 1.0


@pytest.fixture
def strict_server(gatehouse_bin, tmp_path):
    srv = start_server(gatehouse_bin, tmp_path / "data", ("--handshake-timeout", str(HANDSHAKE_TIMEOUT_S)))
    yield srv
    assert srv.stop() == 0, srv.logs()


def _closed_within(read, seconds: float) -> float:
    """Calls read() until the peer closes; returns how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if not read():
                return time.monotonic() - started
        except (ConnectionResetError, wire.ConnectionClosed, OSError):
            return time.monotonic() - started
    raise AssertionError(f"the server kept the stalled connection open for {seconds}s")


def test_tcp_without_tls_is_closed_at_the_handshake_timeout(strict_server):
    raw = socket.create_connection((strict_server.host, strict_server.port), timeout=5)
    with strict_server.connect() as healthy:  # others are served meanwhile
        assert healthy.unary("/gatehouse.v1.Health/Check", b"").status == wire.OK
    took = _closed_within(lambda: raw.recv(4096), 5 * HANDSHAKE_TIMEOUT_S)
    assert took >= HANDSHAKE_TIMEOUT_S * 0.8, f"closed after {took:.2f}s, before the timeout"
    raw.close()


def test_tls_without_hello_gets_goaway_timeout(strict_server):
    c = strict_server.connect(send_hello=False)
    started = time.monotonic()
    frame = c.read_frame(time.monotonic() + 5 * HANDSHAKE_TIMEOUT_S)
    assert isinstance(frame, wire.Goaway), f"expected GOAWAY, got {frame}"
    assert frame.error_code == wire.TIMEOUT, frame
    assert time.monotonic() - started >= HANDSHAKE_TIMEOUT_S * 0.5
    c.close()
    strict_server.assert_alive()


def test_a_truncated_frame_does_not_hold_the_server(strict_server):
    c = strict_server.connect()
    frame = wire.encode(wire.Headers(1, "/gatehouse.v1.Health/Check", 0, []))
    c.send_raw(frame[: len(frame) - 3])  # the rest never comes
    with strict_server.connect() as other:
        assert other.unary("/gatehouse.v1.Health/Check", b"").status == wire.OK
    c.close()
    strict_server.assert_alive()
