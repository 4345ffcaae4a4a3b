"""Bad input aimed at the domain rules, from outside, against a live server (issue 13, items 5, 6, 11).

- a parameter regex that makes a backtracking engine spin (`^(a+)+$` on 40 a's and "!");
- dependency chains of 50,000 features (once a crash) and of exactly the limit;
- control characters in names, reasons, descriptions and values, which once forged
  log lines and reached the terminal through gatectl's tables.

Each test has a server of its own; a well-behaved admin call is timed during the attack.
"""

from __future__ import annotations

import threading
import time

import pytest
import yaml

from conftest import start_server
from test_gatectl import EX_DATAERR, Gatectl, row_for

import gatehouse_wire as wire


@pytest.fixture
def server_and_admin(gatehouse_bin, gatectl_bin, tmp_path):
    srv = start_server(gatehouse_bin, tmp_path / "data")
    yield srv, Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    rc = srv.stop()
    assert rc == 0, f"the server exited with {rc} after SIGTERM\n{srv.logs()}"


def import_catalog(gatectl: Gatectl, catalog: dict, tmp_path, name: str, expect: int = 0, timeout: float = 120):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(catalog, width=1 << 20))
    # Decoding megabytes of YAML takes seconds in a debug build: a deadline to match.
    result = gatectl("catalog", "import", str(path), "--reason", name, "--timeout", str(timeout), timeout=timeout + 10)
    assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def timed_info(gatectl: Gatectl) -> float:
    started = time.monotonic()
    gatectl.ok("info")
    return time.monotonic() - started


def test_catastrophic_regex_is_matched_in_linear_time(server_and_admin, tmp_path):
    srv, gatectl = server_and_admin
    import_catalog(gatectl, {"features": [
        {"name": "Evil", "stage": "alpha", "default_enabled": False,
         "parameters": [{"name": "p", "type": "string", "regex": "^(a+)+$", "default": "a"}]},
        {"name": "Plain", "stage": "alpha", "default_enabled": False},
    ]}, tmp_path, "evil")
    started = time.monotonic()
    err = gatectl.fails(EX_DATAERR, "enable", "Evil", "--global", "--param", "p=" + "a" * 40 + "!", "--reason", "spin")
    assert time.monotonic() - started < 10
    assert "does not match" in err
    # Writes were never held up.
    gatectl.ok("enable", "Plain", "--global", "--reason", "still writable")
    gatectl.ok("enable", "Evil", "--global", "--param", "p=" + "a" * 40, "--reason", "matches")
    srv.assert_alive()


def test_backtracking_only_regex_is_refused_when_defined(server_and_admin, tmp_path):
    _, gatectl = server_and_admin
    result = import_catalog(gatectl, {"features": [
        {"name": "Backref", "stage": "alpha", "default_enabled": False,
         "parameters": [{"name": "p", "type": "string", "regex": "(a)\\1", "default": "aa"}]},
    ]}, tmp_path, "backref", expect=EX_DATAERR)
    assert "INVALID_ARGUMENT" in result.stderr and "backreferences" in result.stderr


def chain(count: int, prefix: str = "F") -> dict:
    return {"features": [
        {"name": f"{prefix}{i}", "stage": "alpha", "default_enabled": False,
         **({"dependencies": [f"{prefix}{i + 1}"]} if i + 1 < count else {})}
        for i in range(count)
    ]}


def test_a_fifty_thousand_chain_is_refused_and_the_server_lives(gatehouse_bin, gatectl_bin, tmp_path):
    # 50,000 definitions take about 3 MB of YAML: the attack needs a server that accepts such frames.
    srv = start_server(gatehouse_bin, tmp_path / "data", ("--max-frame-size", str(8 << 20)))
    gatectl = Gatectl(gatectl_bin, srv.admin_conf_path, tmp_path)
    import_catalog(gatectl, {"features": [{"name": "Plain", "stage": "alpha", "default_enabled": False}]}, tmp_path, "plain")
    outcome: dict = {}

    def attack():
        started = time.monotonic()
        outcome["result"] = import_catalog(gatectl, chain(50_000), tmp_path, "deep", expect=EX_DATAERR, timeout=300)
        outcome["elapsed"] = time.monotonic() - started

    attacker = threading.Thread(target=attack)
    attacker.start()
    # A well-behaved admin meanwhile: toggles and reads are answered while the import is decoded and checked.
    toggles: list[float] = []
    while attacker.is_alive() and len(toggles) < 20:
        started = time.monotonic()
        gatectl.ok("enable" if len(toggles) % 2 == 0 else "disable", "Plain", "--global", "--reason", "meanwhile")
        toggles.append(time.monotonic() - started)
        toggles.append(timed_info(gatectl))
    attacker.join()
    result, elapsed = outcome["result"], outcome["elapsed"]
    print(f"50,000-long chain refused in {elapsed:.1f}s; admin calls meanwhile: {len(toggles)}, "
          f"slowest {max(toggles, default=0):.2f}s")
    assert max(toggles, default=0) < 5
    assert "dependency chain too long" in result.stderr and "50000 features long" in result.stderr, result.stderr
    assert "F0 → F1 → F2 → … → F49997 → F49998 → F49999" in result.stderr
    srv.assert_alive()
    assert timed_info(gatectl) < 5
    assert srv.stop() == 0


