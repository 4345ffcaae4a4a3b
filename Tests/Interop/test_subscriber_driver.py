"""The C subscriber benchmark driver (Benchmarks/SubscriberDriver) against a live server.

It is built with its build.sh and run at 5 and 20 subscribers for 3 rounds
each. The table alone would not show that the subscribers were real, so the
server is asked afterwards, with the Python client, what it saw: every
instance s0…s19 of bench-fanout subscribed with the driver's identity and was
pushed the last change, and the feature's history holds exactly the driver's
Set calls. It must also refuse a server whose certificate does not verify,
and a file-descriptor limit too low for its counts, saying so.
"""

from __future__ import annotations

import re
import resource
import subprocess
import time
from pathlib import Path

import gatehouse_wire as wire
import c_drivers
from c_drivers import driver_fixture, other_ca_cert, table_rows, write_config  # noqa: F401 (fixtures)

HEADER = ("subscribers  connect s  RSS KiB/subscriber  p50/p99/max ms from ack  p99 ms from send  "
          "server CPU ms/change  driver CPU µs/message")
NUM = r"(-?\d+\.\d)"
ROW = re.compile(rf"^(\d+)\s+{NUM}\s+{NUM}\s+{NUM} /\s+{NUM} /\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}$")
LIST = "/gatehouse.v1.Components/List"
HISTORY = "/gatehouse.v1.Features/History"
GET = "/gatehouse.v1.Features/Get"


driver = driver_fixture("SubscriberDriver")


def run_driver(driver: Path, config: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return c_drivers.run_driver(driver, config, *args, timeout=180, **kw)


def unary(server, path: str, request, response_type):
    with server.connect() as c:
        result = c.unary(path, request.SerializeToString(), timeout_ms=10000)
    assert result.status == wire.OK, f"{path}: {result.status} {result.message}"
    return response_type.FromString(result.response())


def test_driver_measures_and_its_subscribers_are_real(driver, fresh_server, pb):
    run = run_driver(driver, fresh_server.admin_conf_path, "--counts", "5,20", "--rounds", "3",
                     "--server-pid", str(fresh_server.proc.pid))
    rows = table_rows(run, fresh_server, HEADER, ROW, [5, 20])
    assert "from the Set's ack" in run.stdout, "the table says which origin its latency has"
    for r in rows:
        p50, p99, worst, p99_send = (float(r.group(i)) for i in (4, 5, 6, 7))
        assert 0 <= p50 <= p99 <= worst, f"percentiles out of order:\n{run.stdout}"
        assert p99_send > 0, f"no time from the Set's send:\n{run.stdout}"
        assert float(r.group(8)) >= 0 and float(r.group(9)) > 0, run.stdout

    # What the server saw. Subscribing (the driver registers no other way, as
    # the Swift tool) recorded each instance: s0…s19 (the 5 and then the 20
    # connections reuse the ids), version 1.0.0, the admin's identity, and
    # each was pushed the last Set's revision. No acks, as the Swift tool.
    history = unary(fresh_server, HISTORY, pb.features.HistoryRequest(feature="BenchFanout"),
                    pb.features.HistoryResponse)
    sets = [e for e in history.entries if e.method == "/gatehouse.v1.Features/Set"]
    assert [e.reason for e in sets] == ["fan-out benchmark"] * 6, history
    assert all("bench-fanout" in " ".join(e.changes) for e in sets), history
    last = sets[-1].revision

    deadline = time.monotonic() + 10
    while True:  # the server sees the connections close a moment after the driver exits
        listed = unary(fresh_server, LIST, pb.components.ListComponentsRequest(component="bench-fanout"),
                       pb.components.ListComponentsResponse)
        if not any(i.connected for i in listed.instances) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    instances = {i.instance_id: i for i in listed.instances}
    assert set(instances) == {f"s{n}" for n in range(20)}, sorted(instances)
    for i in instances.values():
        assert i.version == "1.0.0", i
        assert i.identity, i
        assert i.pushed_revision == last, f"{i.instance_id} was pushed r{i.pushed_revision}, the last Set is r{last}"
        assert i.applied_revision == 0, i
        assert not i.connected, f"{i.instance_id} still connected after the driver exited"

    # The state the rounds left: flipped six times from off, so off, at component scope.
    feature = unary(fresh_server, GET, pb.features.GetFeatureRequest(name="BenchFanout"),
                    pb.features.GetFeatureResponse)
    assert feature.feature.stage == pb.features.STAGE_ALPHA and not feature.feature.default_enabled
    assert feature.feature.description == "load generator feature"
    overrides = [o for o in feature.overrides if o.scope.WhichOneof("scope") == "component"]
    assert [o.scope.component.component for o in overrides] == ["bench-fanout"], feature
    assert overrides[0].WhichOneof("enabled_present") == "enabled" and not overrides[0].enabled
    assert overrides[0].revision == last
    fresh_server.assert_alive()


def test_driver_refuses_a_server_certificate_that_does_not_verify(driver, server, other_ca_cert, tmp_path):
    config = write_config(tmp_path / "wrong-ca.conf", server.admin_conf, ca=str(other_ca_cert))
    run = run_driver(driver, config, "--counts", "2", "--rounds", "1")
    assert run.returncode == 1, f"the driver accepted a server it cannot verify:\n{run.stdout}\n{run.stderr}"
    assert "certificate verification failed" in run.stderr, run.stderr
    assert HEADER not in run.stdout, "it measured nothing, so it prints no table"
    server.assert_alive()


def test_driver_refuses_a_file_descriptor_limit_too_low(driver, server):
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    run = run_driver(driver, server.admin_conf_path, "--counts", "1000", "--rounds", "1", preexec_fn=low_limit)
    assert run.returncode == 1, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert "file descriptors" in run.stderr and "ulimit -n" in run.stderr, run.stderr
    assert HEADER not in run.stdout
