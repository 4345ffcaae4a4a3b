"""Subscriptions against a live `gatehouse serve`, from clients we did not write.

A Python subscriber (this repo's PROTOCOL.md client and Python's protobuf)
registers, subscribes, acks and NACKs; gatectl shows it in `components` and
`status` and streams the same pushes with `watch`. A subscriber that stops
reading is coalesced, then cut off with RESOURCE_EXHAUSTED, while server
memory stays bounded and a watcher keeps receiving every change.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

import gatehouse_wire as wire
from conftest import REPO, start_server
from test_gatectl import Gatectl, issue_client_config, row_for

CATALOG = REPO / "Examples" / "kubernetes-catalog.yaml"
SUBSCRIBE = "/gatehouse.v1.Components/Subscribe"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def start_request(pb, component: str, instance: str, *, since: int | None = None, watch_only: bool = False) -> bytes:
    request = pb.components.SubscribeRequest()
    request.start.component = component
    request.start.instance_id = instance
    request.start.version = "1.40.0"
    request.start.watch_only = watch_only
    if since is not None:
        request.start.since_revision = since
    return request.SerializeToString()


def ack(pb, revision: int, error: tuple[str, str] | None = None) -> bytes:
    request = pb.components.SubscribeRequest()
    request.ack.revision = revision
    if error:
        request.ack.error.reason, request.ack.error.message = error
    return request.SerializeToString()


def decode(pb, payload: bytes):
    message = pb.components.SubscribeResponse()
    message.ParseFromString(payload)
    return message


@pytest.fixture
def kubelet_server(gatehouse_bin, gatectl_bin, tmp_path):
    srv = start_server(gatehouse_bin, tmp_path / "data",
                       ("--subscriber-queue", "4", "--subscriber-cutoff", "32", "--heartbeat-interval", "0.2"))
    admin = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    admin.ok("catalog", "import", str(CATALOG))
    conf = issue_client_config(gatehouse_bin, srv, tmp_path / "kubelet", "kubelet", "component")
    credentials = yaml.safe_load(conf.read_text())
    yield srv, admin, credentials
    assert srv.stop() == 0, srv.logs()


def connect_as(srv, credentials, **kw) -> wire.Client:
    return wire.Client(srv.host, srv.port, ca=credentials["ca"], cert=credentials["certificate"],
                       key=credentials["key"], **kw)


def test_python_subscriber_acks_and_nacks_and_gatectl_shows_them(kubelet_server, pb, gatectl_bin):
    srv, admin, credentials = kubelet_server
    with connect_as(srv, credentials) as kubelet:
        call = kubelet.server_stream(SUBSCRIBE, start_request(pb, "kubelet", "node-1"), end_stream=False)
        first = decode(pb, call.next_message())
        assert first.WhichOneof("message") == "snapshot"
        names = [f.name for f in first.snapshot.features]
        assert names == sorted(names) and "SidecarContainers" in names
        call.send(ack(pb, first.snapshot.revision))

        watch = subprocess.Popen([str(gatectl_bin), "watch", "kubelet", "--instance", "node-1",
                                  "--config", str(srv.admin_conf_path)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert watch.stdout.readline().startswith(f"r{first.snapshot.revision} snapshot: ")

            out = admin.ok("enable", "InPlacePodVerticalScaling", "--component", "kubelet", "--reason", "canary")
            revision = int(json.loads(admin.ok("features", "list", "-o", "json"))["revision"])
            delta = decode(pb, call.next_message())
            while delta.WhichOneof("message") == "heartbeat":
                delta = decode(pb, call.next_message())
            assert delta.WhichOneof("message") == "delta" and delta.delta.revision == revision
            assert [(f.name, f.enabled) for f in delta.delta.features] == [("InPlacePodVerticalScaling", True)]

            line = watch.stdout.readline()
            while "heartbeat" in line or line.startswith("  ") and "r" not in line[:2]:
                line = watch.stdout.readline()
            assert line.strip() == f"r{revision} delta"
            assert watch.stdout.readline().strip().startswith("InPlacePodVerticalScaling=true")
        finally:
            watch.terminate()
            watch.wait(5)

        call.send(ack(pb, revision, ("UNSUPPORTED", "cannot resize pods on this node")))
        deadline = time.monotonic() + 5
        while True:
            listed = json.loads(admin.ok("components", "kubelet", "-o", "json"))
            instance = listed["instances"][0]
            if instance.get("nacks") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert instance["instanceId"] == "node-1" and instance["connected"] is True
        assert instance["nacks"][0]["revision"] == revision
        assert instance["nacks"][0]["error"]["reason"] == "UNSUPPORTED"
        table = admin.ok("components")
        assert "r%d UNSUPPORTED: cannot resize pods on this node" % revision in row_for(table, "kubelet")[6]

        status = row_for(admin.ok("status", "InPlacePodVerticalScaling"), "kubelet")
        assert status[1] == "1/1" and status[2] == f"0/1 applied r{revision}" and status[3] == "1" and status[5] == "node-1"

        call.send(ack(pb, revision))
        deadline = time.monotonic() + 5
        while row_for(admin.ok("status", "InPlacePodVerticalScaling"), "kubelet")[2] != f"1/1 applied r{revision}":
            assert time.monotonic() < deadline, admin.ok("status", "InPlacePodVerticalScaling")
            time.sleep(0.05)
        call.cancel()

    # Once the subscription is gone the instance shows as disconnected.
    deadline = time.monotonic() + 5
    while row_for(admin.ok("components"), "kubelet")[3] == "yes":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    admin.fails(66, "status", "NoSuchFeature")


PAYLOAD_FEATURE = """
features:
  - name: PayloadForTests
    stage: alpha
    default_enabled: true
    components: [kubelet]
    description: "A string parameter big enough to fill socket buffers."
    parameters:
      - name: blob
        type: string
        default: ""