def test_a_chain_at_the_limit_is_accepted(server_and_admin, tmp_path):
    _, gatectl = server_and_admin
    started = time.monotonic()
    import_catalog(gatectl, chain(64, "L"), tmp_path, "limit")
    assert time.monotonic() - started < 30
    # The whole chain on at a component, in two Sets (at most 32 changes each), the needed half
    # first (L0 needs L1 … needs L63): the second one's checks and resolution walk all 64.
    for half in (range(32, 64), range(32)):
        gatectl.ok("set", "kubelet", "--feature-gates", ",".join(f"L{i}=true" for i in half), "--reason", "all on",
                   "--force")  # the chain catalog names no component
    out = gatectl.ok("explain", "kubelet", "--feature", "L0")
    assert row_for(out, "L0")[1] == "on", out


def test_control_characters_never_reach_the_terminal_or_forge_log_lines(server_and_admin, tmp_path):
    srv, gatectl = server_and_admin
    escape = "\x1b]0;owned\x07\x1b[2J"
    import_catalog(gatectl, {"features": [
        {"name": "Shown", "stage": "alpha", "default_enabled": False, "components": ["kubelet"],
         "description": f"looks fine{escape}\nFORGED LINE",
         "parameters": [{"name": "s", "type": "string", "default": f"x{escape}\u202eexe.txt"}]},
    ]}, tmp_path, "shown")
    gatectl.ok("enable", "Shown", "--component", "kubelet", "--param", f"s=v{escape}", "--reason", "value")
    for args in (("features", "get", "Shown"), ("explain", "kubelet", "--feature", "Shown"), ("features", "list")):
        out = gatectl.ok(*args)
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, (args, out)
        assert not any(line.startswith("FORGED") for line in out.splitlines()), (args, out)
    assert "\\u{1B}]0;owned\\u{7}" in gatectl.ok("features", "get", "Shown")

    # Names with control characters are refused, with the name escaped in the refusal.
    err = gatectl.fails(EX_DATAERR, "enable", "Shown", "--component", "kube\nlet", "--reason", "x")
    assert "\n" not in err.rstrip("\n") and "kube\\nlet" in err, err
    # So is a reason with them.
    err = gatectl.fails(EX_DATAERR, "enable", "Shown", "--component", "kubelet", "--reason", "two\nlines")
    assert "INVALID_ARGUMENT" in err and "control characters" in err, err

    # A method path is the client's text too, and the server logs failed calls with it.
    with srv.connect() as client:
        result = client.unary("/gatehouse.v1.Nope/x\n2026-01-01T00:00:00 critical: FORGED", b"")
        assert result.status == wire.UNIMPLEMENTED
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "x\\n2026-01-01" not in srv.logs():
        time.sleep(0.1)
    logs = srv.stderr_path.read_text(errors="replace")
    assert "x\\n2026-01-01T00:00:00 critical: FORGED" in logs, logs[-3000:]
    assert not any(line.startswith("2026-01-01T00:00:00 critical: FORGED") for line in logs.splitlines())


# --------------------------------------------------------------------------
# Spec and server agree (a client written from PROTOCOL.md and the protos alone)
# --------------------------------------------------------------------------

DEFINE_API = "/gatehouse.v1.Apis/Define"
EXPLAIN = "/gatehouse.v1.Features/Explain"
SET = "/gatehouse.v1.Features/Set"


def test_a_ga_api_defined_without_a_default_is_on(fresh_server, pb):
    with fresh_server.connect() as c:
        api = pb.features.Api(group="batch", version="v1", stage=pb.features.STAGE_GA, components=["kube-apiserver"])
        result = c.unary(DEFINE_API, pb.features.DefineApiRequest(api=api, reason="ga").SerializeToString())
        assert result.status == wire.OK, result.message
        request = pb.features.ExplainRequest(component="kube-apiserver", skip_features=True)
        result = c.unary(EXPLAIN, request.SerializeToString())
        assert result.status == wire.OK, result.message
        response = pb.features.ExplainResponse.FromString(result.response())
        (entry,) = [e for e in response.entries if e.WhichOneof("target") == "api"]
        assert entry.api.enabled, entry


def test_set_of_an_unknown_feature_is_not_found_with_its_documented_details(fresh_server, pb):
    with fresh_server.connect() as c:
        request = pb.features.SetRequest(reason="x")
        change = request.changes.add()
        change.feature = "NoSuchGate"
        change.enabled = True
        # An unset scope is refused, as features.proto says: global is asked for by name.
        unscoped = c.unary(SET, request.SerializeToString())
        assert unscoped.status == wire.INVALID_ARGUMENT, (unscoped.status_name, unscoped.message)
        assert pb.errors.ErrorDetails.FromString(unscoped.details).reason == "INVALID_FIELD"
        getattr(change.scope, "global").SetInParent()  # `global` is a Python keyword
        result = c.unary(SET, request.SerializeToString())
        assert result.status == wire.NOT_FOUND, (result.status_name, result.message)
        details = pb.errors.ErrorDetails.FromString(result.details)
        assert details.reason == "UNKNOWN_FEATURE"
        assert dict(details.metadata) == {"feature": "NoSuchGate"}
