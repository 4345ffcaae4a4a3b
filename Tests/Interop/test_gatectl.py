"""`gatectl` end to end against a live `gatehouse serve`.

Every command is run as a process, as an admin would run it: tables by
default, `-o json` parsed, and each refusal checked for its exit code
(sysexits: 64 usage, 65 refused, 66 not found, 69 unreachable, 77 denied,
78 bad config) and for the words that tell the admin what to do.

Tests that change state get a server (and data directory) of their own;
read-only tests and refusals share one server with the example catalog.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, start_server

CATALOG = REPO / "Examples" / "kubernetes-catalog.yaml"

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_NOPERM, EX_CONFIG = 64, 65, 66, 69, 77, 78


# --------------------------------------------------------------------------
# Running gatectl
# --------------------------------------------------------------------------


class Gatectl:
    """Runs gatectl with a given client config, in a directory without one of its own."""

    def __init__(self, binary: Path, config: Path | None, workdir: Path):
        self.binary = binary
        self.config = config
        self.workdir = workdir

    def __call__(self, *args: str, config: Path | None | str = "default", stdin: str | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        conf = self.config if config == "default" else config
        argv = [str(self.binary), *args]
        if conf is not None:
            argv += ["--config", str(conf)]
        env = {k: v for k, v in os.environ.items() if k != "GATEHOUSE_CONFIG"}
        env["HOME"] = str(self.workdir)  # no ~/.gatehouse/config
        return subprocess.run(argv, cwd=self.workdir, env=env, input=stdin, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, *args: str, **kw) -> str:
        result = self(*args, **kw)
        assert result.returncode == 0, (f"gatectl {' '.join(args)} exited {result.returncode}\n"
                                        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result.stdout

    def json(self, *args: str, **kw) -> dict:
        return json.loads(self.ok(*args, "-o", "json", **kw))

    def fails(self, code: int, *args: str, **kw) -> str:
        """Runs a command that must fail with `code`; returns its stderr (one `gatectl: CODE: ...` line)."""
        result = self(*args, **kw)
        assert result.returncode == code, (f"gatectl {' '.join(args)}: expected exit {code}, got {result.returncode}\n"
                                           f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result.stderr


def catalog_counts() -> tuple[int, int]:
    catalog = yaml.safe_load(CATALOG.read_text())
    return len(catalog["features"]), len(catalog["apis"])


def rows(table: str) -> list[list[str]]:
    """A table's rows (header excluded), split on runs of two or more spaces."""
    import re
    lines = [line for line in table.splitlines() if line.strip()]
    return [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]


def row_for(table: str, name: str) -> list[str]:
    for row in rows(table):
        if row[0] == name:
            return row
    raise AssertionError(f"no row {name!r} in\n{table}")


def current_revision(gatectl: Gatectl) -> int:
    return int(gatectl.json("features", "list", "--prefix", "NoSuchPrefix").get("revision", 0))


def issue_client_config(gatehouse_bin: Path, server, out_dir: Path, name: str, role: str) -> Path:
    """A client certificate from the server's development CA, and a config file for it."""
    pki = server.data_dir / "pki"
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(gatehouse_bin), "certs", "client", "--ca-dir", str(pki), "--out-dir", str(out_dir),
                    "--name", name, "--role", role], check=True, capture_output=True, text=True)
    return write_config(server, out_dir, name)


def write_config(server, out_dir: Path, name: str) -> Path:
    config = out_dir / f"{name}.conf"
    config.write_text(yaml.safe_dump({
        "server": server.address,
        "ca": str(server.data_dir / "pki" / "ca.crt"),
        "certificate": str(out_dir / f"{name}.crt"),
        "key": str(out_dir / f"{name}.key"),
    }))
    return config


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(gatehouse_bin, gatectl_bin, tmp_path_factory):
    """One server with the example catalog, for tests that change nothing."""
    root = tmp_path_factory.mktemp("gatectl-shared")
    srv = start_server(gatehouse_bin, root / "data")
    gatectl = Gatectl(gatectl_bin, srv.admin_conf_path, root)
    gatectl.ok("catalog", "import", str(CATALOG))
    yield srv, gatectl
    rc = srv.stop()
    assert rc == 0, f"the server exited with {rc} after SIGTERM\n{srv.logs()}"


@pytest.fixture
def admin(shared) -> Gatectl:
    return shared[1]


