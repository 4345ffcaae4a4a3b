#!/usr/bin/env python3
"""Issue 13's attacks, run from outside against a real `gatehouse serve`,
with a well-behaved admin measured meanwhile.

    python3 Benchmarks/Attacks/attacks.py [--bin .build/release/gatehouse] [--only NAME,...]

Each attack is bounded in count and time and sends traffic to 127.0.0.1
only. For each, the script prints what the attacker saw (GOAWAY, a closed
connection, a refusal, or nothing), the server's RSS before, at its peak and
after, the server CPU the attack cost, and the latency of two admin probes
run throughout: a fresh connection + Server/Info (what `gatectl info` does)
and a toggle (Features/Set) on a connection opened before the attack.

It is a measuring tool, not a test: it asserts nothing and prints figures.
The Swift and interop tests prove each defence; this shows them from the
outside, together, on one server.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "Tests" / "Interop"))

import conftest  # noqa: E402  (start_server, generated protobuf modules)
import gatehouse_wire as wire  # noqa: E402

INFO = "/gatehouse.v1.Server/Info"
SET = "/gatehouse.v1.Features/Set"
REGISTER = "/gatehouse.v1.Components/Register"
IMPORT = "/gatehouse.v1.Features/ImportCatalog"
HISTORY = "/gatehouse.v1.Features/History"
TOGGLED = "PodLevelResources"


# --------------------------------------------------------------------------
# The server process, seen from /proc
# --------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watch:
    """Samples the server's RSS every 50 ms while an attack runs."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak = rss_mb(pid)
        self.before = self.peak
        self.cpu_before = cpu_seconds(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.05):
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
            except OSError:
                return

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"rss_before": self.before, "rss_peak": self.peak, "rss_after": rss_mb(self.pid),
                "cpu": cpu_seconds(self.pid) - self.cpu_before}


# --------------------------------------------------------------------------
# The well-behaved admin
# --------------------------------------------------------------------------


class Probes:
    """An admin measured while an attack runs: connect + Info, and a toggle."""

    def __init__(self, srv, pb):
        self.srv, self.pb = srv, pb
        self.info: list[float] = []
        self.toggle: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._info_loop, daemon=True),
                         threading.Thread(target=self._toggle_loop, daemon=True)]
        for t in self._threads:
            t.start()

    def _info_loop(self):
        while not self._stop.wait(0.1):
            started = time.monotonic()
            try:
                with self.srv.connect(timeout=10) as c:
                    result = c.unary(INFO, b"", wait=10)
                if result.status != wire.OK:
                    self.failures.append(f"info: {result.status_name} {result.message}")
            except Exception as e:  # noqa: BLE001 - a probe that fails is a figure
                self.failures.append(f"info: {type(e).__name__}: {e}")
            self.info.append(time.monotonic() - started)

    def _toggle_loop(self):
        enabled = True
        client = None
        while not self._stop.wait(0.1):
            started = time.monotonic()
            try:
                client = client or self.srv.connect(timeout=10)
                request = self.pb.features.SetRequest(reason="attack probe")
                change = request.changes.add(feature=TOGGLED, enabled=enabled)
                change.scope.component.component = "kubelet"
                result = client.unary(SET, request.SerializeToString(), wait=10)
                if result.status != wire.OK:
                    self.failures.append(f"toggle: {result.status_name} {result.message}")
                enabled = not enabled
            except Exception as e:  # noqa: BLE001
                self.failures.append(f"toggle: {type(e).__name__}: {e}")
                if client:
                    client.close()
                client = None
            self.toggle.append(time.monotonic() - started)
        if client:
            client.close()

    def stop(self) -> dict:
        self._stop.set()
        for t in self._threads:
            t.join()
        return {"info": self.info, "toggle": self.toggle, "failures": self.failures}


def p(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.0f}"


# --------------------------------------------------------------------------
# The attacks: each returns one line saying what the attacker saw
# --------------------------------------------------------------------------


def outcome_of(c: wire.Client, seconds: float = 3.0) -> str:
    """What the server did to this connection: GOAWAY code, closed, or still open."""
    deadline = time.monotonic() + seconds
    try:
        while True:
            f = c.read_frame(deadline)
            if isinstance(f, wire.Goaway):
                return f"GOAWAY {wire.ERROR_NAMES.get(f.error_code, f.error_code)}: {f.debug}"
    except TimeoutError:
        return "connection still open"
    except (wire.ConnectionClosed, OSError, wire.WireError) as e:
        if getattr(e, "goaway", None):
            g = e.goaway
            return f"GOAWAY {wire.ERROR_NAMES.get(g.error_code, g.error_code)}: {g.debug}"
        return "closed without GOAWAY"


