"""`gatectl enable|disable --api G/V --component C --two-phase` end to end.

Two-phase API activation (PROTOCOL.md 3.8) through the real binaries: with no
replica connected the change commits at once; a replica that cannot prepare
(the example component sets no prepare handler) aborts it, is named with what
it said, and nothing is committed; the flags that make no sense together are
usage errors.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from test_gatectl import CATALOG, EX_DATAERR, EX_USAGE, Gatectl, current_revision
from conftest import start_server


@pytest.fixture
def fresh(gatehouse_bin, gatectl_bin, tmp_path):
    srv = start_server(gatehouse_bin, tmp_path / "data")
    gatectl = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    gatectl.ok("catalog", "import", str(CATALOG), "--reason", "bootstrap")
    yield srv, gatectl
    if srv.proc.poll() is None:
        srv.proc.kill()
        srv.proc.wait()


def test_two_phase_commits_at_once_without_replicas_and_aborts_on_one_that_cannot_prepare(fresh, gatehouse_bin, tmp_path):
    srv, gatectl = fresh
    out = gatectl.ok("enable", "--api", "batch/v1beta1", "--component", "kube-apiserver", "--two-phase",
                     "--timeout", "30s", "--reason", "serve CronJobs v1beta1")
    assert "batch/v1beta1 enabled on kube-apiserver at revision 2" in out, out
    assert "no replica was connected" in out, out

    example = gatehouse_bin.parent / "example-component"
    if not example.exists():
        pytest.skip(f"{example} is not built")
    replica = subprocess.Popen(
        [str(example), "--config", str(srv.admin_conf_path), "--component", "kube-apiserver",
         "--instance", "apiserver-1", "--version", "1.31.0", "--state-file", str(tmp_path / "a1.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            listed = json.loads(gatectl.ok("components", "kube-apiserver", "-o", "json"))
            if any(i.get("connected") for i in listed.get("instances", [])):
                break
            assert time.monotonic() < deadline, "the example replica did not connect"
            time.sleep(0.1)
        before = current_revision(gatectl)
        err = gatectl.fails(EX_DATAERR, "disable", "--api", "batch/v1beta1", "--component", "kube-apiserver",
                            "--two-phase", "--timeout", "5s", "--reason", "retire v1beta1")
        assert "ABORTED" in err and "apiserver-1: no prepare handler" in err and "nothing was changed" in err, err
        assert current_revision(gatectl) == before, "nothing was committed"
    finally:
        replica.terminate()
        replica.wait(10)


def test_two_phase_usage_errors(fresh):
    _, gatectl = fresh
    assert "--two-phase" in gatectl.fails(EX_USAGE, "enable", "--api", "batch/v1beta1", "--component", "kube-apiserver",
                                          "--reason", "x")
    assert "--component" in gatectl.fails(EX_USAGE, "enable", "--api", "batch/v1beta1", "--global", "--two-phase",
                                          "--reason", "x")
    assert "for APIs" in gatectl.fails(EX_USAGE, "enable", "PodLevelResources", "--component", "kubelet",
                                       "--two-phase", "--reason", "x")
    assert "10m" in gatectl.fails(EX_USAGE, "enable", "--api", "batch/v1beta1", "--component", "kube-apiserver",
                                  "--two-phase", "--timeout", "11m", "--reason", "x")


# --------------------------------------------------------------------------
# The wire, from Python: replicas written from PROTOCOL.md 3.8 alone
# --------------------------------------------------------------------------

SUBSCRIBE = "/gatehouse.v1.Components/Subscribe"


def _subscribe(client, pb, instance: str):
    request = pb.components.SubscribeRequest()
    request.start.component = "kube-apiserver"
    request.start.instance_id = instance
    request.start.version = "1.31.0"
    call = client.server_stream(SUBSCRIBE, request.SerializeToString(), end_stream=False)
    first = _next(pb, call)
    assert first.WhichOneof("message") == "snapshot"
    return call


def _next(pb, call, skip_heartbeats: bool = True):
    while True:
        message = pb.components.SubscribeResponse()
        message.ParseFromString(call.next_message())
        if not (skip_heartbeats and message.WhichOneof("message") == "heartbeat"):
            return message


def _prepare_ack(pb, prepare_id: str, ready: bool, message: str = "") -> bytes:
    request = pb.components.SubscribeRequest()
    request.prepare_ack.id = prepare_id
    request.prepare_ack.ready = ready
    if not ready:
        request.prepare_ack.error.reason = "NOT_READY"
        request.prepare_ack.error.message = message
    return request.SerializeToString()


@pytest.mark.parametrize("refuse", [False, True], ids=["all-ready", "one-refuses"])
def test_python_replicas_prepare_then_get_one_revision_or_a_cancel(fresh, pb, gatehouse_bin, gatectl_bin, tmp_path, refuse):
    import gatehouse_wire as wire
    import yaml
    from test_gatectl import issue_client_config

    srv, gatectl = fresh
    conf = issue_client_config(gatehouse_bin, srv, tmp_path / "apiserver", "kube-apiserver", "component")
    credentials = yaml.safe_load(conf.read_text())
    clients = [wire.Client(srv.host, srv.port, ca=credentials["ca"], cert=credentials["certificate"], key=credentials["key"])
               for _ in range(2)]
    try:
        calls = [_subscribe(client, pb, f"apiserver-{n}") for n, client in enumerate(clients, 1)]
        before = current_revision(gatectl)
        activation = subprocess.Popen(
            [str(gatectl_bin), "enable", "--api", "batch/v1beta1", "--component", "kube-apiserver", "--two-phase",
             "--timeout", "20s", "--reason", "serve v1beta1", "--config", str(srv.admin_conf_path), "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ids = set()
        for n, call in enumerate(calls, 1):
            message = _next(pb, call)
            assert message.WhichOneof("message") == "prepare", message
            prepare = message.prepare
            assert [(a.api.group, a.api.version, a.enabled) for a in prepare.apis] == [("batch", "v1beta1", True)]
            assert prepare.deadline_unix_ms > time.time() * 1000
            ids.add(prepare.id)
            call.send(_prepare_ack(pb, prepare.id, ready=not (refuse and n == 2), message="storage not migrated"))
        assert len(ids) == 1, "one activation, one id"
        out, err = activation.communicate(timeout=30)
        if refuse:
            assert activation.returncode == EX_DATAERR, (out, err)
            assert "apiserver-2: storage not migrated" in err, err
            for call in calls:
                cancel = _next(pb, call)
                assert cancel.WhichOneof("message") == "prepare_cancel" and cancel.prepare_cancel.id in ids
            assert current_revision(gatectl) == before
        else:
            assert activation.returncode == 0, (out, err)
            response = json.loads(out)
            assert response["prepared"] == ["apiserver-1", "apiserver-2"]
            revision = int(response["revision"])
            assert revision == before + 1
            for call in calls:
                delta = _next(pb, call)
                assert delta.WhichOneof("message") == "delta" and delta.delta.revision == revision, delta
                assert [(a.api.version, a.enabled) for a in delta.delta.apis] == [("v1beta1", True)]
        for call in calls:
            call.cancel()
    finally:
        for client in clients:
            client.close()