@pytest.fixture
def fresh(gatehouse_bin, gatectl_bin, tmp_path):
    """A server of its own with the example catalog at revision 1, and gatectl as its admin."""
    srv = start_server(gatehouse_bin, tmp_path / "data")
    gatectl = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    out = gatectl.ok("catalog", "import", str(CATALOG), "--reason", "bootstrap")
    assert "at revision 1" in out
    yield srv, gatectl
    if srv.proc.poll() is None:
        srv.proc.kill()
        srv.proc.wait()


# --------------------------------------------------------------------------
# Catalog, lists, get
# --------------------------------------------------------------------------


def test_catalog_import_defines_every_feature_and_api(gatehouse_bin, gatectl_bin, tmp_path):
    srv = start_server(gatehouse_bin, tmp_path / "data")
    try:
        gatectl = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
        assert "no features match" in gatectl.ok("features", "list")
        features, apis = catalog_counts()
        out = gatectl.ok("catalog", "import", str(CATALOG))
        assert out.strip() == f"imported {features} features and {apis} APIs from {CATALOG} at revision 1"
        listed = gatectl.json("features", "list")
        assert len(listed["features"]) == features
        assert listed["revision"] == 1
        assert len(gatectl.json("apis", "list")["apis"]) == apis
        # From standard input, as JSON output: the same catalog again changes nothing.
        again = gatectl.json("catalog", "import", "-", stdin=CATALOG.read_text())
        assert again == {"revision": 1, "features": features, "apis": apis}
        history = gatectl.json("history")["entries"]
        assert [e["method"] for e in history] == ["/gatehouse.v1.Features/ImportCatalog"]
        assert history[0]["reason"] == "catalog import"
    finally:
        srv.stop()


def test_catalog_import_refusals(admin, tmp_path):
    err = admin.fails(EX_NOINPUT, "catalog", "import", str(tmp_path / "missing.yaml"))
    assert "gatectl: NO_INPUT: cannot read the catalog file" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("features:\n  - name: Foo\n    stage: sideways\n")
    err = admin.fails(EX_DATAERR, "catalog", "import", str(bad))
    assert err.startswith("gatectl: INVALID_ARGUMENT: ")


def test_features_list_table_and_json(admin):
    table = admin.ok("features", "list")
    assert table.splitlines()[0].split() == ["NAME", "STAGE", "DEFAULT", "LOCKED", "COMPONENTS"]
    assert row_for(table, "PodSchedulingReadiness") == ["PodSchedulingReadiness", "ga", "on", "locked",
                                                        "kube-apiserver,kube-scheduler"]
    assert row_for(table, "InPlacePodVerticalScaling")[1:4] == ["alpha", "off", "-"]
    assert row_for(table, "ContextualLogging")[4] == "all"

    listed = admin.json("features", "list")
    names = [f["name"] for f in listed["features"]]
    assert names == sorted(names) and len(names) == catalog_counts()[0]
    pod = next(f for f in listed["features"] if f["name"] == "PodSchedulingReadiness")
    assert pod["stage"] == "STAGE_GA" and pod["lockedToDefault"] is True

    proxy = admin.json("features", "list", "--component", "kube-proxy")["features"]
    assert {f["name"] for f in proxy} >= {"NFTablesProxyMode", "ServiceTrafficDistribution"}
    assert all(not f.get("components") or "kube-proxy" in f["components"] for f in proxy)
    alpha = admin.json("features", "list", "--stage", "alpha", "--prefix", "Pod")["features"]
    assert {f["name"] for f in alpha} == {"PodLifecycleSleepActionAllowZero", "PodLevelResources"}
    assert "NAME:" not in admin.ok("features", "list", "-o", "yaml")  # YAML, not a table
    assert yaml.safe_load(admin.ok("features", "list", "-o", "yaml"))["revision"] >= 1


def test_features_get(admin):
    out = admin.ok("features", "get", "GracefulNodeShutdown")
    assert row_for(out, "GracefulNodeShutdown")[1:5] == ["beta", "on", "-", "kubelet"]
    assert row_for(out.split("PARAMETER")[1], "shutdown_grace_period") == \
        ["shutdown_grace_period", "duration", "0s..10m", "30s"]
    assert "No overrides" in out
    deps = admin.ok("features", "get", "ProcMountType")
    assert "Needs:        UserNamespacesSupport" in deps
    got = admin.json("features", "get", "InPlacePodVerticalScaling")
    assert got["feature"]["minComponentVersions"] == {"kubelet": "1.27.0"}
    err = admin.fails(EX_NOINPUT, "features", "get", "NoSuchFeature")
    assert err.startswith("gatectl: NOT_FOUND: ") and "NoSuchFeature" in err


