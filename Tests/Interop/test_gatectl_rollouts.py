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
