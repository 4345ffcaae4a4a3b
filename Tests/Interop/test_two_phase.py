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