"""


def payload_request(pb, index: int) -> bytes:
    """Sets PayloadForTests' 64 KiB parameter to a new value: a 64 KiB delta for every kubelet."""
    request = pb.features.SetRequest()
    request.reason = "subscription test"
    change = request.changes.add()
    change.feature = "PayloadForTests"
    change.scope.component.component = "kubelet"
    change.params["blob"].string_value = (f"{index:08d}" * 8192)
    return request.SerializeToString()


def test_a_subscriber_that_stops_reading_is_bounded_and_cut_off(kubelet_server, pb, tmp_path, monkeypatch):
    srv, admin, credentials = kubelet_server
    (tmp_path / "payload.yaml").write_text(PAYLOAD_FEATURE)
    admin.ok("catalog", "import", str(tmp_path / "payload.yaml"))

    # A subscriber with a tiny receive window that reads its snapshot, then nothing.
    def small_window(address, timeout=None, *args, **kw):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(timeout)
        sock.connect(address)
        return sock

    monkeypatch.setattr(wire.socket, "create_connection", small_window)
    slow = connect_as(srv, credentials)
    monkeypatch.undo()
    slow_call = slow.server_stream(SUBSCRIBE, start_request(pb, "kubelet", "slow-1"), end_stream=False)
    assert decode(pb, slow_call.next_message()).WhichOneof("message") == "snapshot"

    # Another subscriber that reads everything, in a thread.
    reader = connect_as(srv, credentials)
    reader_call = reader.server_stream(SUBSCRIBE, start_request(pb, "kubelet", "fast-1"), end_stream=False)
    seen: list[int] = []

    def read_all():
        try:
            for payload in reader_call:
                message = decode(pb, payload)
                if message.WhichOneof("message") == "delta":
                    seen.append(message.delta.revision)
                    reader_call.send(ack(pb, message.delta.revision))
        except Exception:  # noqa: BLE001 - the connection closes at the end of the test
            pass

    reading = threading.Thread(target=read_all, daemon=True)
    reading.start()

    # 160 changes of 64 KiB each: 10 MiB for every kubelet, more than socket buffers hold.
    before = rss_kib(srv.proc.pid)
    writer = srv.connect()
    last = 0
    for i in range(160):
        result = writer.unary("/gatehouse.v1.Features/Set", payload_request(pb, i), wait=10)
        assert result.ok, result.message
        response = pb.features.SetResponse()
        response.ParseFromString(result.response())
        last = response.revision
    deadline = time.monotonic() + 30
    while (not seen or seen[-1] < last) and time.monotonic() < deadline:
        time.sleep(0.05)
    after = rss_kib(srv.proc.pid)

    assert seen and seen[-1] == last, f"the reading subscriber stopped at {seen[-1:]} of r{last}"
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert after - before < 40 * 1024, f"server RSS grew by {after - before} KiB with a subscriber that does not read"

    # Now the slow subscriber reads: whatever was in flight, then RESOURCE_EXHAUSTED.
    kinds = []
    deadline = time.monotonic() + 30
    while (payload := slow_call.next_message(wait=5)) is not None:
        kinds.append(decode(pb, payload).WhichOneof("message"))
        assert time.monotonic() < deadline, f"no TRAILERS after {len(kinds)} messages: {kinds[:3]}...{kinds[-3:]}"
    result = slow_call.result(wait=1)
    assert result.status_name == "RESOURCE_EXHAUSTED", (result.status_name, result.message)
    assert "since_revision" in result.message
    assert kinds.count("delta") < 100, f"the slow subscriber was sent {kinds.count('delta')} of 160 deltas"
    slow.close()

    # It resumes from where it was: the missed deltas, then a heartbeat at the current revision.
    with connect_as(srv, credentials, timeout=20) as again:
        resumed = again.server_stream(SUBSCRIBE, start_request(pb, "kubelet", "slow-1", since=last - 5), end_stream=False)
        revisions = []
        while True:
            message = decode(pb, resumed.next_message())
            kind = message.WhichOneof("message")
            if kind == "heartbeat":
                assert message.heartbeat.revision == last
                break
            assert kind == "delta"
            revisions.append(message.delta.revision)
        assert revisions == list(range(last - 4, last + 1))
        resumed.cancel()
    # End the reading thread before closing its connection: OpenSSL aborts the
    # process when one thread closes an SSL socket that another is reading.
    # Shutting the TCP socket down (not the SSL layer) makes that read fail.
    socket.socket.shutdown(reader.sock, socket.SHUT_RDWR)
    reading.join(timeout=10)
    assert not reading.is_alive()
    reader.close()
    writer.close()
    srv.assert_alive()


