"""The Python codec against Tests/Conformance/frames.json (PROTOCOL.md, "Conformance vectors")."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import gatehouse_wire as wire
from conftest import REPO, VECTORS

CASES = json.loads(VECTORS.read_text(encoding="utf-8"))
ERRORS = {"PROTOCOL_ERROR", "FRAME_SIZE_ERROR", "INCOMPLETE"}
FIELDS = {
    "HELLO": {"type", "versions", "settings"},
    "HEADERS": {"type", "stream_id", "path", "timeout_ms", "metadata"},
    "MESSAGE": {"type", "stream_id", "end_stream", "payload"},
    "TRAILERS": {"type", "stream_id", "status", "message", "details"},
    "CANCEL": {"type", "stream_id"},
    "PING": {"type", "ack", "payload"},
    "GOAWAY": {"type", "last_stream_id", "error_code", "debug"},
}


def ids(case):
    return case["name"]


def test_file_is_what_the_generator_makes():
    r = subprocess.run([sys.executable, str(REPO / "Tests" / "Conformance" / "make_vectors.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_file_shape():
    assert isinstance(CASES, list) and CASES
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    for c in CASES:
        assert set(c) <= {"name", "hex", "frames", "error"}, c["name"]
        assert ("frames" in c) or ("error" in c), c["name"]
        bytes.fromhex(c["hex"])
        if "error" in c:
            assert c["error"] in ERRORS, c["name"]
        for f in c.get("frames", []):
            assert set(f) == FIELDS[f["type"]], (c["name"], f)


def test_coverage():
    """Every frame type decodes somewhere, and every error kind is raised somewhere."""
    types = {f["type"] for c in CASES for f in c.get("frames", [])}
    assert types == set(FIELDS)
    assert {c["error"] for c in CASES if "error" in c} == ERRORS
    assert any(len(c.get("frames", [])) > 1 and "error" not in c for c in CASES), "no multi-frame case"
    assert any(c.get("frames") and "error" in c for c in CASES), "no frames-then-error case"
    assert sum(c["name"].startswith("section 8:") for c in CASES) >= 6


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_decode(case):
    frames, error = wire.decode_all(bytes.fromhex(case["hex"]))
    assert [wire.frame_to_json(f) for f in frames] == case.get("frames", [])
    assert error == case.get("error")


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_decode_octet_by_octet(case):
    """A streaming decoder fed one octet at a time reaches the same result, and
    raises FRAME_SIZE_ERROR as soon as it has the 10 header octets."""
    data = bytes.fromhex(case["hex"])
    d = wire.Decoder()
    frames, error, consumed = [], None, 0
    try:
        for i, b in enumerate(data):
            d.feed(bytes([b]))
            consumed = i + 1
            while (f := d.next()) is not None:
                frames.append(f)
    except wire.WireError as e:
        error = e.code
    if error is None and d.pending:
        error = "INCOMPLETE"
    assert [wire.frame_to_json(f) for f in frames] == case.get("frames", [])
    assert error == case.get("error")
    if error == "FRAME_SIZE_ERROR":
        before = sum(len(wire.encode(f)) for f in frames)
        assert consumed == before + wire.HEADER_LEN, "FRAME_SIZE_ERROR must come from the header alone"


@pytest.mark.parametrize("case", [c for c in CASES if c.get("frames")], ids=ids)
def test_reencode(case):
    """Encoding the decoded frames gives back the same octets (the valid prefix, for error cases)."""
    encoded = b"".join(wire.encode(wire.frame_from_json(f)) for f in case["frames"])
    if "error" in case:
        assert case["hex"].startswith(encoded.hex())
        assert len(encoded.hex()) < len(case["hex"])
    else:
        assert encoded.hex() == case["hex"]


def test_trailers_details_are_error_details(pb):
    """The vector with details carries a real serialized gatehouse.v1.ErrorDetails."""
    case = next(c for c in CASES if c["name"] == "TRAILERS error with message and details")
    details = bytes.fromhex(case["frames"][0]["details"])
    ed = pb.errors.ErrorDetails.FromString(details)
    assert ed.reason == "LOCKED_GATE"
    assert dict(ed.metadata) == {"feature": "Foo"}


def test_section8_messages_are_the_documented_protobufs(pb):
    by_name = {c["name"]: c for c in CASES}
    req = by_name["section 8: client MESSAGE"]["frames"][0]["payload"]
    resp = by_name["section 8: server MESSAGE"]["frames"][0]["payload"]
    assert pb.health.HealthCheckRequest.FromString(bytes.fromhex(req)).service == "gatehouse"
    assert pb.health.HealthCheckRequest(service="gatehouse").SerializeToString().hex() == req
    assert (pb.health.HealthCheckResponse.FromString(bytes.fromhex(resp)).status
            == pb.health.HealthCheckResponse.SERVING)
