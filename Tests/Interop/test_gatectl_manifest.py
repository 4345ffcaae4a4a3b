"""gatectl's writes against a live server: unset, unchanged writes, unknown components,
and the declarative round trip (export | apply is a no-op; edit → diff → apply → export;
--prune), each through the gatectl process as an operator runs it."""

from __future__ import annotations

import json

import yaml

from test_gatectl import EX_DATAERR, EX_NOINPUT, EX_USAGE, current_revision, fresh  # noqa: F401  (fixture)


def history_revisions(gatectl) -> list[int]:
    return [entry["revision"] for entry in gatectl.json("history", "--limit", "0").get("entries", [])]


def test_unchanged_enable_commits_nothing_and_unset_removes(fresh):
    _, gatectl = fresh
    out = gatectl.ok("enable", "InPlacePodVerticalScaling", "--component", "kubelet", "--reason", "canary")
    assert out.startswith("applied at revision 2")
    audited = history_revisions(gatectl)

    out = gatectl.ok("enable", "InPlacePodVerticalScaling", "--component", "kubelet", "--reason", "again")
    assert out.startswith("unchanged at revision 2"), out
    assert "unchanged: set InPlacePodVerticalScaling=true at component kubelet" in out
    assert current_revision(gatectl) == 2 and history_revisions(gatectl) == audited
    response = gatectl.json("set", "kubelet", "--feature-gates=InPlacePodVerticalScaling=true", "--reason", "again")
    assert response["unchanged"] is True and response["revision"] == 2

    out = gatectl.ok("unset", "InPlacePodVerticalScaling", "--component", "kubelet", "--reason", "canary over")
    assert out.startswith("applied at revision 3") and "removed feature_override" in out
    assert gatectl.json("features", "get", "InPlacePodVerticalScaling").get("overrides", []) == []
    out = gatectl.ok("unset", "InPlacePodVerticalScaling", "--component", "kubelet", "--reason", "again")
    assert out.startswith("unchanged at revision 3"), out
    out = gatectl.ok("unset", "--api", "batch/v1beta1", "--component", "kube-apiserver", "--reason", "nothing there")
    assert out.startswith("unchanged at revision 3"), out
    assert "name a feature" in gatectl.fails(EX_USAGE, "unset", "--component", "kubelet", "--reason", "x")
    assert "--reason" in gatectl.fails(EX_USAGE, "unset", "InPlacePodVerticalScaling", "--component", "kubelet")

    dry = gatectl.json("enable", "InPlacePodVerticalScaling", "--component", "kubelet", "--reason", "check", "--dry-run")
    assert dry["dryRun"] is True and current_revision(gatectl) == 3


def test_unknown_components_are_refused_with_a_suggestion_unless_forced(fresh):
    _, gatectl = fresh
    err = gatectl.fails(EX_NOINPUT, "enable", "InPlacePodVerticalScaling", "--component", "kube-schedular",
                        "--reason", "typo")
    assert err.startswith("gatectl: NOT_FOUND: ") and "did you mean kube-scheduler?" in err and "--force" in err
    assert current_revision(gatectl) == 1
    err = gatectl.fails(EX_NOINPUT, "enable", "InPlacePodVerticalScalng", "--component", "kubelet", "--reason", "typo")
    assert "did you mean InPlacePodVerticalScaling?" in err
    # With --param the feature is read first (Features/Get): its NOT_FOUND suggests too.
    err = gatectl.fails(EX_NOINPUT, "enable", "GracefulNodeShutdwn", "--component", "kubelet", "--param",
                        "shutdown_grace_period=45s", "--reason", "typo")
    assert "did you mean GracefulNodeShutdown?" in err
    assert "did you mean" in gatectl.fails(EX_NOINPUT, "features", "get", "ContextualLoging")
    out = gatectl.ok("disable", "ContextualLogging", "--component", "kube-future", "--reason", "ahead", "--force")
    assert out.startswith("applied at revision 2")


MANIFEST = """\
apiVersion: gatehouse/v1
kind: GateState
global:
  features:
    ContextualLogging: true
components:
  kubelet:
    features:
      GracefulNodeShutdown:
        enabled: true
        parameters:
          shutdown_grace_period: 45s
    instances:
      node-17:
        features:
          SidecarContainers: false
  kube-apiserver:
    apis:
      batch/v1beta1: true
"""


