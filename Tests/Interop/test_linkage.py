"""The server links the system OpenSSL (libssl.so.3, libcrypto.so.3), not a bundled copy."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest


def test_links_system_libssl_and_libcrypto(gatehouse_bin):
    ldd = shutil.which("ldd")
    if ldd is None:
        pytest.skip("ldd not installed")
    out = subprocess.run([ldd, str(gatehouse_bin)], capture_output=True, text=True, check=True).stdout
    assert "not found" not in out, out
    for lib in ("libssl.so.3", "libcrypto.so.3"):
        m = re.search(rf"^\s*{re.escape(lib)} => (\S+)", out, re.M)
        assert m, f"{lib} is not a dependency of {gatehouse_bin}:\n{out}"
        assert re.match(r"^/(usr/)?lib(64)?/", m.group(1)), f"{lib} resolves outside the system: {m.group(1)}"
