"""The data directory: one server at a time (a lock no `rm` defeats), files
written only when they change and with private modes whatever the umask, and
damage found by `gatehouse check` and refused by `gatehouse serve`."""
from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, start_server
from test_gatectl import CATALOG, Gatectl


def _serve(gatehouse_bin: Path, data: Path, listen: str = "127.0.0.1:0", timeout: float = 30, **kw):
    """Runs a `gatehouse serve` that is expected to exit on its own."""
    return subprocess.run([str(gatehouse_bin), "serve", "--data-dir", str(data), "--listen", listen],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def _check(gatehouse_bin: Path, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(gatehouse_bin), "check", "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=60)


def _snapshot(data: Path) -> dict[str, tuple[bytes, int, int]]:
    """Contents, mtime and mode of every file the server writes besides the database."""
    files = [data / "admin.conf", data / "policy.yaml", *sorted((data / "pki").iterdir())]
    return {str(f.relative_to(data)): (f.read_bytes(), f.stat().st_mtime_ns, stat.S_IMODE(f.stat().st_mode))
            for f in files}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_second_serve_on_a_directory_in_use_changes_nothing_and_says_why(gatehouse_bin, tmp_path):
    data = tmp_path / "data"
    first = start_server(gatehouse_bin, data)
    try:
        before = _snapshot(data)
        time.sleep(0.05)  # a rewrite would show in the mtime
        second = _serve(gatehouse_bin, data)
        assert second.returncode != 0, second.stdout
        assert f"data directory {data} is in use" in second.stderr, second.stderr
        assert "listening on" not in second.stdout
        assert _snapshot(data) == before
        first.assert_alive()
        with first.connect():
            pass  # the running server's admin.conf still reaches it
    finally:
        assert first.stop() == 0


def test_removing_a_lock_file_does_not_let_a_second_server_in(gatehouse_bin, tmp_path):
    data = tmp_path / "data"
    first = start_server(gatehouse_bin, data)
    try:
        for path in set(data.glob("*lock*")):
            path.unlink()  # what an operator's stray `rm` would do
        second = _serve(gatehouse_bin, data)
        assert second.returncode != 0 and "is in use" in second.stderr, second.stdout + second.stderr
        first.assert_alive()
    finally:
        first.stop()


def test_restart_on_the_same_address_rewrites_nothing(gatehouse_bin, tmp_path):
    data = tmp_path / "data"
    listen = f"127.0.0.1:{_free_port()}"
    first = start_server(gatehouse_bin, data, ("--listen", listen))
    assert first.stop() == 0
    before = _snapshot(data)
    time.sleep(0.05)
    again = start_server(gatehouse_bin, data, ("--listen", listen))
    try:
        assert _snapshot(data) == before
        with again.connect():
            pass
    finally:
        assert again.stop() == 0


def test_data_directory_is_private_whatever_the_umask(gatehouse_bin, tmp_path):
    data = tmp_path / "fresh" / "data"  # neither exists yet: the server creates both
    proc = subprocess.Popen([str(gatehouse_bin), "serve", "--data-dir", str(data), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.umask(0))
    try:
        line = proc.stdout.readline()
        assert "listening on" in line, proc.stderr.read() if proc.poll() is not None else line
        modes = {str(p.relative_to(data)): stat.S_IMODE(p.stat().st_mode) for p in [data, *data.rglob("*")]}
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name, mode in modes.items():
            if name.endswith(".crt"):
                assert mode == 0o644, (name, oct(mode))  # public; inside the 0700 pki directory
            elif name in (".", "pki"):
                assert mode == 0o700, (name, oct(mode))
            else:
                assert mode == 0o600, (name, oct(mode))
        assert {"gatehouse.db", "gatehouse.db-wal", "gatehouse.db-shm", "admin.conf", "policy.yaml", "pki/ca.key"} <= set(modes)
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture
def written(gatehouse_bin, gatectl_bin, tmp_path):
    """A stopped server's data directory holding a catalog and 30 overrides with their audit entries."""
    data = tmp_path / "data"
    srv = start_server(gatehouse_bin, data)
    try:
        gatectl = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
        gatectl.ok("catalog", "import", str(CATALOG), "--reason", "bootstrap")
        for index in range(30):
            verb = "enable" if index % 2 == 0 else "disable"
            gatectl.ok(verb, "InPlacePodVerticalScaling", "--component", "kubelet", "--instance", f"node-{index}",
                       "--reason", f"canary step {index} " + "x" * 300)
        check = _check(gatehouse_bin, data)  # while the server runs
        assert check.returncode == 0, check.stdout + check.stderr
        assert "revision r31, " in check.stdout and check.stdout.rstrip().endswith("ok"), check.stdout
    finally:
        assert srv.stop() == 0
    return data


def test_a_record_edited_into_other_valid_json_is_refused_and_listed(gatehouse_bin, written):
    db = sqlite3.connect(written / "gatehouse.db")
    kind, key, value = db.execute(
        "SELECT kind, key, value FROM records WHERE key LIKE '%node-7%'").fetchone()
    edited = bytes(value).replace(b'"enabled":false', b'"enabled":true')
    assert edited != bytes(value)
    db.execute("UPDATE records SET value = ? WHERE kind = ? AND key = ?", (edited, kind, key))
    db.commit()
    db.close()

    check = _check(gatehouse_bin, written)
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"records {kind}/{key} (revision " in check.stdout
    assert "do not match the stored checksum" in check.stdout

    serve = _serve(gatehouse_bin, written)
    assert serve.returncode != 0 and "listening on" not in serve.stdout
    assert f"records {kind}/{key} (revision " in serve.stderr, serve.stderr
    assert f"gatehouse check --data-dir {written}" in serve.stderr, serve.stderr


def test_a_zeroed_audit_page_is_refused_and_listed(gatehouse_bin, written):
    db = sqlite3.connect(written / "gatehouse.db")
    leaves = [row[0] for row in db.execute(
        "SELECT pageno FROM dbstat WHERE name = 'audit' AND pagetype = 'leaf' ORDER BY pageno")]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    assert len(leaves) >= 3, leaves
    with open(written / "gatehouse.db", "r+b") as f:
        f.seek((leaves[1] - 1) * page_size)
        f.write(bytes(page_size))

    check = _check(gatehouse_bin, written)
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"Page {leaves[1]}" in check.stdout and "audit revisions " in check.stdout, check.stdout

    serve = _serve(gatehouse_bin, written)
    assert serve.returncode != 0 and "listening on" not in serve.stdout
    assert "audit revisions " in serve.stderr and "unreadable" in serve.stderr, serve.stderr


def test_check_without_a_database_exits_2(gatehouse_bin, tmp_path):
    check = _check(gatehouse_bin, tmp_path / "nothing")
    assert check.returncode == 2
    assert "no database in" in check.stderr
    assert not (tmp_path / "nothing").exists()
