"""What the etcd interop tests share: a real three-member etcd cluster
(Scripts/etcd-cluster.sh), three `gatehouse serve --store etcd` replicas on
it with one CA, writers that record every acknowledged change, and
example-component subscribers whose printed revisions are parsed.

The tests are skipped, with the reason, only when the `etcd` or `etcdctl`
binary is missing (Scripts/install-deps.sh installs Debian's etcd-server and
etcd-client, so in CI they run).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

import gatehouse_wire as wire
from conftest import REPO, Server, _started, start_server

SCRIPT = REPO / "Scripts" / "etcd-cluster.sh"
CATALOG = REPO / "Examples" / "kubernetes-catalog.yaml"
MISSING_ETCD = [name for name in ("etcd", "etcdctl") if shutil.which(name) is None]

requires_etcd = pytest.mark.skipif(
    bool(MISSING_ETCD),
    reason=f"{' and '.join(MISSING_ETCD)} not installed: Scripts/install-deps.sh installs Debian's etcd-server and etcd-client",
)

SET = "/gatehouse.v1.Features/Set"
GET = "/gatehouse.v1.Features/Get"
DEFINE = "/gatehouse.v1.Features/Define"
IMPORT = "/gatehouse.v1.Features/ImportCatalog"

# The servers' deadline for one etcd call (--etcd-timeout); short, so the
# partition test knows how long "never hangs" may take.
ETCD_TIMEOUT_S = 2.0


# --------------------------------------------------------------------------
# The etcd cluster
# --------------------------------------------------------------------------


def _ports_free(ports) -> bool:
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_base_port() -> int:
    """A base N with N..N+5 free on loopback (other engineers' etcds run here too)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 45000)
        if _ports_free(range(base, base + 6)):
            return base
    raise AssertionError("no six free consecutive ports on 127.0.0.1")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


class EtcdCluster:
    """Three etcd members started by Scripts/etcd-cluster.sh in `directory`.

    Members are numbered 1..3, as the script names them (m1, m2, m3).
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self.base_port: Optional[int] = None
        self.serve_flags: list[str] = []
        self.paused: set[int] = set()

    def _script(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        """Starts the members that are not running (all, the first time) and waits until all are healthy."""
        args = ["start", str(self.directory)]
        if self.base_port is None:
            self.base_port = free_base_port()
            args += ["--base-port", str(self.base_port)]
        result = self._script(*args)
        assert result.returncode == 0, f"etcd-cluster.sh start failed ({result.returncode})\n{result.stdout}\n{result.stderr}"
        flags = [line for line in result.stdout.splitlines() if line.startswith("gatehouse serve flags: ")]
        assert flags, f"etcd-cluster.sh start printed no flags line:\n{result.stdout}"
        self.serve_flags = flags[-1].removeprefix("gatehouse serve flags: ").split()

    def stop(self) -> None:
        for member in list(self.paused):
            self.resume(member)
        result = self._script("stop", str(self.directory))
        assert result.returncode == 0, f"etcd-cluster.sh stop failed\n{result.stdout}\n{result.stderr}"

    def endpoint(self, member: int) -> str:
        return f"https://127.0.0.1:{self.base_port + member - 1}"

    @property
    def endpoints(self) -> list[str]:
        return [self.endpoint(m) for m in (1, 2, 3)]

    def pid(self, member: int) -> Optional[int]:
        path = self.directory / f"m{member}.pid"
        if not path.exists():
            return None
        pid = int(path.read_text().strip())
        return pid if _alive(pid) else None

    def etcdctl(self, *args: str, endpoints: Optional[list[str]] = None, timeout: float = 15) -> subprocess.CompletedProcess:
        pki = self.directory / "pki"
        argv = ["etcdctl", "--endpoints", ",".join(endpoints or self.endpoints), "--cacert", str(pki / "ca.crt"),
                "--cert", str(pki / "gatehouse.crt"), "--key", str(pki / "gatehouse.key"),
                "--dial-timeout", "2s", "--command-timeout", "5s", *args]
        env = dict(os.environ, ETCDCTL_API="3")
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)

    def leader(self, wait: float = 15.0) -> int:
        """The member that leads now, as `etcdctl endpoint status` reports it (waits for an election)."""
        deadline = time.monotonic() + wait
        last = ""
        while time.monotonic() < deadline:
            live = [m for m in (1, 2, 3) if self.pid(m) is not None and m not in self.paused]
            result = self.etcdctl("endpoint", "status", "-w", "json", endpoints=[self.endpoint(m) for m in live])
            last = result.stderr
            try:
                statuses = json.loads(result.stdout or "[]")
            except json.JSONDecodeError:
                statuses = []
            for status in statuses:
                if status["Status"]["leader"] == status["Status"]["header"]["member_id"]:
                    return self.endpoints.index(status["Endpoint"]) + 1
            time.sleep(0.1)
        raise AssertionError(f"no etcd leader within {wait}s: {last}")

    def kill(self, member: int) -> None:
        """SIGKILL, and wait until the process is gone."""
        pid = self.pid(member)
        assert pid is not None, f"member m{member} is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(pid):
            assert time.monotonic() < deadline, f"m{member} (pid {pid}) survived SIGKILL"
            time.sleep(0.02)

    def pause(self, member: int) -> None:
        pid = self.pid(member)
        assert pid is not None, f"member m{member} is not running"
        os.kill(pid, signal.SIGSTOP)
        self.paused.add(member)

    def resume(self, member: int) -> None:
        pid = self.pid(member)
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        self.paused.discard(member)

    def heal(self) -> None:
        """Every member running and healthy again: resumes paused ones, restarts killed ones."""
        for member in list(self.paused):
            self.resume(member)
        self.start()

    def log_tails(self, lines: int = 15) -> str:
        out = []
        for member in (1, 2, 3):
            path = self.directory / f"m{member}.log"
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            out.append(f"--- m{member}.log ---\n" + "\n".join(text))
        return "\n".join(out)


# --------------------------------------------------------------------------
# Gatehouse replicas
# --------------------------------------------------------------------------


def start_replicas(binary: Path, root: Path, cluster: EtcdCluster, prefix: str,
                   names=("A", "B", "C"), extra: tuple[str, ...] = ()) -> dict[str, Server]:
    """Starts one `gatehouse serve --store etcd` per name, all on `prefix`.

    The first creates the development PKI and policy; the others get copies,
    so one CA, one admin certificate and one policy serve all of them, as
    README "Running several servers" describes.
    """
    servers: dict[str, Server] = {}
    first: Optional[Path] = None
    for name in names:
        data = root / name
        if first is not None:
            data.mkdir(parents=True, exist_ok=True)
            shutil.copytree(first / "pki", data / "pki")
            shutil.copy2(first / "policy.yaml", data / "policy.yaml")
        args = (*cluster.serve_flags, "--etcd-prefix", prefix, "--etcd-timeout", f"{ETCD_TIMEOUT_S:g}s",
                "--server-id", name, "--log-level", "notice", *extra)
        servers[name] = start_server(binary, data, args)
        first = first or data
    return servers


def stop_replicas(servers: dict[str, Server]) -> None:
    for server in servers.values():
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def admin_unary(server: Server, path: str, request, timeout_s: float = 15.0) -> wire.CallResult:
    with server.connect(timeout=timeout_s) as c:
        return c.unary(path, request.SerializeToString(), timeout_ms=int(timeout_s * 1000), wait=timeout_s + 2)


def prepare_catalog(server: Server, pb) -> int:
    """Imports the example catalog and defines `CrashA` (component `crash`); returns the revision."""
    imported = admin_unary(server, IMPORT, pb.features.ImportCatalogRequest(yaml=CATALOG.read_text(), reason="interop"))
    assert imported.ok, f"ImportCatalog: {imported.status_name}: {imported.message}"
    define = pb.features.DefineFeatureRequest(reason="interop")
    define.feature.name = "CrashA"
    define.feature.components.append("crash")
    define.feature.stage = pb.features.STAGE_ALPHA
    define.feature.description = "written by the etcd interop writers"
    result = admin_unary(server, DEFINE, define)
    assert result.ok, f"Define CrashA: {result.status_name}: {result.message}"
    return pb.features.DefineFeatureResponse.FromString(result.response()).revision


def wait_for_revision(server: Server, pb, revision: int, timeout: float = 20.0) -> int:
    """Waits until `server` reports at least `revision` (Features/List); returns what it reports."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        result = admin_unary(server, "/gatehouse.v1.Features/List", pb.features.ListFeaturesRequest(page_size=1))
        if result.ok:
            seen = pb.features.ListFeaturesResponse.FromString(result.response()).revision
            if seen >= revision:
                return seen
        assert time.monotonic() < deadline, f"{server.address} is at r{seen}, not r{revision}, after {timeout}s"
        time.sleep(0.05)


def crash_overrides(server: Server, pb) -> dict[str, int]:
    """instance id -> revision of every enabled instance override of CrashA, read through `server`."""
    found: dict[str, int] = {}
    token = ""
    with server.connect(timeout=30) as c:
        while True:  # Get pages its overrides (PROTOCOL.md 6.2)
            request = pb.features.GetFeatureRequest(name="CrashA", page_token=token)
            result = c.unary(GET, request.SerializeToString(), timeout_ms=20000, wait=25)
            assert result.ok, f"Get CrashA through {server.address}: {result.status_name}: {result.message}"
            response = pb.features.GetFeatureResponse.FromString(result.response())
            for override in response.overrides:
                if override.scope.WhichOneof("scope") == "instance" and override.enabled:
                    found[override.scope.instance.instance_id] = override.revision
            token = response.next_page_token
            if not token:
                return found


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------

# Every write sets a new value of kubelet's shutdown_grace_period, so each
# committed batch is a change every kubelet subscriber is pushed.
_grace_values = itertools.count(1)


def write_request(pb, instance: str, reason: str) -> bytes:
    """One batch: CrashA on for a new instance of `crash` (read back later) and a new grace period for kubelet."""
    request = pb.features.SetRequest(reason=reason)
    change = request.changes.add()
    change.feature = "CrashA"
    change.scope.instance.component = "crash"
    change.scope.instance.instance_id = instance
    change.enabled = True
    grace = request.changes.add()
    grace.feature = "GracefulNodeShutdown"
    grace.scope.component.component = "kubelet"
    grace.enabled = True
    grace.params["shutdown_grace_period"].duration_ms = next(_grace_values) % 600_001
    return request.SerializeToString()


@dataclass
class Outcome:
    """One write's end: acknowledged (revision) or refused (status), and when."""
    instance: str
    sent: float
    done: float
    revision: Optional[int] = None
    status: Optional[str] = None
    message: str = ""


@dataclass
class Writers:
    """Threads that each write batches through one server on a connection of their own, until stopped.

    With `reconnect`, a writer whose connection failed or whose write was
    refused tries again (a new connection), so writes resume once the
    cluster can take them; without, it stops at the first failure.
    """
    server: Server
    pb: object
    tag: str
    count: int = 8
    reconnect: bool = False
    call_timeout_s: float = 10.0
    outcomes: list = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "Writers":
        for index in range(self.count):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _run(self, index: int) -> None:
        batch = 0
        client: Optional[wire.Client] = None
        while not self._stop.is_set():
            instance = f"{self.tag}-w{index}-b{batch}"
            batch += 1
            sent = time.monotonic()
            try:
                if client is None:
                    client = self.server.connect(timeout=self.call_timeout_s)
                result = client.unary(SET, write_request(self.pb, instance, f"interop {self.tag}"),
                                      timeout_ms=int(self.call_timeout_s * 1000), wait=self.call_timeout_s + 2)
                if result.ok:
                    revision = self.pb.features.SetResponse.FromString(result.response()).revision
                    self._record(Outcome(instance, sent, time.monotonic(), revision=revision))
                    continue
                self._record(Outcome(instance, sent, time.monotonic(), status=result.status_name, message=result.message))
            except (OSError, wire.ConnectionClosed, wire.WireError, TimeoutError) as error:
                self._record(Outcome(instance, sent, time.monotonic(), status=type(error).__name__, message=str(error)))
                if client is not None:
                    client.close()
                client = None
            if not self.reconnect:
                break
            self._stop.wait(0.05)
        if client is not None:
            client.close()

    def wait_for_acks(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged()) < n:
            assert time.monotonic() < deadline, f"{len(self.acknowledged())} acknowledged writes after {timeout}s, wanted {n}: {self.failures()[:3]}"
            time.sleep(0.02)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), f"a writer through {self.server.address} did not finish within {timeout}s"

    def acknowledged(self) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.revision is not None]

    def failures(self) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.revision is None]


