"""The operations listener of a real `gatehouse serve`, read by parsers we did not write.

`/metrics` is parsed by the Prometheus project's own Python client
(`prometheus_client.parser.text_string_to_metric_families`), as a Prometheus
server would read it; `/healthz` and `/readyz` are probed with `urllib`, as a
kubelet's HTTP probe would. The values checked are the ones a change, a
subscription and a NACK made on that server.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.request

import pytest
import yaml

import gatehouse_wire as wire
from conftest import REPO, start_server
from test_gatectl import Gatectl, issue_client_config

prometheus_parser = pytest.importorskip(
    "prometheus_client.parser", reason="pip install -r Tests/Interop/requirements.txt (prometheus_client)")

CATALOG = REPO / "Examples" / "kubernetes-catalog.yaml"
SUBSCRIBE = "/gatehouse.v1.Components/Subscribe"
METRICS_ON = re.compile(r"metrics on (\S+):(\d+)\s*$")


def metrics_address(srv) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in list(srv.stdout_lines):
            m = METRICS_ON.search(line)
            if m:
                return f"{m.group(1)}:{m.group(2)}"
        time.sleep(0.05)
    raise AssertionError(f"the server did not print 'metrics on HOST:PORT'\n{srv.logs()}")


def http(address: str, path: str, method: str = "GET") -> tuple[int, dict, str]:
    request = urllib.request.Request(f"http://{address}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def scrape(address: str) -> dict:
    """Every metric family by name, as prometheus_client parses the exposition."""
    status, headers, body = http(address, "/metrics")
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    return {family.name: family for family in prometheus_parser.text_string_to_metric_families(body)}


def sample(families: dict, family: str, name: str | None = None, **labels) -> float | None:
    for s in families[family].samples if family in families else []:
        if s.name == (name or family) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def wait_for(what: str, predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def subscribe_request(pb, component: str, instance: str) -> bytes:
    request = pb.components.SubscribeRequest()
    request.start.component = component
    request.start.instance_id = instance
    request.start.version = "1.40.0"
    return request.SerializeToString()


def nack(pb, revision: int) -> bytes:
    request = pb.components.SubscribeRequest()
    request.ack.revision = revision
    request.ack.error.reason, request.ack.error.message = "UNSUPPORTED", "not on this node"
    return request.SerializeToString()


@pytest.fixture
def metered(gatehouse_bin, gatectl_bin, tmp_path):
    srv = start_server(gatehouse_bin, tmp_path / "data", ("--metrics-address", "127.0.0.1:0"))
    admin = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    yield srv, admin, metrics_address(srv)
    assert srv.stop() == 0, srv.logs()


def test_probes_answer_as_a_kubelet_reads_them(metered):
    srv, _, address = metered
    status, headers, body = http(address, "/healthz")
    assert (status, body) == (200, "ok\n") and headers["Content-Type"].startswith("text/plain")
    status, _, body = http(address, "/readyz")
    assert (status, body) == (200, "ok\n")
    status, headers, _ = http(address, "/healthz", method="HEAD")
    assert status == 200 and headers["Content-Length"] == "3"
    status, _, body = http(address, "/")
    assert status == 404 and "/metrics, /healthz or /readyz" in body
    status, headers, _ = http(address, "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    srv.assert_alive()


def test_metrics_parse_and_follow_a_change_a_subscriber_and_a_nack(metered, gatehouse_bin, pb, tmp_path):
    srv, admin, address = metered
    families = scrape(address)
    # Before anything is defined: counters and histograms at zero, no gate series yet.
    assert sample(families, "gatehouse_commit_duration_seconds", "gatehouse_commit_duration_seconds_count") == 0
    assert "gatehouse_feature_enabled" not in families or not families["gatehouse_feature_enabled"].samples

    admin.ok("catalog", "import", str(CATALOG))
    admin.ok("enable", "InPlacePodVerticalScaling", "--component", "kubelet", "--reason", "canary")
    revision = int(json.loads(admin.ok("features", "list", "-o", "json"))["revision"])

    families = scrape(address)
    enabled = families["gatehouse_feature_enabled"]
    assert enabled.type == "gauge"
    assert enabled.samples and all(s.value in (0.0, 1.0) for s in enabled.samples)
    assert all(set(s.labels) == {"feature", "component"} for s in enabled.samples)
    assert sample(families, "gatehouse_feature_enabled", feature="InPlacePodVerticalScaling", component="kubelet") == 1
    assert sample(families, "gatehouse_feature_enabled", feature="InPlacePodVerticalScaling", component="kube-apiserver") == 0
    assert sample(families, "gatehouse_feature_enabled", feature="SidecarContainers", component="kubelet") == 1
    # The catalog's own gates, one series per component they apply to.
    catalog = yaml.safe_load(CATALOG.read_text())
    expected = {(f["name"], c) for f in catalog["features"] for c in f.get("components", [])}
    assert expected <= {(s.labels["feature"], s.labels["component"]) for s in enabled.samples}

    assert sample(families, "gatehouse_revision") == revision
    commits = families["gatehouse_commit_duration_seconds"]
    assert commits.type == "histogram"
    assert sample(families, "gatehouse_commit_duration_seconds", "gatehouse_commit_duration_seconds_count") == 2
    buckets = [s.value for s in commits.samples if s.name.endswith("_bucket")]
    assert buckets == sorted(buckets) and buckets[-1] == 2, "cumulative buckets ending in the count"
    assert sample(families, "gatehouse_commit_group_size", "gatehouse_commit_group_size_sum") == 2
    assert families["gatehouse_connections_accepted"].type == "counter"
    assert sample(families, "gatehouse_connections_accepted", "gatehouse_connections_accepted_total") >= 2
    assert sample(families, "gatehouse_tls_handshakes_completed", "gatehouse_tls_handshakes_completed_total") >= 2
    assert sample(families, "gatehouse_rpc_calls", "gatehouse_rpc_calls_total",
                  method="/gatehouse.v1.Features/Set", code="OK") == 1
    assert sample(families, "gatehouse_rollouts", phase="running") == 0
    for family in families.values():
        for s in family.samples:
            assert math.isfinite(s.value) and s.value >= 0, s

    # A kubelet subscribes, is pushed a change and NACKs it.
    conf = yaml.safe_load(issue_client_config(gatehouse_bin, srv, tmp_path / "kubelet", "kubelet", "component").read_text())
    with wire.Client(srv.host, srv.port, ca=conf["ca"], cert=conf["certificate"], key=conf["key"]) as kubelet:
        call = kubelet.server_stream(SUBSCRIBE, subscribe_request(pb, "kubelet", "node-1"), end_stream=False)
        call.next_message()
        wait_for("one subscriber", lambda: sample(scrape(address), "gatehouse_subscribers") == 1)
        assert sample(scrape(address), "gatehouse_connections_open", stage="authenticated") >= 1

        admin.ok("disable", "InPlacePodVerticalScaling", "--component", "kubelet", "--reason", "rollback")
        revision = int(json.loads(admin.ok("features", "list", "-o", "json"))["revision"])
        pb_message = pb.components.SubscribeResponse()
        while True:
            pb_message.ParseFromString(call.next_message())
            if pb_message.WhichOneof("message") == "delta":
                break
        call.send(nack(pb, revision))
        families = wait_for("the NACK is counted", lambda: (
            lambda f: f if sample(f, "gatehouse_nacks", "gatehouse_nacks_total", component="kubelet") == 1 else None)(
            scrape(address)))
        assert sample(families, "gatehouse_fanout_duration_seconds", "gatehouse_fanout_duration_seconds_count") >= 1
        assert sample(families, "gatehouse_feature_enabled", feature="InPlacePodVerticalScaling", component="kubelet") == 0
        call.cancel()
    wait_for("no subscriber", lambda: sample(scrape(address), "gatehouse_subscribers") == 0)


def test_a_metrics_address_in_use_or_malformed_stops_the_server_naming_the_flag(gatehouse_bin, tmp_path):
    import socket
    import subprocess

    def serve(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(gatehouse_bin), "serve", "--data-dir", str(tmp_path / "data"),
                               "--listen", "127.0.0.1:0", *args], capture_output=True, text=True, timeout=60)

    malformed = serve("--metrics-address", "localhost")
    assert malformed.returncode != 0 and "--metrics-address" in malformed.stderr, malformed.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        in_use = serve("--metrics-address", f"127.0.0.1:{port}")
    assert in_use.returncode != 0
    assert "listening on" not in in_use.stdout
    assert f"cannot listen for metrics on 127.0.0.1:{port}: the address is already in use; pass another --metrics-address" \
        in in_use.stderr, in_use.stderr