def flood(srv, frame_bytes: bytes, count: int, seconds: float) -> str:
    """Sends `frame_bytes` `count` times without reading; stops when the server stops reading."""
    c = srv.connect(timeout=10)
    batch = frame_bytes * max(1, 65536 // len(frame_bytes))
    per_batch = len(batch) // len(frame_bytes)
    sent = 0
    deadline = time.monotonic() + seconds
    c.sock.settimeout(2.0)
    how = "sent everything"
    try:
        while sent < count and time.monotonic() < deadline:
            c.sock.sendall(batch)
            sent += per_batch
        if time.monotonic() >= deadline:
            how = "time limit"
    except socket.timeout:
        how = "the server stopped reading"
    except (OSError, ValueError) as e:
        how = f"send failed ({type(e).__name__})"
    result = f"{sent:,} sent, {how}; {outcome_of(c)}"
    c.close()
    return result


def attack_ping_flood(srv, pb, args) -> str:
    return flood(srv, wire.encode(wire.Ping(b"12345678")), 6_000_000, 30)


def attack_unread_unary(srv, pb, args) -> str:
    calls = bytearray()
    for sid in range(1, 2 * 200_000, 2):
        calls += wire.encode(wire.Headers(sid, INFO, 0, [])) + wire.encode(wire.Message(sid, b"", True))
    c = srv.connect(timeout=10)
    c.sock.settimeout(2.0)
    how = "sent everything"
    try:
        for start in range(0, len(calls), 65536):
            c.sock.sendall(bytes(calls[start:start + 65536]))
    except socket.timeout:
        how = "the server stopped reading"
    except OSError as e:
        how = f"send failed ({type(e).__name__})"
    result = f"200,000 Info calls, responses never read: {how}; {outcome_of(c)}"
    c.close()
    return result


def attack_plain_tcp_lockout(srv, pb, args) -> str:
    """Idle plain TCP sockets, reopened as the server closes them, for 20 s."""
    socks: list[socket.socket] = []
    opened = refused = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        socks = [s for s in socks if _alive(s)]
        while len(socks) < args.max_connections + 50:
            try:
                socks.append(socket.create_connection((srv.host, srv.port), timeout=2))
                opened += 1
            except OSError:
                refused += 1
                break
        time.sleep(0.2)
    for s in socks:
        s.close()
    return f"{opened} plain TCP sockets opened ({args.max_connections + 50} held at once), {refused} connects failed"


def _alive(s: socket.socket) -> bool:
    try:
        s.setblocking(False)
        data = s.recv(1, socket.MSG_PEEK)
        if data == b"":
            s.close()
            return False
        return True
    except BlockingIOError:
        return True
    except OSError:
        s.close()
        return False
    finally:
        try:
            s.setblocking(True)
        except OSError:
            pass


def attack_idle_authenticated(srv, pb, args) -> str:
    """Authenticated viewer connections that sit idle, more than the connection limit."""
    conf = args.viewer
    clients, failed = [], 0
    for _ in range(args.max_connections + 20):
        try:
            clients.append(wire.Client(srv.host, srv.port, ca=conf["ca"], cert=conf["cert"], key=conf["key"], timeout=5))
        except Exception:  # noqa: BLE001
            failed += 1
    time.sleep(5)
    for c in clients:
        c.close()
    return f"{len(clients)} idle viewer connections held, {failed} refused"


def attack_rapid_reset(srv, pb, args) -> str:
    """HEADERS + MESSAGE(Set) + CANCEL, 3,000 times on one connection."""
    before = _revision(srv, pb)
    frames = bytearray()
    for i in range(3000):
        sid = 2 * i + 1
        request = pb.features.SetRequest(reason="rapid reset")
        change = request.changes.add(feature=TOGGLED, enabled=bool(i % 2))
        change.scope.component.component = "kube-scheduler"
        frames += (wire.encode(wire.Headers(sid, SET, 0, [])) + wire.encode(wire.Message(sid, request.SerializeToString(), True))
                   + wire.encode(wire.Cancel(sid)))
    c = srv.connect(timeout=10)
    c.sock.settimeout(5.0)
    try:
        c.sock.sendall(bytes(frames))
        how = "all sent"
    except (socket.timeout, OSError) as e:
        how = f"send stopped ({type(e).__name__})"
    outcome = outcome_of(c, 10)
    c.close()
    time.sleep(1)
    return f"3,000 reset Sets, {how}; {outcome}; revisions committed meanwhile: {_revision(srv, pb) - before}"


def _revision(srv, pb) -> int:
    """The current revision, from a dry run (which answers with it and commits nothing)."""
    request = pb.features.SetRequest(reason="revision probe", dry_run=True)
    change = request.changes.add(feature=TOGGLED, enabled=True)
    change.scope.component.component = "kubelet"
    with srv.connect(timeout=10) as c:
        return pb.features.SetResponse.FromString(c.unary(SET, request.SerializeToString(), wait=10).response()).revision


def attack_huge_labels(srv, pb, args) -> str:
    statuses: dict[str, int] = {}
    with srv.connect(timeout=30) as c:
        for i in range(1000):
            request = pb.components.RegisterRequest(component="kubelet", instance_id=f"big-{i}", version="1.31.0")
            for k in range(7):
                request.labels[f"k{k}"] = "x" * 128_000
            result = c.unary(REGISTER, request.SerializeToString(), wait=30)
            statuses[result.status_name] = statuses.get(result.status_name, 0) + 1
            if result.status != wire.OK and i > 20:
                break
    return "Register with 896 KB labels: " + ", ".join(f"{k} {v}" for k, v in statuses.items())


def attack_huge_reason(srv, pb, args) -> str:
    with srv.connect(timeout=30) as c:
        request = pb.features.SetRequest(reason="r" * 1_000_000)
        change = request.changes.add(feature=TOGGLED, enabled=True)
        change.scope.component.component = "kube-apiserver"
        result = c.unary(SET, request.SerializeToString(), wait=30)
        history = c.unary(HISTORY, pb.features.HistoryRequest().SerializeToString(), wait=30)
    return f"Set with a 1 MB reason: {result.status_name} {result.message[:80]!r}; History afterwards: {history.status_name}"


def _import(srv, pb, yaml_text: str, wait: float) -> wire.CallResult:
    with srv.connect(timeout=wait) as c:
        request = pb.features.ImportCatalogRequest(yaml=yaml_text, reason="attack")
        return c.unary(IMPORT, request.SerializeToString(), wait=wait)


def attack_catastrophic_regex(srv, pb, args) -> str:
    catalog = ("features:\n  - name: RegexBomb\n    stage: alpha\n    default_enabled: false\n"
               "    components: [kubelet]\n    description: x\n    parameters:\n"
               "      - name: p\n        type: string\n        default: a\n        regex: '^(a+)+$'\n")
    defined = _import(srv, pb, catalog, 30)
    if defined.status != wire.OK:
        return f"pattern refused when defined: {defined.status_name} {defined.message[:100]!r}"
    started = time.monotonic()
    with srv.connect(timeout=60) as c:
        request = pb.features.SetRequest(reason="regex")
        change = request.changes.add(feature="RegexBomb")
        change.scope.component.component = "kubelet"
        change.params["p"].string_value = "a" * 40 + "!"
        try:
            result = c.unary(SET, request.SerializeToString(), wait=60)
            answer = f"{result.status_name} {result.message[:80]!r}"
        except TimeoutError:
            answer = "no answer in 60 s"
    return f"pattern accepted; evil value answered in {time.monotonic() - started:.2f} s: {answer}"


def attack_deep_chain(srv, pb, args) -> str:
    n = 50_000
    lines = ["features:"]
    for i in range(n):
        lines += [f"  - name: Chain{i}", "    stage: alpha", "    default_enabled: false",
                  "    components: [kubelet]", "    description: x"]
        if i:
            lines.append(f"    dependencies: [Chain{i - 1}]")
    started = time.monotonic()
    try:
        result = _import(srv, pb, "\n".join(lines) + "\n", 120)
        answer = f"{result.status_name} {result.message[:100]!r}"
    except (TimeoutError, wire.ConnectionClosed, OSError) as e:
        answer = f"{type(e).__name__}: {e}"
    return f"50,000-long dependency chain: {answer} after {time.monotonic() - started:.1f} s"


def attack_connection_churn(srv, pb, args) -> str:
    rss = []
    for _ in range(5):
        for _ in range(2000):
            with srv.connect(timeout=10) as c:
                c.unary(INFO, b"", wait=10)
        time.sleep(1)
        rss.append(rss_mb(srv.proc.pid))
    return "RSS after each round of 2,000 connections: " + ", ".join(f"{r:.1f}" for r in rss) + " MB"


def attack_headers_only(srv, pb, args) -> str:
    """Calls opened with HEADERS and large metadata, never given a MESSAGE; then the connection closes."""
    rss = []
    metadata = [("x-pad", b"m" * 60_000)] * 16
    for _ in range(3):
        for _ in range(20):
            c = srv.connect(timeout=10)
            try:
                for i in range(100):
                    c.send(wire.Headers(2 * i + 1, INFO, 0, metadata))
                outcome = outcome_of(c, 0.5)
            except OSError:
                outcome = "closed while sending"
            c.close()
        time.sleep(1)
        rss.append(rss_mb(srv.proc.pid))
    return (f"100 HEADERS-only calls with 960 KB of metadata each, 20 connections a round; last outcome: {outcome}; "
            "RSS after each round: " + ", ".join(f"{r:.1f}" for r in rss) + " MB")


ATTACKS = {
    "ping-flood": attack_ping_flood,
    "unread-unary": attack_unread_unary,
    "plain-tcp-lockout": attack_plain_tcp_lockout,
    "idle-authenticated": attack_idle_authenticated,
    "rapid-reset": attack_rapid_reset,
    "huge-labels": attack_huge_labels,
    "huge-reason": attack_huge_reason,
    "catastrophic-regex": attack_catastrophic_regex,
    "deep-chain": attack_deep_chain,
    "connection-churn": attack_connection_churn,
    "headers-only": attack_headers_only,
}


# Server flags an attack needs besides --max-connections: a 50,000-long chain is about 3 MB of
# YAML, more than the default 1 MiB frame, so that attack raises the frame size to reach the
# import's own checks.
EXTRA_FLAGS = {"deep-chain": ("--max-frame-size", "8388608")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=str(REPO / ".build" / "release" / "gatehouse"))
    parser.add_argument("--only", default="", help="comma-separated attack names: " + ", ".join(ATTACKS))
    parser.add_argument("--max-connections", type=int, default=200)
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(ATTACKS)
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        parser.error(f"unknown attack {', '.join(unknown)}; known: {', '.join(ATTACKS)}")
    conftest._generate_pb2()
    from gatehouse.v1 import components_pb2, features_pb2, server_pb2

    class PB:
        components, features, server = components_pb2, features_pb2, server_pb2

    with tempfile.TemporaryDirectory(prefix="gatehouse-attacks-") as tmp:
        tmp = Path(tmp)
        for name in names:
            flags = ("--max-connections", str(args.max_connections), *EXTRA_FLAGS.get(name, ()))
            srv = conftest.start_server(Path(args.bin), tmp / name / "data", flags)
            try:
                imported = _import(srv, PB, (REPO / "Examples" / "kubernetes-catalog.yaml").read_text(), 30)
                assert imported.status == wire.OK, imported.message
                viewer_dir = tmp / name / "viewer"
                subprocess.run([args.bin, "certs", "client", "--ca-dir", str(srv.data_dir / "pki"), "--out-dir", str(viewer_dir),
                                "--name", "watcher", "--role", "viewer"], check=True, capture_output=True)
                args.viewer = {"ca": srv.ca, "cert": str(viewer_dir / "watcher.crt"), "key": str(viewer_dir / "watcher.key")}
                watch = Watch(srv.proc.pid)
                probes = Probes(srv, PB)
                try:
                    seen = ATTACKS[name](srv, PB, args)
                except Exception as e:  # noqa: BLE001 - an attack that breaks the harness is reported
                    import traceback
                    seen = f"attack failed: {type(e).__name__}: {e}\n{traceback.format_exc()}"
                time.sleep(1)
                figures = probes.stop()
                memory = watch.stop()
                alive = srv.proc.poll() is None
                print(f"\n## {name}\n- attacker saw: {seen}")
                print(f"- server: {'alive' if alive else f'EXITED {srv.proc.returncode}'}; RSS {memory['rss_before']:.0f} → peak "
                      f"{memory['rss_peak']:.0f} → {memory['rss_after']:.0f} MB; CPU {memory['cpu']:.1f} s")
                print(f"- admin connect+Info: n={len(figures['info'])} p50 {p(figures['info'], .5)} p99 {p(figures['info'], .99)} "
                      f"max {p(figures['info'], 1)} ms; toggle: n={len(figures['toggle'])} p50 {p(figures['toggle'], .5)} "
                      f"p99 {p(figures['toggle'], .99)} max {p(figures['toggle'], 1)} ms; failures {len(figures['failures'])}"
                      + (f" (first: {figures['failures'][0]})" if figures["failures"] else ""))
                sys.stdout.flush()
            finally:
                if srv.proc.poll() is None:
                    try:
                        srv.stop()
                    except AssertionError:
                        print("- the server did not exit within 15 s of SIGTERM: killed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
