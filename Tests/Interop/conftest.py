"""Fixtures for the interop suite: generated protobuf modules, the server
binary, a running `gatehouse serve`, and connected clients.

    cd <repo> && python3 -m pytest Tests/Interop -q

The server binary is $GATEHOUSE_BIN or <repo>/.build/debug/gatehouse; tests
that need it are skipped (with the reason) only when it does not exist.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROTO_DIR = REPO / "Proto"
GEN_DIR = HERE / "gen"
VECTORS = REPO / "Tests" / "Conformance" / "frames.json"

sys.path.insert(0, str(HERE))
import gatehouse_wire as wire  # noqa: E402

STARTUP_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 15.0


# --------------------------------------------------------------------------
# Generated protobuf modules
# --------------------------------------------------------------------------


def _generate_pb2() -> None:
    protoc = shutil.which("protoc")
    if protoc is None:
        raise pytest.UsageError("protoc not found: apt-get install -y protobuf-compiler "
                                "(or run Scripts/generate-protos.sh, which installs it)")
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    if GEN_DIR.exists():
        shutil.rmtree(GEN_DIR)
    GEN_DIR.mkdir(parents=True)
    subprocess.run([protoc, f"--proto_path={PROTO_DIR}", f"--python_out={GEN_DIR}", *protos],
                   check=True, cwd=PROTO_DIR)
    (GEN_DIR / ".gitignore").write_text("*\n")
    if str(GEN_DIR) not in sys.path:
        sys.path.insert(0, str(GEN_DIR))


def pytest_configure(config):
    _generate_pb2()


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


def server_binary() -> Path:
    env = os.environ.get("GATEHOUSE_BIN")
    return Path(env) if env else REPO / ".build" / "debug" / "gatehouse"


@pytest.fixture(scope="session")
def gatehouse_bin() -> Path:
    path = server_binary()
    if not path.exists():
        pytest.skip(f"server binary {path} does not exist (build it, or set GATEHOUSE_BIN)")
    return path


def gatectl_binary() -> Path:
    """$GATECTL_BIN, else `gatectl` next to the server binary."""
    env = os.environ.get("GATECTL_BIN")
    return Path(env) if env else server_binary().parent / "gatectl"


@pytest.fixture(scope="session")
def gatectl_bin() -> Path:
    path = gatectl_binary()
    if not path.exists():
        pytest.skip(f"gatectl binary {path} does not exist (build it, or set GATECTL_BIN)")
    return path


LISTENING = re.compile(r"listening on (\S+):(\d+)\s*$")
ADMIN_CONFIG = re.compile(r"admin config: (.+?)\s*$")


@dataclass
class Server:
    """A running `gatehouse serve` and the admin credentials it created."""

    proc: subprocess.Popen
    data_dir: Path
    host: str
    port: int
    admin_conf_path: Path
    admin_conf: dict
    stdout_lines: list = field(default_factory=list)
    stderr_path: Optional[Path] = None

    @property
    def ca(self) -> str:
        return self.admin_conf["ca"]

    @property
    def cert(self) -> str:
        return self.admin_conf["certificate"]

    @property
    def key(self) -> str:
        return self.admin_conf["key"]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def logs(self) -> str:
        err = self.stderr_path.read_text(errors="replace") if self.stderr_path and self.stderr_path.exists() else ""
        return "--- stdout ---\n" + "".join(self.stdout_lines) + "\n--- stderr ---\n" + err[-20000:]

    def assert_alive(self) -> None:
        rc = self.proc.poll()
        assert rc is None, f"the server exited with {rc}\n{self.logs()}"

    def connect(self, **kw) -> wire.Client:
        """A client with the admin certificate, HELLO exchanged (unless send_hello=False)."""
        kw.setdefault("ca", self.ca)
        kw.setdefault("cert", self.cert)
        kw.setdefault("key", self.key)
        return wire.Client(self.host, self.port, **kw)

    def stop(self) -> int:
        """SIGTERM, then wait; returns the exit status (kills after the timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the server did not exit within {SHUTDOWN_TIMEOUT}s of SIGTERM\n{self.logs()}")
        return self.proc.returncode


# Every server process started, so that none outlives the session (see the fixture below).
_started: list[subprocess.Popen] = []


def start_server(binary: Path, data_dir: Path, extra_args: tuple[str, ...] = ()) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir.parent / f"{data_dir.name}.stderr.log"
    stderr = open(stderr_path, "wb")
    proc = subprocess.Popen(
        [str(binary), "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", *extra_args],
        stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True, bufsize=1)
    _started.append(proc)
    stderr.close()
    lines: list[str] = []
    found: dict[str, object] = {}
    listening = threading.Event()
    configured = threading.Event()

    def pump():  # reads stdout for the whole life of the process, so the pipe never fills
        for line in proc.stdout:
            lines.append(line)
            m = LISTENING.search(line)
            if m and "addr" not in found:
                found["addr"] = (m.group(1).strip("[]"), int(m.group(2)))
                listening.set()
            m = ADMIN_CONFIG.search(line)
            if m and "conf" not in found:
                found["conf"] = Path(m.group(1))
                configured.set()
        listening.set()  # EOF: the process ended
        configured.set()

    threading.Thread(target=pump, daemon=True).start()
    listening.wait(STARTUP_TIMEOUT)
    if "addr" not in found:
        proc.kill()
        proc.wait()
        err = stderr_path.read_text(errors="replace")
        raise AssertionError(f"the server did not print 'listening on HOST:PORT' within {STARTUP_TIMEOUT}s "
                             f"(exit {proc.returncode})\nstdout:\n{''.join(lines)}\nstderr:\n{err[-5000:]}")
    # "admin config: PATH" may come before or after "listening on".
    configured.wait(3.0)
    host, port = found["addr"]
    conf_path = found.get("conf") or data_dir / "admin.conf"
    # The config is written before the server says so; tolerate a short race anyway.
    for _ in range(50):
        if conf_path.exists():
            break
        time.sleep(0.05)
    conf = yaml.safe_load(conf_path.read_text())
    return Server(proc, data_dir, host, port, conf_path, conf, lines, stderr_path)


@pytest.fixture(scope="session", autouse=True)
def no_server_outlives_the_session():
    """Kills any server still running when the session ends.

    Fixtures and tests stop the servers they start, but one whose setup fails
    after `start_server` (a gatectl step, an assertion) never reaches its
    teardown, and its server would keep running, holding a port and CPU,
    after pytest exits.
    """
    yield
    for proc in _started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def server(gatehouse_bin, tmp_path_factory) -> Server:
    """One server for the session; at the end SIGTERM, and it must exit 0."""
    srv = start_server(gatehouse_bin, tmp_path_factory.mktemp("gatehouse") / "data")
    yield srv
    rc = srv.stop()
    assert rc == 0, f"the server exited with {rc} after SIGTERM\n{srv.logs()}"


@pytest.fixture
def fresh_server(gatehouse_bin, tmp_path) -> Server:
    """A server of its own, for tests that stop it."""
    srv = start_server(gatehouse_bin, tmp_path / "data")
    yield srv
    if srv.proc.poll() is None:
        srv.proc.kill()
        srv.proc.wait()


@pytest.fixture
def client(server):
    """An admin client with HELLO exchanged; closed after the test, server checked alive."""
    c = server.connect()
    yield c
    c.close()
    server.assert_alive()


@pytest.fixture(scope="session")
def pb():
    """The generated protobuf modules, as pb.server, pb.health, pb.errors, ..."""
    from gatehouse.v1 import components_pb2, errors_pb2, features_pb2, health_pb2, server_pb2

    class PB:
        server = server_pb2
        health = health_pb2
        errors = errors_pb2
        features = features_pb2
        components = components_pb2

    return PB