class Lines:
    """A process's stdout lines, read in a thread so the pipe never fills."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            time.sleep(0.05)
        raise AssertionError(f"no line {what} within {timeout}s; got:\n" + "\n".join(self.lines[-30:]))


def test_example_component_keeps_its_state_when_the_server_is_killed_and_converges_after(gatehouse_bin, gatectl_bin, tmp_path):
    example = gatehouse_bin.parent / "example-component"
    if not example.exists():
        pytest.skip(f"{example} is not built")
    srv = start_server(gatehouse_bin, tmp_path / "data")
    admin = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    admin.ok("catalog", "import", str(CATALOG))
    admin.ok("enable", "InPlacePodVerticalScaling", "--component", "kubelet", "--reason", "before the kill")
    state_file = tmp_path / "node-1.json"
    component = subprocess.Popen(
        [str(example), "--config", str(srv.admin_conf_path), "--component", "kubelet", "--instance", "node-1",
         "--version", "1.32.0", "--state-file", str(state_file), "--offline-ttl", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = Lines(component)
    try:
        out.wait_for(lambda l: l.startswith("booted live at r"), "'booted live'")
        out.wait_for(lambda l: l.strip() == "InPlacePodVerticalScaling=true", "with the feature on")
        assert state_file.exists(), "the last-known-good file is written after the state is applied"

        # SIGKILL: no GOAWAY, no trailers. The component keeps its state, then fails alpha closed after the TTL.
        srv.proc.kill()
        srv.proc.wait()
        line = out.wait_for(lambda l: "offline policy: failing closed" in l, "about failing closed")
        out.wait_for(lambda l: l.strip().startswith("feature InPlacePodVerticalScaling: true -> false"),
                     "turning the alpha feature off")
        assert component.poll() is None, "the component keeps running without a server"

        # The server comes back on the same port with a change made meanwhile: the component converges.
        host, port = srv.host, srv.port
        again = start_server(gatehouse_bin, tmp_path / "data", ("--listen", f"{host}:{port}"))
        try:
            assert again.port == port
            admin.ok("enable", "PodLevelResources", "--component", "kubelet", "--reason", "after the restart")
            out.wait_for(lambda l: l.strip().startswith("feature PodLevelResources: false -> true"),
                         "the change made after the restart", timeout=40)
            out.wait_for(lambda l: l.strip().startswith("feature InPlacePodVerticalScaling: false -> true"),
                         "the alpha feature back on", timeout=40)
            listed = json.loads(admin.ok("components", "kubelet", "-o", "json"))
            assert listed["instances"][0]["connected"] is True
        finally:
            assert again.stop() == 0, again.logs()
    finally:
        component.terminate()
        component.wait(10)
