"""`gatectl rollout` end to end: a live server, real SDK components, gatectl as an admin runs it.

Two `example-component` instances subscribe as kubelets. A rollout of
InPlacePodVerticalScaling is started, followed with `rollout status --watch`
(not on a terminal: it prints a picture at each change and exits with how the
rollout ended), and ended two ways: aborted by an operator (exit 3, the
canaries turned back off), and rolled back on its own because the canaries
report themselves unhealthy under the feature (exit 2).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, start_server
from test_gatectl import EX_DATAERR, EX_NOINPUT, Gatectl, row_for
from test_subscriptions import Lines

CATALOG = REPO / "Examples" / "kubernetes-catalog.yaml"
FEATURE = "InPlacePodVerticalScaling"
WATCH_COMPLETED, WATCH_ROLLED_BACK, WATCH_ABORTED = 0, 2, 3


def example_binary(gatehouse_bin: Path) -> Path:
    example = gatehouse_bin.parent / "example-component"
    if not example.exists():
        pytest.skip(f"{example} is not built")
    return example


def start_components(example: Path, srv, count: int, *extra: str) -> list[tuple[subprocess.Popen, Lines]]:
    started = []
    for index in range(1, count + 1):
        proc = subprocess.Popen(
            [str(example), "--config", str(srv.admin_conf_path), "--component", "kubelet",
             "--instance", f"node-{index}", "--version", "1.32.0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started.append((proc, Lines(proc)))
    for _, out in started:
        out.wait_for(lambda l: l.startswith("booted live at r"), "'booted live'")
    return started


def stop_components(started) -> None:
    for proc, _ in started:
        proc.terminate()
    for proc, _ in started:
        proc.wait(10)


def watch(gatectl: Gatectl, name: str) -> tuple[subprocess.Popen, Lines]:
    proc = subprocess.Popen(
        [str(gatectl.binary), "rollout", "status", name, "--watch", "--interval", "200ms", "--config", str(gatectl.config)],
        cwd=gatectl.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, Lines(proc)


def test_start_watch_and_abort_a_rollout(gatehouse_bin, gatectl_bin, tmp_path):
    example = example_binary(gatehouse_bin)
    srv = start_server(gatehouse_bin, tmp_path / "data", ("--rollout-tick", "0.2"))
    admin = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    components = []
    try:
        admin.ok("catalog", "import", str(CATALOG))
        components = start_components(example, srv, 2)

        dry = admin.ok("rollout", "start", FEATURE, "--component", "kubelet", "--steps", "100%", "--bake", "1h",
                       "--name", "ippvs", "--reason", "e2e", "--dry-run")
        assert "dry run" in dry and "nothing changed" in dry, dry
        assert json.loads(admin.ok("rollout", "list", "-o", "json")).get("rollouts", []) == []

        started = admin.ok("rollout", "start", FEATURE, "--component", "kubelet", "--steps", "100%", "--bake", "1h",
                           "--name", "ippvs", "--reason", "e2e")
        assert "rollout ippvs: feature InPlacePodVerticalScaling on for kubelet started at r" in started, started
        for _, out in components:
            out.wait_for(lambda l: l.strip() == f"feature {FEATURE}: false -> true", "the canary turning the feature on")

        listed = json.loads(admin.ok("rollout", "list", "--active", "-o", "json"))
        assert [r["spec"]["name"] for r in listed["rollouts"]] == ["ippvs"]
        assert listed["rollouts"][0].get("phase") == "ROLLOUT_PHASE_RUNNING"

        watcher, seen = watch(admin, "ippvs")
        seen.wait_for(lambda l: "step 1/1 100%" in l and "[##########] 2/2 canaries acked, 0 unhealthy, bake" in l,
                      "both canaries acked on the bar")
        assert watcher.poll() is None, "the watch goes on while the rollout runs"

        aborted = admin.ok("rollout", "abort", "ippvs", "--reason", "e2e abort")
        assert aborted.startswith("rollout ippvs aborted at step 1/1 100% (r") and aborted.rstrip().endswith("e2e abort"), aborted
        assert watcher.wait(20) == WATCH_ABORTED, watcher.stderr.read()
        seen.wait_for(lambda l: "aborted: e2e abort" in l, "the abort on the bar")
        for _, out in components:
            out.wait_for(lambda l: l.strip() == f"feature {FEATURE}: true -> false", "the rollback reaching the canary")

        # Finished: status says so at once, steering it is refused, and an unknown name is not found.
        assert subprocess.run([str(gatectl_bin), "rollout", "status", "ippvs", "--watch", "--config", str(srv.admin_conf_path)],
                              capture_output=True, timeout=20).returncode == WATCH_ABORTED
        refused = admin.fails(EX_DATAERR, "rollout", "resume", "ippvs", "--reason", "again")
        assert refused.startswith("gatectl: FAILED_PRECONDITION:") and "aborted" in refused, refused
        assert admin.fails(EX_NOINPUT, "rollout", "status", "nope").startswith("gatectl: NOT_FOUND:")
    finally:
        stop_components(components)
        assert srv.stop() == 0, srv.logs()


def test_a_rollout_rolls_back_on_unhealthy_canaries_and_the_watch_says_so(gatehouse_bin, gatectl_bin, tmp_path):
    example = example_binary(gatehouse_bin)
    srv = start_server(gatehouse_bin, tmp_path / "data", ("--rollout-tick", "0.2"))
    admin = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    components = []
    try:
        admin.ok("catalog", "import", str(CATALOG))
        components = start_components(example, srv, 2, "--unhealthy-when-enabled", FEATURE, "--health-interval", "0.2")
        admin.ok("rollout", "start", FEATURE, "--component", "kubelet", "--steps", "100%", "--bake", "1h",
                 "--name", "breaks", "--reason", "e2e")
        watcher, seen = watch(admin, "breaks")
        assert watcher.wait(30) == WATCH_ROLLED_BACK, "".join(seen.lines) + watcher.stderr.read()
        line = seen.wait_for(lambda l: "rolled back:" in l, "the rollback on the bar")
        assert "unhealthy" in line, line
        for _, out in components:
            out.wait_for(lambda l: l.strip() == "health: UNHEALTHY: "
                         f"{FEATURE} is on, and this instance fails with it (--unhealthy-when-enabled)", "the report")
            out.wait_for(lambda l: l.strip() == f"feature {FEATURE}: true -> false", "the rollback reaching the canary")
        status = json.loads(admin.ok("rollout", "status", "breaks", "-o", "json"))
        assert status["rollout"]["phase"] == "ROLLOUT_PHASE_ROLLED_BACK"
    finally:
        stop_components(components)
        assert srv.stop() == 0, srv.logs()


def test_the_watch_outlives_a_server_restart(gatehouse_bin, gatectl_bin, tmp_path):
    srv = start_server(gatehouse_bin, tmp_path / "data")
    admin = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    again = None
    try:
        admin.ok("catalog", "import", str(CATALOG))
        admin.ok("rollout", "start", FEATURE, "--component", "kubelet", "--steps", "10%,100%", "--bake", "1h",
                 "--name", "long", "--reason", "e2e")
        watcher, seen = watch(admin, "long")
        seen.wait_for(lambda l: l.startswith("running at step 1/2"), "the first picture")

        srv.stop()
        host, port = srv.host, srv.port
        again = start_server(gatehouse_bin, tmp_path / "data", ("--listen", f"{host}:{port}"))
        assert again.port == port
        admin.ok("rollout", "abort", "long", "--reason", "after the restart")
        assert watcher.wait(30) == WATCH_ABORTED, "\n".join(seen.lines) + watcher.stderr.read()
        seen.wait_for(lambda l: "aborted: after the restart" in l, "the abort, seen through the new server")
        notes = watcher.stderr.read()
        assert "gatectl: lost the server (UNAVAILABLE:" in notes and "gatectl: reconnected; watching long again" in notes, notes
    finally:
        if again is not None:
            assert again.stop() == 0, again.logs()
        elif srv.proc.poll() is None:
            srv.stop()


def test_the_example_component_reports_unhealthy_while_its_feature_is_on(gatehouse_bin, gatectl_bin, tmp_path):
    example = example_binary(gatehouse_bin)
    srv = start_server(gatehouse_bin, tmp_path / "data")
    admin = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    components = []

    def health_column() -> str:
        return row_for(admin.ok("components", "kubelet"), "kubelet")[7]

    def eventually(predicate, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"{what}: {admin.ok('components', 'kubelet')}"
            time.sleep(0.1)

    try:
        admin.ok("catalog", "import", str(CATALOG))
        components = start_components(example, srv, 1, "--unhealthy-when-enabled", FEATURE, "--health-interval", "0.2")
        eventually(lambda: health_column() == "healthy", "healthy while the feature is off")

        admin.ok("enable", FEATURE, "--component", "kubelet", "--reason", "break it")
        reason = f"{FEATURE} is on, and this instance fails with it (--unhealthy-when-enabled)"
        eventually(lambda: health_column() == f"unhealthy ({FEATURE}): {reason}", "unhealthy, blaming the feature")
        listed = json.loads(admin.ok("components", "kubelet", "-o", "json"))
        assert listed["instances"][0]["health"]["entries"] == [FEATURE]
        assert listed["instances"][0]["health"].get("healthy", False) is False

        admin.ok("disable", FEATURE, "--component", "kubelet", "--reason", "fix it")
        eventually(lambda: health_column() == "healthy", "healthy again once the feature is off")
    finally:
        stop_components(components)
        assert srv.stop() == 0, srv.logs()