def assert_acknowledged_present(present: dict[str, int], acknowledged: list[Outcome], where: str) -> None:
    missing = {o.instance: o.revision for o in acknowledged if present.get(o.instance) != o.revision}
    assert not missing, (f"{len(missing)} of {len(acknowledged)} acknowledged writes are missing or changed through {where}, "
                         f"e.g. {list(missing.items())[:5]}")
    revisions = [o.revision for o in acknowledged]
    assert len(set(revisions)) == len(revisions), "two acknowledged writes share a revision"


# --------------------------------------------------------------------------
# SDK subscribers (example-component)
# --------------------------------------------------------------------------

UPDATE = re.compile(r"^r(\d+) \((server|boot)\)")
BOOTED = re.compile(r"^booted live at r(\d+)")


@dataclass
class Component:
    """A running example-component and the revisions it printed, in order."""
    proc: subprocess.Popen
    instance: str
    stderr_path: Path
    lines: list = field(default_factory=list)
    booted: Optional[int] = None
    revisions: list = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def _pump(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                m = BOOTED.match(line)
                if m:
                    self.booted = int(m.group(1))
                m = UPDATE.match(line)
                if m and m.group(2) == "server":
                    self.revisions.append(int(m.group(1)))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_until(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"{self.instance}: {what} within {timeout}s\n{self.output()}"
                self._changed.wait(min(remaining, 0.5))

    def output(self) -> str:
        err = self.stderr_path.read_text(errors="replace")[-6000:] if self.stderr_path.exists() else ""
        return "--- stdout ---\n" + "".join(self.lines[-60:]) + "\n--- stderr ---\n" + err

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_component(binary: Path, config: Path, endpoints: list[str], instance: str, workdir: Path) -> Component:
    workdir.mkdir(parents=True, exist_ok=True)
    stderr_path = workdir / f"{instance}.stderr.log"
    argv = [str(binary), "--config", str(config), "--component", "kubelet", "--instance", instance,
            "--state-file", str(workdir / f"{instance}.json"), "--boot-deadline", "30", "--verbose"]
    for endpoint in endpoints:
        argv += ["--endpoint", endpoint]
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True, bufsize=1)
    _started.append(proc)
    component = Component(proc, instance, stderr_path)
    threading.Thread(target=component._pump, daemon=True).start()
    return component
