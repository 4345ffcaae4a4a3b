"""Rollouts and health reports on the wire, from a client we did not write.

Python subscribers (this repo's PROTOCOL.md client and Python's protobuf)
are the canaries of a rollout started with a raw Rollouts/Start: they ack
what they are pushed, one reports unhealthy on its Subscribe stream, and
the server rolls the rollout back on its own and pushes every canary its
old state. Refusals arrive with their ErrorDetails.reason.
"""

from __future__ import annotations

import time

import pytest

import gatehouse_wire as wire
from conftest import REPO, start_server
from test_gatectl import Gatectl
from test_subscriptions import SUBSCRIBE, ack, connect_as, decode, start_request
from test_gatectl import issue_client_config

import yaml

CATALOG = REPO / "Examples" / "kubernetes-catalog.yaml"
FEATURE = "InPlacePodVerticalScaling"


@pytest.fixture
def rollouts_pb(pb):
    from gatehouse.v1 import rollouts_pb2
    return rollouts_pb2


@pytest.fixture
def rollout_server(gatehouse_bin, gatectl_bin, tmp_path):
    srv = start_server(gatehouse_bin, tmp_path / "data", ("--heartbeat-interval", "0.2", "--rollout-tick", "0.05"))
    admin = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    admin.ok("catalog", "import", str(CATALOG))
    conf = issue_client_config(gatehouse_bin, srv, tmp_path / "kubelet", "kubelet", "component")
    yield srv, yaml.safe_load(conf.read_text())
    assert srv.stop() == 0, srv.logs()


def health(pb, healthy: bool, message: str, entries: list[str]) -> bytes:
    request = pb.components.SubscribeRequest()
    request.health.healthy = healthy
    request.health.message = message
    request.health.entries.extend(entries)
    request.health.checked_at_unix_ms = int(time.time() * 1000)
    return request.SerializeToString()


def next_push(pb, call):
    """The next snapshot or delta, past heartbeats."""
    while True:
        message = decode(pb, call.next_message())
        if message.WhichOneof("message") != "heartbeat":
            return message


def get(client, rollouts_pb, name: str):
    response = rollouts_pb.GetRolloutResponse()
    request = rollouts_pb.GetRolloutRequest(name=name)
    response.ParseFromString(client.unary("/gatehouse.v1.Rollouts/Get", request.SerializeToString()).response())
    return response


def refusal_reason(pb, result) -> str:
    details = pb.errors.ErrorDetails()
    details.ParseFromString(result.details)
    return details.reason


def test_an_unhealthy_python_canary_rolls_the_rollout_back_for_every_canary(rollout_server, pb, rollouts_pb):
    srv, credentials = rollout_server
    with connect_as(srv, credentials) as kubelet, srv.connect() as admin:
        calls = {}
        for index in range(3):
            call = kubelet.server_stream(SUBSCRIBE, start_request(pb, "kubelet", f"node-{index}"), end_stream=False)
            first = next_push(pb, call)
            assert first.WhichOneof("message") == "snapshot"
            call.send(ack(pb, first.snapshot.revision))
            calls[f"node-{index}"] = call

        spec = rollouts_pb.RolloutSpec(name="r-py", enabled=True, component="kubelet")
        spec.target.feature = FEATURE
        spec.steps.add(percent=100, bake_ms=60_000, max_unhealthy=0)
        start = rollouts_pb.StartRolloutRequest(reason="canary from python")
        start.spec.CopyFrom(spec)
        started = rollouts_pb.StartRolloutResponse()
        started.ParseFromString(admin.unary("/gatehouse.v1.Rollouts/Start", start.SerializeToString()).response())
        assert started.rollout.phase == rollouts_pb.ROLLOUT_PHASE_RUNNING
        assert started.rollout.step_revision == started.revision

        # Every canary is pushed the feature on at the start's revision, and acks it.
        for call in calls.values():
            delta = next_push(pb, call)
            assert delta.delta.revision == started.revision
            assert [(f.name, f.enabled) for f in delta.delta.features] == [(FEATURE, True)]
            call.send(ack(pb, delta.delta.revision))

        # The same spec again is refused with its reason.
        again = admin.unary("/gatehouse.v1.Rollouts/Start", start.SerializeToString())
        assert again.status_name == "ALREADY_EXISTS" and refusal_reason(pb, again) == "ROLLOUT_EXISTS"

        deadline = time.monotonic() + 10
        while (status := get(admin, rollouts_pb, "r-py")).acked < 3:
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        assert status.canaries == 3 and status.unhealthy == 0
        assert all(c.healthy and c.connected for c in status.canary_status)

        calls["node-1"].send(health(pb, False, "resize loop\nstuck", [FEATURE]))
        deadline = time.monotonic() + 10
        while (status := get(admin, rollouts_pb, "r-py")).rollout.phase == rollouts_pb.ROLLOUT_PHASE_RUNNING:
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        assert status.rollout.phase == rollouts_pb.ROLLOUT_PHASE_ROLLED_BACK
        assert status.rollout.message == "1 of 3 canaries unhealthy: node-1 reported unhealthy: resize loop\\nstuck"

        # Every canary is pushed its old state back.
        for call in calls.values():
            delta = next_push(pb, call)
            assert delta.delta.revision == status.rollout.revision
            assert [(f.name, f.enabled) for f in delta.delta.features] == [(FEATURE, False)]

        # A finished rollout can no longer be steered.
        action = rollouts_pb.RolloutActionRequest(name="r-py", reason="too late")
        late = admin.unary("/gatehouse.v1.Rollouts/Resume", action.SerializeToString())
        assert late.status_name == "FAILED_PRECONDITION" and refusal_reason(pb, late) == "ROLLOUT_STATE"
        for call in calls.values():
            call.cancel()