def test_apis_list_and_get(admin):
    table = admin.ok("apis", "list")
    assert table.splitlines()[0].split() == ["API", "STAGE", "DEFAULT", "COMPONENTS"]
    assert row_for(table, "batch/v1beta1") == ["batch/v1beta1", "deprecated", "off", "kube-apiserver"]
    assert row_for(table, "v1")[1:3] == ["ga", "on"]
    batch = admin.json("apis", "list", "--group", "batch")["apis"]
    assert {(a["group"], a["version"]) for a in batch} == {("batch", "v1"), ("batch", "v1beta1")}
    alpha = admin.json("apis", "list", "--stage", "alpha")["apis"]
    assert alpha and all(a["stage"] == "STAGE_ALPHA" and not a.get("defaultEnabled") for a in alpha)
    got = admin.ok("apis", "get", "apps/v1/deployments")
    assert row_for(got, "apps/v1/deployments")[1] == "ga"
    err = admin.fails(EX_NOINPUT, "apis", "get", "batch/v9")
    assert err.startswith("gatectl: NOT_FOUND: no API batch/v9")
    assert "invalid API" in admin.fails(EX_USAGE, "apis", "get", "not an api")


# --------------------------------------------------------------------------
# Changes
# --------------------------------------------------------------------------


def test_enable_disable_at_component_and_instance_with_params(fresh):
    _, gatectl = fresh
    out = gatectl.ok("enable", "InPlacePodVerticalScaling", "--component", "kubelet", "--reason", "canary on kubelets")
    assert out.splitlines()[0] == "applied at revision 2"
    assert "InPlacePodVerticalScaling@component/kubelet" in out
    out = gatectl.ok("disable", "InPlacePodVerticalScaling", "--component", "kubelet", "--instance", "node-17",
                     "--reason", "node-17 OOMs")
    assert out.splitlines()[0] == "applied at revision 3"
    assert "InPlacePodVerticalScaling@instance/kubelet/node-17" in out

    overrides = gatectl.ok("features", "get", "InPlacePodVerticalScaling").split("SCOPE")[1]
    assert row_for("SCOPE" + overrides, "component kubelet")[1:5] == ["on", "-", "2", "admin"]
    assert row_for("SCOPE" + overrides, "instance kubelet/node-17")[1] == "off"
    assert "node-17 OOMs" in overrides

    # Parameters are typed by the feature's spec: a duration, an int, an enum.
    out = gatectl.ok("enable", "SchedulerQueueingHints", "--component", "kube-scheduler", "--param", "max_backoff=30s",
                     "--param", "batch_size=50", "--param", "mode=legacy", "--reason", "tune hints")
    assert "applied at revision 4" in out
    got = gatectl.json("features", "get", "SchedulerQueueingHints")
    (override,) = got["overrides"]
    assert override["params"] == {"max_backoff": {"durationMs": 30000},
                                  "batch_size": {"intValue": 50}, "mode": {"enumValue": "legacy"}}
    assert override["scope"] == {"component": {"component": "kube-scheduler"}}
    assert override["reason"] == "tune hints"

    # Explain sees all of it, with the rule that decided each value.
    component = gatectl.ok("explain", "kubelet", "--features-only")
    assert component.splitlines()[0] == "component kubelet at revision 4"
    row = row_for(component, "InPlacePodVerticalScaling")
    assert row[1] == "on" and "component" in row[2] and "kubelet" in row[2]
    instance = gatectl.ok("explain", "kubelet", "--instance", "node-17", "--feature", "InPlacePodVerticalScaling")
    row = row_for(instance, "InPlacePodVerticalScaling")
    assert row[1] == "off" and "instance" in row[2] and "node-17" in row[2]
    assert "API" not in instance  # only the named feature
    scheduler = gatectl.ok("explain", "kube-scheduler", "--feature", "SchedulerQueueingHints")
    assert row_for(scheduler, "max_backoff")[1] == "30s"
    assert row_for(scheduler, "batch_size")[1] == "50"
    assert row_for(scheduler, "mode")[1] == "legacy"

    # Global scope must be asked for by name; then it applies everywhere not overridden.
    err = gatectl.fails(EX_USAGE, "enable", "LoggingAlphaOptions", "--reason", "x")
    assert "--global" in err
    out = gatectl.ok("enable", "LoggingAlphaOptions", "--global", "--reason", "everywhere")
    assert "LoggingAlphaOptions@global" in out
    assert row_for(gatectl.ok("explain", "kube-proxy"), "LoggingAlphaOptions")[1] == "on"

    # A dry run checks and reports but commits nothing.
    before = current_revision(gatectl)
    out = gatectl.ok("disable", "LoggingAlphaOptions", "--global", "--reason", "try", "--dry-run")
    assert out.startswith(f"dry run at revision {before}")
    assert current_revision(gatectl) == before


