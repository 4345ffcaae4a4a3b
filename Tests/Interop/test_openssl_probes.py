"""`openssl s_client` probes of the live server's TLS: mutual TLS, TLS versions, ALPN.

Each probe sends, once the handshake is done, a client HELLO followed by a
frame of unknown type. A server that accepted the connection answers with its
HELLO ("GHWP" on s_client's stdout) and then GOAWAY PROTOCOL_ERROR and closes,
which ends s_client. A refused handshake shows no "GHWP" at all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import gatehouse_wire as wire

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")

# How a refusal shows in s_client's output: a TLS alert, or the connection ended
# (an alert can be lost to a TCP reset when the server closes with our data unread).
REFUSED = r"alert|unexpected eof|closed|errno=104|connection reset"

PROBE = (wire.encode(wire.Hello([1], [(wire.MAX_FRAME_SIZE, wire.DEFAULT_MAX_FRAME_SIZE)]))
         + bytes.fromhex("00000000" "7f" "00" "00000000"))


class Probe:
    def __init__(self, rc: int, out: bytes, err: bytes, timed_out: bool):
        self.rc, self.out, self.err, self.timed_out = rc, out, err, timed_out
        self.text = out.decode("latin-1") + "\n" + err.decode("latin-1")

    @property
    def served(self) -> bool:
        """Application data flowed: the server's HELLO came back."""
        return b"GHWP" in self.out

    @property
    def tls_version(self) -> str | None:
        m = re.search(r"New, (TLSv[\d.]+), Cipher is", self.text)
        return m.group(1) if m else None

    @property
    def alpn(self) -> str | None:
        m = re.search(r"ALPN protocol: (\S+)", self.text)
        return m.group(1) if m else None

    def __repr__(self) -> str:
        return f"<s_client rc={self.rc} timed_out={self.timed_out}>\n{self.text[-3000:]}"


def s_client(server, *args: str, cert: str | None = None, key: str | None = None,
             alpn: str | None = wire.ALPN, timeout: float = 10) -> Probe:
    cmd = [OPENSSL, "s_client", "-connect", server.address, "-CAfile", server.ca,
           "-verify_return_error", "-ign_eof"]  # -ign_eof: keep reading after stdin ends
    if alpn:
        cmd += ["-alpn", alpn]
    if cert:
        cmd += ["-cert", cert, "-key", key]
    cmd += list(args)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(PROBE, timeout=timeout)
        return Probe(p.returncode, out, err, False)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return Probe(p.returncode, out, err, True)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory) -> tuple[str, str]:
    """A client certificate CN=admin, O=admin from a CA the server does not trust."""
    d: Path = tmp_path_factory.mktemp("other-ca")

    def run(*a):
        subprocess.run([OPENSSL, *a], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Impostor CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=admin/O=admin")
    (d / "ext.cnf").write_text("extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "client.crt")
    return str(d / "client.crt"), str(d / "client.key")


def test_admin_certificate_negotiates_tls13_and_alpn(server):
    p = s_client(server, cert=server.cert, key=server.key)
    assert not p.timed_out, p
    assert p.served, p
    assert p.tls_version == "TLSv1.3", p
    assert p.alpn == wire.ALPN, p
    assert "Verify return code: 0 (ok)" in p.text, p


def test_no_client_certificate_is_refused(server):
    p = s_client(server)
    assert not p.timed_out, f"the server neither refused nor served: {p!r}"
    assert not p.served, p
    assert re.search(REFUSED, p.text, re.I), p


def test_certificate_from_another_ca_is_refused(server, other_ca):
    cert, key = other_ca
    p = s_client(server, cert=cert, key=key)
    assert not p.timed_out, p
    assert not p.served, p
    assert re.search(REFUSED, p.text, re.I), p


def test_tls11_is_refused(server):
    # SECLEVEL=0 so that this OpenSSL really offers TLS 1.1 instead of refusing locally.
    p = s_client(server, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", cert=server.cert, key=server.key)
    assert not p.timed_out, p
    assert not p.served, p
    assert p.rc != 0, p


def test_tls12_with_aead_is_accepted(server):
    p = s_client(server, "-tls1_2", cert=server.cert, key=server.key)
    assert p.served, p
    assert p.tls_version == "TLSv1.2", p
    m = re.search(r"Cipher is (\S+)", p.text)
    assert m and re.search(r"GCM|CHACHA20", m.group(1)), p


def test_tls12_cbc_only_is_refused(server):
    cbc = "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA"
    p = s_client(server, "-tls1_2", "-cipher", cbc, cert=server.cert, key=server.key)
    assert not p.timed_out, p
    assert not p.served, p


def test_wrong_alpn_is_refused(server):
    p = s_client(server, alpn="h2", cert=server.cert, key=server.key)
    assert not p.timed_out, p
    assert not p.served, p


def test_no_alpn_is_accepted(server):
    p = s_client(server, alpn=None, cert=server.cert, key=server.key)
    assert p.served, p


def test_server_keeps_serving_after_probes(server):
    server.assert_alive()
    with server.connect() as c:
        assert c.unary("/gatehouse.v1.Health/Check", b"").status == wire.OK
