"""The C toggle benchmark driver (Benchmarks/ToggleDriver) against a live server.

It is built with its build.sh, run for a second at 1 and 4 writers, and its
writes are then read back with the Python client: the table alone would not
show that the toggles really landed. It must also refuse a server whose
certificate does not verify, saying so.
"""

from __future__ import annotations

import re

import pytest

import gatehouse_wire as wire
from c_drivers import driver_fixture, other_ca_cert, run_driver, table_rows, write_config  # noqa: F401 (fixtures)

HEADER = "writers  toggles/s   p50 ms   p99 ms   server CPU µs/toggle   driver CPU µs/toggle"
ROW = re.compile(r"^(\d+)\s+(\d+)\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+(\d+|-)\s+(\d+)$")
GET = "/gatehouse.v1.Features/Get"


driver = driver_fixture("ToggleDriver")


def test_driver_measures_and_its_writes_land(driver, fresh_server, pb):
    run = run_driver(driver, fresh_server.admin_conf_path, "--writers", "1,4", "--seconds", "1",
                     "--server-pid", str(fresh_server.proc.pid))
    rows = table_rows(run, fresh_server, HEADER, ROW, [1, 4])
    for r in rows:
        assert int(r.group(2)) > 0, f"no toggles measured:\n{run.stdout}"
        assert float(r.group(3)) <= float(r.group(4)), f"p50 above p99:\n{run.stdout}"
        assert r.group(5) != "-", f"--server-pid given but no server CPU reported:\n{run.stdout}"

    # The writes are there: BenchToggle as the Swift tool defines it, with an
    # instance override for each writer, set by the driver's Set calls.
    with fresh_server.connect() as c:
        result = c.unary(GET, pb.features.GetFeatureRequest(name="BenchToggle").SerializeToString(),
                         timeout_ms=10000)
        assert result.status == wire.OK, result.message
        response = pb.features.GetFeatureResponse.FromString(result.response())
    assert response.feature.stage == pb.features.STAGE_ALPHA
    assert not response.feature.default_enabled
    assert response.feature.description == "load generator feature"
    overrides = {o.scope.instance.instance_id: o for o in response.overrides
                 if o.scope.WhichOneof("scope") == "instance" and o.scope.instance.component == "bench"}
    assert set(overrides) == {"w0", "w1", "w2", "w3"}, sorted(overrides)
    w0 = overrides["w0"]
    assert w0.WhichOneof("enabled_present") == "enabled"
    assert w0.reason == "benchmark"
    assert w0.revision > 0
    fresh_server.assert_alive()


@pytest.mark.parametrize("trust", ["another CA", "the server's own certificate"])
def test_driver_refuses_a_server_certificate_that_does_not_verify(driver, server, other_ca_cert, tmp_path, trust):
    ca = other_ca_cert if trust == "another CA" else server.data_dir / "pki" / "server.crt"
    assert ca.exists(), ca
    config = write_config(tmp_path / "wrong-ca.conf", server.admin_conf, ca=str(ca))
    run = run_driver(driver, config, "--writers", "1", "--seconds", "1")
    assert run.returncode != 0, f"the driver accepted a server it cannot verify:\n{run.stdout}\n{run.stderr}"
    assert "certificate verification failed" in run.stderr, run.stderr
    assert HEADER not in run.stdout, "it measured nothing, so it prints no table"
    server.assert_alive()


def test_driver_checks_the_name_the_certificate_carries(driver, server, tmp_path):
    config = write_config(tmp_path / "wrong-name.conf", server.admin_conf, server_name="not-gatehouse.example")
    run = run_driver(driver, config, "--writers", "1", "--seconds", "1")
    assert run.returncode != 0, f"the driver accepted a certificate for another name:\n{run.stdout}\n{run.stderr}"
    assert "certificate verification failed" in run.stderr and "hostname mismatch" in run.stderr, run.stderr