def test_set_applies_feature_gates_and_runtime_config_as_one_batch(fresh):
    _, gatectl = fresh
    out = gatectl.ok("set", "kube-apiserver",
                     "--feature-gates=UserNamespacesSupport=true,ProcMountType=true",
                     "--runtime-config=api/alpha=true,batch/v1beta1=false",
                     "--reason", "user namespaces and alpha APIs", "--expected-revision", "1")
    lines = out.splitlines()
    assert lines[0] == "applied at revision 2"
    for name in ["UserNamespacesSupport@component/kube-apiserver", "ProcMountType@component/kube-apiserver",
                 "api/alpha@component/kube-apiserver", "batch/v1beta1@component/kube-apiserver"]:
        assert any(name in line for line in lines), f"{name} missing from\n{out}"
    assert current_revision(gatectl) == 2  # one batch, one revision

    history = gatectl.json("history", "--component", "kube-apiserver")["entries"]
    assert len(history) == 1
    (entry,) = history
    assert entry["revision"] == 2 and entry["method"] == "/gatehouse.v1.Features/Set"
    assert entry["reason"] == "user namespaces and alpha APIs" and len(entry["changes"]) == 4

    explained = gatectl.ok("explain", "kube-apiserver")
    assert row_for(explained, "ProcMountType")[1] == "on"
    assert "component" in row_for(explained, "ProcMountType")[2]
    batch = row_for(explained, "batch/v1beta1")
    assert batch[1] == "off" and "component" in batch[2]
    alpha = row_for(explained, "admissionregistration.k8s.io/v1alpha1")
    assert alpha[1] == "on" and "api/alpha" in alpha[2]
    assert row_for(explained, "batch/v1")[1] == "on"

    # Turning off what an enabled feature needs is refused, naming the dependent; both together are fine.
    err = gatectl.fails(EX_DATAERR, "disable", "UserNamespacesSupport", "--component", "kube-apiserver",
                        "--reason", "x")
    assert err.startswith("gatectl: FAILED_PRECONDITION: ") and "ProcMountType" in err
    out = gatectl.ok("set", "kube-apiserver", "--feature-gates=ProcMountType=false,UserNamespacesSupport=false",
                     "--dry-run", "--reason", "check")
    assert out.startswith("dry run at revision 2")

    # Half of a batch that cannot apply is not applied: nothing commits.
    err = gatectl.fails(EX_NOINPUT, "set", "kube-apiserver", "--feature-gates=KMSv1=true,NoSuchGate=true",
                        "--runtime-config=batch/v1beta1=true", "--reason", "mixed")
    assert "NoSuchGate" in err
    assert current_revision(gatectl) == 2
    assert row_for(gatectl.ok("explain", "kube-apiserver"), "batch/v1beta1")[1] == "off"

    # Malformed flags are refused before anything is sent, in Kubernetes' terms.
    err = gatectl.fails(EX_DATAERR, "set", "kube-apiserver", "--feature-gates=ProcMountType=maybe", "--reason", "x")
    assert err.startswith("gatectl: INVALID_ARGUMENT: --feature-gates:") and "maybe" in err
    err = gatectl.fails(EX_DATAERR, "set", "kube-apiserver", "--runtime-config=batch=true", "--reason", "x")
    assert "--runtime-config" in err
    assert "nothing to set" in gatectl.fails(EX_USAGE, "set", "kube-apiserver", "--reason", "x")
    # A reason is required, as for enable and disable.
    assert "--reason" in gatectl.fails(EX_USAGE, "set", "kube-apiserver", "--feature-gates=ProcMountType=true")


