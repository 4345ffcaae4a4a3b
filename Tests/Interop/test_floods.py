"""What one connection can make the server do and hold (PROTOCOL.md sections
2.1 and 3.7): PING floods, rapid reset, metadata, a peer that never reads."""

from __future__ import annotations

import socket
import time

import gatehouse_wire as wire
from conftest import start_server

INFO = "/gatehouse.v1.Server/Info"
CHECK = "/gatehouse.v1.Health/Check"


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_ping_flood_ends_with_enhance_your_calm(server):
    c = server.connect()
    c.send_raw(b"".join(wire.encode(wire.Ping(i.to_bytes(8, "big"))) for i in range(150)))
    frames = c.read_until_closed(timeout=10)
    acks = [f for f in frames if isinstance(f, wire.Ping) and f.ack]
    assert len(acks) == 100, f"{len(acks)} PINGs answered"
    assert c.goaway is not None and c.goaway.error_code == wire.ENHANCE_YOUR_CALM, c.goaway
    assert "PING" in c.goaway.debug
    server.assert_alive()


def test_rapid_reset_ends_the_connection(server):
    c = server.connect()
    data = b""
    for i in range(300):
        sid = 2 * i + 1
        data += (wire.encode(wire.Headers(sid, INFO)) + wire.encode(wire.Message(sid, b"", True))
                 + wire.encode(wire.Cancel(sid)))
    c.send_raw(data)
    c.read_until_closed(timeout=10)
    assert c.goaway is not None and c.goaway.error_code == wire.ENHANCE_YOUR_CALM, c.goaway
    assert "cancelled" in c.goaway.debug
    with server.connect() as other:
        assert other.unary(CHECK).status == wire.OK, "everyone else is still served"


def test_metadata_over_the_per_call_limit_is_refused(client):
    r = client.unary(CHECK, metadata=[("big", b"a" * 20_000)])
    assert r.status == wire.RESOURCE_EXHAUSTED, r
    assert client.unary(CHECK, metadata=[("small", b"a" * 1_000)]).status == wire.OK


def test_a_peer_that_never_reads_is_not_read(gatehouse_bin, tmp_path):
    """PINGs below the flood limit from a peer that reads nothing: the server
    stops reading it, instead of queuing answers in its own memory."""
    srv = start_server(gatehouse_bin, tmp_path / "data", ("--max-pings", "100000000"))
    try:
        c = srv.connect()
        before = rss_kib(srv.proc.pid)
        chunk = b"".join(wire.encode(wire.Ping(i.to_bytes(8, "big"))) for i in range(10_000))
        c.sock.settimeout(3)
        sent = 0
        try:
            while sent < 200 * len(chunk):  # 2,000,000 PINGs, 36 MB
                c.sock.sendall(chunk)
                sent += len(chunk)
        except (socket.timeout, TimeoutError):
            pass
        time.sleep(0.5)
        grown = rss_kib(srv.proc.pid) - before
        assert sent < 200 * len(chunk), "the server kept reading a peer that reads nothing"
        assert grown < 40_000, f"server RSS grew by {grown} KiB for a peer that reads nothing"
        with srv.connect() as other:
            assert other.unary(CHECK).status == wire.OK
        c.sock.close()
    finally:
        srv.stop()


def test_memory_returns_after_connections_and_abandoned_calls_close(gatehouse_bin, tmp_path):
    """Connections that each leave 20 calls opened with HEADERS (8 KB of metadata,
    never given a MESSAGE) and close: once they are gone, so is what they held.
    Before the server released a closed connection's handler and streams, each
    round of 300 kept about 48 MB."""
    srv = start_server(gatehouse_bin, tmp_path / "data")
    metadata = [("x-pad", b"m" * 8_000)]

    def round_of(connections: int) -> int:
        for _ in range(connections):
            with srv.connect() as c:
                for _ in range(20):
                    c.send(wire.Headers(c.new_stream_id(), INFO, 0, metadata))
                assert c.unary(CHECK).status == wire.OK  # the server read them all
        time.sleep(0.5)
        return rss_kib(srv.proc.pid)

    try:
        round_of(300)  # warm-up: allocator arenas, TLS session state, code pages
        after = [round_of(300) for _ in range(3)]
        grown = after[-1] - after[0]
        assert grown < 8_000, f"server RSS after each round of 300 connections: {after} KiB (+{grown} KiB over two rounds)"
    finally:
        srv.stop()
