"""Per-request bounds (issue 13, item 4) against a live `gatehouse serve`, from a client we did not write.

The attacks as reported: a component certificate registering instances with
896 KB of labels grew the server by 900 MB, and an operator's 1 MB reason made
audit entries no History call could return. Each is now refused whole with
INVALID_ARGUMENT or RESOURCE_EXHAUSTED and an `ErrorDetails.reason`, server
memory stays flat, and the flags of `gatehouse serve` set the bounds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import gatehouse_wire as wire
from conftest import start_server
from test_gatectl import issue_client_config

REGISTER = "/gatehouse.v1.Components/Register"
SET = "/gatehouse.v1.Features/Set"
HISTORY = "/gatehouse.v1.Features/History"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def reason_of(pb, result: wire.CallResult) -> str:
    details = pb.errors.ErrorDetails()
    details.ParseFromString(result.details)
    return details.reason


@pytest.fixture
def limited(gatehouse_bin, tmp_path):
    srv = start_server(gatehouse_bin, tmp_path / "data",
                       ("--max-instances-per-component", "20", "--max-reason-length", "256"))
    conf = issue_client_config(gatehouse_bin, srv, tmp_path / "kubelet", "kubelet", "component")
    credentials = yaml.safe_load(conf.read_text())
    kubelet = wire.Client(srv.host, srv.port, ca=credentials["ca"], cert=credentials["certificate"], key=credentials["key"])
    admin = srv.connect()
    yield srv, kubelet, admin
    kubelet.close()
    admin.close()
    assert srv.stop() == 0, srv.logs()


def registration(pb, instance: str, *, version: str = "1.31.0", labels: dict[str, str] | None = None) -> bytes:
    request = pb.components.RegisterRequest(component="kubelet", instance_id=instance, version=version)
    for key, value in (labels or {}).items():
        request.labels[key] = value
    return request.SerializeToString()


def test_registrations_are_bounded_and_memory_stays_flat(limited, pb):
    srv, kubelet, _ = limited
    # The reported attack: 896 KB of labels per instance. Each is refused, nothing is kept.
    before = rss_kib(srv.proc.pid)
    huge = {f"k{i}": "v" * 255 for i in range(31)} | {"zone": "z" * (896 * 1024)}
    for index in range(30):
        r = kubelet.unary(REGISTER, registration(pb, f"attacker-{index}", labels=huge), timeout_ms=10_000)
        assert (r.status, reason_of(pb, r)) == (wire.INVALID_ARGUMENT, "TOO_LONG"), r.message
    grown_mib = (rss_kib(srv.proc.pid) - before) / 1024
    print(f"RSS grew {grown_mib:.1f} MiB over 30 refused 896 KB registrations")
    assert grown_mib < 12, f"RSS grew {grown_mib:.0f} MiB for 30 refused registrations (kept, they would be 27 MiB)"

    empty = kubelet.unary(REGISTER, registration(pb, "node-0", version=""), timeout_ms=10_000)
    assert (empty.status, reason_of(pb, empty)) == (wire.INVALID_ARGUMENT, "MISSING_VERSION"), empty.message

    # --max-instances-per-component 20: the 21st instance is refused, the 20 known ones still register.
    largest = {f"k{i:02d}" + "k" * 59: "v" * 255 for i in range(32)}
    for index in range(20):
        r = kubelet.unary(REGISTER, registration(pb, f"node-{index}", labels=largest), timeout_ms=10_000)
        assert r.ok, r.message
    full = kubelet.unary(REGISTER, registration(pb, "node-20"), timeout_ms=10_000)
    assert (full.status, reason_of(pb, full)) == (wire.RESOURCE_EXHAUSTED, "TOO_MANY_INSTANCES"), full.message
    assert kubelet.unary(REGISTER, registration(pb, "node-7", version="1.31.1"), timeout_ms=10_000).ok
    srv.assert_alive()


def test_a_reason_past_the_flag_is_refused_and_nothing_is_recorded(limited, pb):
    _, _, admin = limited
    define = pb.features.DefineFeatureRequest(reason="test")
    define.feature.name = "Foo"
    define.feature.stage = pb.features.STAGE_BETA
    assert admin.unary("/gatehouse.v1.Features/Define", define.SerializeToString(), timeout_ms=10_000).ok

    def toggle(reason: str) -> wire.CallResult:
        request = pb.features.SetRequest(reason=reason)
        change = request.changes.add()
        change.feature = "Foo"
        change.enabled = True
        getattr(change.scope, "global").SetInParent()  # `global` is a Python keyword
        return admin.unary(SET, request.SerializeToString(), timeout_ms=10_000)

    for reason in ("r" * 257, "r" * 1_000_000):
        r = toggle(reason)
        assert (r.status, reason_of(pb, r)) == (wire.INVALID_ARGUMENT, "REASON_TOO_LONG"), r.message
    assert toggle("r" * 256).ok
    history = pb.features.HistoryResponse()
    history.ParseFromString(admin.unary(HISTORY, pb.features.HistoryRequest().SerializeToString(), timeout_ms=10_000).response())
    assert [entry.reason for entry in history.entries] == ["test", "r" * 256]