def test_history_lists_entries_and_filters_by_feature(fresh):
    _, gatectl = fresh
    gatectl.ok("enable", "PodLevelResources", "--component", "kubelet", "--reason", "first")
    gatectl.ok("enable", "KubeletInUserNamespace", "--component", "kubelet", "--reason", "second")
    gatectl.ok("disable", "PodLevelResources", "--component", "kubelet", "--reason", "third")

    table = gatectl.ok("history")
    assert table.splitlines()[0].split() == ["REVISION", "TIME", "ACTOR", "METHOD", "CHANGES", "REASON"]
    assert [r[0] for r in rows(table)] == ["1", "2", "3", "4"]
    second = row_for(table, "2")
    assert second[2:4] == ["admin", "Features/Set"] and second[5] == "first"
    assert "PodLevelResources" in second[4]
    assert "more" in row_for(table, "1")[4]  # the catalog import: too many changes to list

    only = gatectl.json("history", "PodLevelResources")["entries"]
    assert [e["revision"] for e in only] == [1, 2, 4]  # defined by the import, then two overrides
    assert [e["reason"] for e in only] == ["bootstrap", "first", "third"]
    newest = gatectl.ok("history", "PodLevelResources", "--newest-first", "--limit", "1")
    assert [r[0] for r in rows(newest.split("(more")[0])] == ["4"] and "more entries match" in newest
    assert "no matching history" in gatectl.ok("history", "NoSuchFeature")

    # Paging forward, oldest first: the entries right after --after, not the newest ones.
    page = gatectl.json("history", "--after", "1", "--limit", "2")
    assert [e["revision"] for e in page["entries"]] == [2, 3] and page["more"]
    last = gatectl.json("history", "--after", "3", "--limit", "2")
    assert [e["revision"] for e in last["entries"]] == [4] and not last.get("more", False)


def test_lists_follow_pages(gatehouse_bin, gatectl_bin, tmp_path):
    """Past one page (500 by default), gatectl follows next_page_token and prints one result."""
    srv = start_server(gatehouse_bin, tmp_path / "data")
    try:
        gatectl = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
        names = [f"Paged{i:04d}" for i in range(1_200)]
        catalog = tmp_path / "many.yaml"
        catalog.write_text("features:\n" + "".join(
            f"  - {{name: {name}, stage: alpha, default_enabled: false, components: [kubelet]}}\n" for name in names
        ) + "apis: []\n")
        gatectl.ok("catalog", "import", str(catalog))
        listed = gatectl.json("features", "list")
        assert [f["name"] for f in listed["features"]] == names
        assert "next_page_token" not in listed and "nextPageToken" not in listed
        assert len(rows(gatectl.ok("features", "list"))) == len(names)
        explained = gatectl.json("explain", "kubelet")
        assert len(explained["entries"]) == len(names)
    finally:
        srv.stop()


# --------------------------------------------------------------------------
# Refusals and their exit codes
# --------------------------------------------------------------------------


def test_unknown_feature_is_not_found(admin):
    err = admin.fails(EX_NOINPUT, "enable", "NoSuchFeature", "--component", "kubelet", "--reason", "typo")
    assert err.startswith("gatectl: NOT_FOUND: ") and "NoSuchFeature" in err
    # With --param the feature is looked up first: still 66.
    err = admin.fails(EX_NOINPUT, "enable", "NoSuchFeature", "--component", "kubelet", "--param", "a=1", "--reason", "x")
    assert "NoSuchFeature" in err


def test_locked_feature_is_refused(admin):
    err = admin.fails(EX_DATAERR, "disable", "PodSchedulingReadiness", "--component", "kube-scheduler",
                      "--reason", "try")
    assert err.startswith("gatectl: FAILED_PRECONDITION: ")
    assert "PodSchedulingReadiness is locked" in err


def test_missing_dependency_is_refused_and_named(admin):
    err = admin.fails(EX_DATAERR, "enable", "ProcMountType", "--component", "kubelet", "--reason", "needs userns")
    assert err.startswith("gatectl: FAILED_PRECONDITION: ")
    assert "UserNamespacesSupport" in err  # the dependency to enable


