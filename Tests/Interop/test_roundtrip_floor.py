"""The round-trip floor server (Benchmarks/RoundTripFloor) answers the C
toggle driver as Gatehouse does, and stores what it acknowledged.

The floor is what the toggle benchmark's figures are read against, so it must
really do the work it claims: mutual TLS with the server's certificates, the
protocol's frames, and in store mode one durable journal row per answered call.
The test runs the driver against it for a second at 1 and 4 writers, stops it,
and counts the rows.
"""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import ssl
import subprocess

import pytest

from c_drivers import driver_fixture, run_driver, table_rows, write_config

HEADER = "writers  toggles/s   p50 ms   p99 ms   server CPU µs/toggle   driver CPU µs/toggle"
ROW = re.compile(r"^(\d+)\s+(\d+)\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+(\d+|-)\s+(\d+)$")
SUMMARY = re.compile(r"^roundtrip_floor: (\d+) calls answered, (\d+) groups committed \((\d+) rows\), mean group size")

floor = driver_fixture("RoundTripFloor")
driver = driver_fixture("ToggleDriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_floor_answers_the_driver_and_journals_every_answer(floor, driver, server, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    store = tmp_path / "store"
    store.mkdir()
    proc = subprocess.Popen([str(floor), "--data-dir", str(server.data_dir), "--listen", address, "--store", str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith(f"listening on {address}"), proc.stderr.read()
        config = write_config(tmp_path / "floor.conf", server.admin_conf, server=address)
        run = run_driver(driver, config, "--writers", "1,4", "--seconds", "1", "--server-pid", str(proc.pid))
        rows = table_rows(run, server, HEADER, ROW, [1, 4])
        assert all(int(r.group(2)) > 0 for r in rows), run.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    summary = SUMMARY.match(out.strip())
    assert proc.returncode == 0 and summary, f"exit {proc.returncode}\n{out}\n{err}"
    answered, groups, rows_written = (int(g) for g in summary.groups())
    assert 0 < groups <= rows_written

    # Every answered call is a durable row, with the actor from the client certificate.
    with sqlite3.connect(store / "roundtrip.db") as db:
        count, actors = db.execute("SELECT count(*), group_concat(DISTINCT actor) FROM journal").fetchone()
    assert count == rows_written >= answered > 0
    assert actors == "admin"


def test_floor_refuses_a_client_without_a_certificate(floor, server):
    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([str(floor), "--data-dir", str(server.data_dir), "--listen", address, "--store", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith(f"listening on {address}"), proc.stderr.read()
        context = ssl.create_default_context(cafile=server.ca)
        context.set_alpn_protocols(["gatehouse/1"])
        host, port = address.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            # TLS 1.3: the refusal arrives after the client's Finished, so read once.
            with pytest.raises((ssl.SSLError, ConnectionResetError)):
                with context.wrap_socket(raw, server_hostname=host) as tls:
                    tls.recv(1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