def test_apply_diff_export_round_trip(fresh, tmp_path):
    _, gatectl = fresh
    gates = tmp_path / "gates.yaml"
    gates.write_text(MANIFEST)

    result = gatectl("diff", "-f", str(gates))
    assert result.returncode == 1, result
    assert result.stdout.splitlines() == [
        "+ feature ContextualLogging at global: true",
        "+ api batch/v1beta1 at component kube-apiserver: true",
        "+ feature GracefulNodeShutdown at component kubelet: true {shutdown_grace_period=45s}",
        "+ feature SidecarContainers at instance kubelet/node-17: false",
    ], result.stdout  # global first, then components by name, each before its instances

    dry = gatectl.json("apply", "-f", str(gates), "--reason", "check", "--dry-run")
    assert dry["dryRun"] is True and dry["revision"] == 1 and len(dry["applied"]) == 4
    assert current_revision(gatectl) == 1

    out = gatectl.ok("apply", "-f", str(gates), "--reason", "declared")
    assert out.startswith("applied at revision 2"), out  # one batch, one revision
    assert current_revision(gatectl) == 2
    (entry,) = [e for e in gatectl.json("history", "--limit", "0")["entries"] if e["revision"] == 2]
    assert entry["reason"] == "declared" and len(entry["changes"]) == 4

    exported = gatectl.ok("export")
    assert yaml.safe_load(exported) == yaml.safe_load(MANIFEST)
    assert gatectl("diff", "-f", str(gates)).returncode == 0
    exported_file = tmp_path / "exported.yaml"
    exported_file.write_text(exported)
    out = gatectl.ok("apply", "-f", str(exported_file), "--reason", "no-op", "--prune")
    assert out.startswith("unchanged at revision 2"), out
    assert current_revision(gatectl) == 2

    # Edit: a parameter changes, an instance override goes; without --prune it stays.
    edited = yaml.safe_load(MANIFEST)
    edited["components"]["kubelet"]["features"]["GracefulNodeShutdown"]["parameters"]["shutdown_grace_period"] = "1m"
    del edited["components"]["kubelet"]["instances"]
    gates.write_text(yaml.safe_dump(edited))
    result = gatectl("diff", "-f", str(gates))
    assert result.returncode == 1 and result.stdout.splitlines() == [
        "~ feature GracefulNodeShutdown at component kubelet: true {shutdown_grace_period=45s} -> "
        "true {shutdown_grace_period=1m}",
    ], result.stdout
    gatectl.ok("apply", "-f", str(gates), "--reason", "longer drains")
    after = yaml.safe_load(gatectl.ok("export"))
    assert after["components"]["kubelet"]["features"]["GracefulNodeShutdown"]["parameters"] == {
        "shutdown_grace_period": "1m"}
    assert after["components"]["kubelet"]["instances"]["node-17"]["features"] == {"SidecarContainers": False}

    result = gatectl("diff", "-f", str(gates), "--prune")
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["- feature SidecarContainers at instance kubelet/node-17 (was false)"]
    gatectl.ok("apply", "-f", str(gates), "--prune", "--reason", "file is the truth")
    assert yaml.safe_load(gatectl.ok("export")) == edited
    assert gatectl("diff", "-f", str(gates), "--prune").returncode == 0


def test_apply_refuses_bad_files_with_their_line(fresh, tmp_path):
    _, gatectl = fresh
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: gatehouse/v1\nkind: GateState\nglobal:\n  features:\n    ContextualLoging: true\n")
    err = gatectl.fails(EX_DATAERR, "apply", "-f", str(bad), "--reason", "x")
    assert err.strip() == (f"gatectl: INVALID_MANIFEST: {bad}:5:5: unknown feature ContextualLoging: no feature of that "
                           "name is defined (names are case-sensitive); did you mean ContextualLogging?")
    bad.write_text("apiVersion: gatehouse/v1\nkind: GateState\ncomponents:\n  kubelet:\n    feature: {}\n")
    err = gatectl.fails(EX_DATAERR, "diff", "-f", str(bad))
    assert f"{bad}:5:5: unknown key \"feature\"" in err and "did you mean features?" in err
    assert "cannot read" in gatectl.fails(EX_NOINPUT, "apply", "-f", str(tmp_path / "missing.yaml"), "--reason", "x")
    assert current_revision(gatectl) == 1


def test_manifest_commands_have_help_with_the_format(fresh):
    _, gatectl = fresh
    for command in ("apply", "diff", "export"):
        out = gatectl.ok(command, "--help")
        assert "apiVersion: gatehouse/v1" in out and "Examples:" in out, out
    # The help's example is a real manifest for the example catalog: diff reads it from stdin, apply applies it.
    lines = gatectl.ok("apply", "--help").splitlines()
    start = lines.index("  apiVersion: gatehouse/v1")
    end = lines.index("", start)
    example = "\n".join(line[2:] for line in lines[start:end]) + "\n"
    assert gatectl("diff", "-f", "-", stdin=example).returncode == 1
    assert gatectl.ok("apply", "-f", "-", "--reason", "help example", stdin=example).startswith("applied at revision 2")
    assert yaml.safe_load(gatectl.ok("export")) == yaml.safe_load(example)