def test_bad_parameter_values_are_refused(admin):
    before = current_revision(admin)
    cases = {
        "shutdown_grace_period=20m": "shutdown_grace_period",  # above the 10m maximum
        "shutdown_grace_period=soon": "a duration",
        "grace=1s": "has no parameter grace",
    }
    for param, words in cases.items():
        err = admin.fails(EX_DATAERR, "enable", "GracefulNodeShutdown", "--component", "kubelet",
                          "--param", param, "--reason", "bad param")
        assert err.startswith("gatectl: INVALID_ARGUMENT: ") and words in err, err
    err = admin.fails(EX_DATAERR, "enable", "SchedulerQueueingHints", "--component", "kube-scheduler",
                      "--param", "mode=turbo", "--reason", "bad enum")
    assert "turbo" in err
    assert "name=value" in admin.fails(EX_USAGE, "enable", "GracefulNodeShutdown", "--component", "kubelet",
                                       "--param", "nonsense", "--reason", "x")
    assert current_revision(admin) == before


def test_stale_expected_revision_is_refused(admin):
    now = current_revision(admin)
    assert now >= 1
    err = admin.fails(EX_DATAERR, "enable", "PodLevelResources", "--component", "kubelet", "--reason", "cas",
                      "--expected-revision", str(now + 5))
    assert err.startswith("gatectl: ABORTED: ") and f"not r{now + 5}" in err
    err = admin.fails(EX_DATAERR, "set", "kubelet", "--feature-gates=PodLevelResources=true",
                      "--expected-revision", "0", "--reason", "cas")
    assert err.startswith("gatectl: ABORTED: ")
    assert current_revision(admin) == now


def test_usage_errors(admin):
    assert "--instance needs --component" in admin.fails(
        EX_USAGE, "enable", "PodLevelResources", "--instance", "node-1", "--reason", "x")
    assert "--global" in admin.fails(
        EX_USAGE, "disable", "PodLevelResources", "--global", "--component", "kubelet", "--reason", "x")
    assert "reason" in admin.fails(EX_USAGE, "enable", "PodLevelResources", "--component", "kubelet")


def test_denied_for_viewer_operator_and_unknown_identities(shared, gatehouse_bin, tmp_path):
    srv, admin = shared
    viewer = Gatectl(admin.binary, issue_client_config(gatehouse_bin, srv, tmp_path / "viewer", "vera", "viewer"),
                     tmp_path)
    assert row_for(viewer.ok("features", "list"), "ProcMountType")  # viewers read
    viewer.ok("explain", "kubelet")
    viewer.ok("history", "--limit", "1")
    err = viewer.fails(EX_NOPERM, "enable", "PodLevelResources", "--component", "kubelet", "--reason", "x")
    assert err.startswith("gatectl: PERMISSION_DENIED: ") and "vera" in err
    err = viewer.fails(EX_NOPERM, "set", "kubelet", "--feature-gates=PodLevelResources=true", "--reason", "x")
    assert "PERMISSION_DENIED" in err

    operator = Gatectl(admin.binary, issue_client_config(gatehouse_bin, srv, tmp_path / "op", "otto", "operator"),
                       tmp_path)
    operator.ok("enable", "PodLevelResources", "--component", "kubelet", "--reason", "operators may",
                "--dry-run")
    err = operator.fails(EX_NOPERM, "catalog", "import", str(CATALOG))
    assert err.startswith("gatectl: PERMISSION_DENIED: ")

    # A certificate from the right CA whose O maps to no role at all.
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not installed")
    out = tmp_path / "nobody"
    out.mkdir()
    pki = srv.data_dir / "pki"
    (out / "ext.cnf").write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n")
    run = lambda *a: subprocess.run([openssl, *a], check=True, capture_output=True, cwd=out)  # noqa: E731
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "nobody.key", "-out", "nobody.csr", "-subj", "/O=strangers/CN=nobody")
    run("x509", "-req", "-in", "nobody.csr", "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
        "-CAcreateserial", "-days", "1", "-extfile", "ext.cnf", "-out", "nobody.crt")
    nobody = Gatectl(admin.binary, write_config(srv, out, "nobody"), tmp_path)
    err = nobody.fails(EX_NOPERM, "features", "list")
    assert "PERMISSION_DENIED" in err or "UNAUTHENTICATED" in err


def test_unreachable_server(admin):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err = admin.fails(EX_UNAVAILABLE, "features", "list", "--server", f"127.0.0.1:{port}")
    assert err.startswith("gatectl: UNAVAILABLE: ") and f"127.0.0.1:{port}" in err
    err = admin.fails(EX_UNAVAILABLE, "enable", "PodLevelResources", "--component", "kubelet", "--reason", "x",
                      "--server", f"127.0.0.1:{port}")
    # The problem, the server and config used, and what to check; no socket error dump.
    assert f"connection refused by 127.0.0.1:{port}" in err and "from --server" in err and str(admin.config) in err
    assert "gatehouse serve" in err and "NIO" not in err


