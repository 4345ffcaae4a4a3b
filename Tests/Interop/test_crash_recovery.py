"""SIGKILL the server while 64 clients write over mTLS; restart it; every
acknowledged batch must be there, whole, and no batch may be half-applied.
Repeated on the same data directory, so each round also recovers the last."""
import random
import subprocess
import threading
import time

import pytest

import gatehouse_wire as wire
from conftest import start_server

ROUNDS = 4
WRITERS = 64
GET = "/gatehouse.v1.Features/Get"


@pytest.fixture(scope="module")
def load_bin(gatehouse_bin):
    path = gatehouse_bin.parent / "gatehouse-load"
    if not path.exists():
        pytest.skip(f"{path} is not built (swift build --product gatehouse-load)")
    return path


def _overrides(server, pb, feature):
    """instance id -> revision of every enabled instance override of `feature`."""
    found = {}
    token = ""
    with server.connect() as c:
        while True:  # Get pages its overrides (PROTOCOL.md 6.2)
            request = pb.features.GetFeatureRequest(name=feature, page_token=token)
            result = c.unary(GET, request.SerializeToString(), timeout_ms=10000)
            assert result.status == wire.OK, result.message
            response = pb.features.GetFeatureResponse.FromString(result.response())
            for override in response.overrides:
                if override.scope.WhichOneof("scope") == "instance" and override.enabled:
                    found[override.scope.instance.instance_id] = override.revision
            token = response.next_page_token
            if not token:
                return found


def test_sigkill_during_64_writers_loses_no_acknowledged_batch(gatehouse_bin, load_bin, tmp_path, pb):
    data = tmp_path / "data"
    rng = random.Random(20261125)
    acknowledged = {}  # instance -> revision, over all rounds
    for round_number in range(ROUNDS):
        server = start_server(gatehouse_bin, data, ("--log-level", "warning"))
        writer = subprocess.Popen(
            [str(load_bin), "crash-writer", "--config", str(server.admin_conf_path),
             "--writers", str(WRITERS), "--round", f"r{round_number}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = []
        started = threading.Event()

        def pump():
            for line in writer.stdout:
                lines.append(line)
                if line.startswith("ACK"):
                    started.set()
            started.set()

        threading.Thread(target=pump, daemon=True).start()
        assert started.wait(60), "the writers never got an acknowledgement"
        time.sleep(rng.uniform(0.2, 1.0))
        server.proc.kill()  # SIGKILL: no drain, no close
        server.proc.wait()
        try:
            writer.wait(30)
        except subprocess.TimeoutExpired:
            writer.kill()
            writer.wait()
        time.sleep(0.1)
        acks = [line.split() for line in list(lines) if line.startswith("ACK ") and line.endswith("\n")]
        assert len(acks) > 0
        for _, revision, instance in acks:
            acknowledged[instance] = int(revision)

        restarted = start_server(gatehouse_bin, data, ("--log-level", "warning"))
        try:
            crash_a = _overrides(restarted, pb, "CrashA")
            crash_b = _overrides(restarted, pb, "CrashB")
            assert crash_a == crash_b, "a batch was half-applied: CrashA and CrashB differ"
            missing = {i: r for i, r in acknowledged.items() if crash_a.get(i) != r}
            assert not missing, f"{len(missing)} acknowledged batches lost or changed, e.g. {list(missing.items())[:5]}"
            revisions = sorted(crash_a.values())
            assert len(set(revisions)) == len(revisions), "two batches share a revision"
            print(f"round {round_number}: {len(acks)} acknowledged, {len(crash_a)} present after restart")
        finally:
            assert restarted.stop() == 0, restarted.logs()