def test_certs_client_writes_a_client_config_gatectl_uses(shared, gatehouse_bin, tmp_path):
    srv, admin = shared
    out = tmp_path / "ops"
    result = subprocess.run([str(gatehouse_bin), "certs", "client", "--ca-dir", str(srv.data_dir / "pki"),
                             "--out-dir", str(out), "--name", "ops", "--role", "operator", "--server", srv.address],
                            check=True, capture_output=True, text=True)
    config = out / "ops.conf"
    assert f"wrote {config}" in result.stdout and f"gatectl --config {config}" in result.stdout
    written = yaml.safe_load(config.read_text())
    assert written == {"server": srv.address, "ca": str(srv.data_dir / "pki" / "ca.crt"),
                       "certificate": "ops.crt", "key": "ops.key"}
    # Relative to the config's own directory: the out dir may move as a whole.
    moved = tmp_path / "elsewhere"
    shutil.move(str(out), str(moved))
    ops = Gatectl(admin.binary, moved / "ops.conf", tmp_path)
    assert "SchedulerQueueingHints" in ops.ok("features", "list")
    # Issued again without --force: refused before anything is written.
    again = subprocess.run([str(gatehouse_bin), "certs", "client", "--ca-dir", str(srv.data_dir / "pki"),
                            "--out-dir", str(moved), "--name", "ops", "--role", "operator"], capture_output=True, text=True)
    assert again.returncode != 0 and "exists; pass --force" in again.stderr


def test_timeout_bounds_the_tls_handshake(admin):
    """A TCP listener that accepts and never answers: --timeout ends the handshake, with the limit named."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes the TCP handshake; nothing ever answers the TLS one
        port = listener.getsockname()[1]
        # No duration asserted (a loaded machine may be slow): that the connection was given --timeout
        # is checked by GatectlTests' handshakeTimeout, from the RPC layer's own message.
        err = admin.fails(EX_UNAVAILABLE, "status", "--server", f"127.0.0.1:{port}", "--timeout", "1s", timeout=60)
    assert err.startswith("gatectl: UNAVAILABLE: no answer from ") and "within 1s" in err, err
    assert "TLS handshake" in err and "--timeout" in err


def test_version_works_without_a_server(admin, tmp_path):
    out = admin.ok("version", "--client", config=None)
    assert out.startswith("Client: gatectl ")
    both = admin.ok("version")
    assert both.startswith("Client: gatectl ") and "Server: gatehouse " in both
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = admin("version", "--server", f"127.0.0.1:{port}")
    assert result.returncode == EX_UNAVAILABLE and result.stdout.startswith("Client: gatectl ")
    assert json.loads(admin.ok("version", "-o", "json"))["server"]["version"]


def test_missing_or_bad_config(admin, tmp_path):
    err = admin.fails(EX_CONFIG, "features", "list", config=tmp_path / "nope.conf")
    assert err.startswith("gatectl: CONFIG: cannot read client config") and "nope.conf" in err
    # No --config, no $GATEHOUSE_CONFIG, nothing in $HOME or ./gatehouse-data: say where to put one.
    err = admin.fails(EX_CONFIG, "features", "list", config=None)
    assert "no client config found" in err and "--config" in err
    broken = tmp_path / "broken.conf"
    broken.write_text(yaml.safe_dump({"server": "127.0.0.1:1", "ca": "/nonexistent/ca.crt",
                                      "certificate": "/nonexistent/c.crt", "key": "/nonexistent/c.key"}))
    err = admin.fails(EX_CONFIG, "features", "list", config=broken)
    assert "/nonexistent/ca.crt" in err


def test_help_has_examples(admin):
    for command in (["enable"], ["disable"], ["set"], ["explain"], ["history"], ["features", "list"],
                    ["features", "get"], ["apis", "list"], ["apis", "get"], ["catalog", "import"],
                    ["rollout"], ["rollout", "start"], ["rollout", "list"], ["rollout", "status"],
                    ["rollout", "pause"], ["rollout", "resume"], ["rollout", "promote"], ["rollout", "abort"]):
        out = admin.ok(*command, "--help", config=None)
        assert "Examples:" in out and f"gatectl {' '.join(command)}" in out, command
    assert "--global" in admin.ok("enable", "--help", config=None)
