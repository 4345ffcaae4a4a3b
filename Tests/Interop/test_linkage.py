"""The server links the system OpenSSL (libssl.so.3, libcrypto.so.3), not a bundled copy,
and allocates with jemalloc, not glibc's malloc."""

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


def test_allocates_with_jemalloc(gatehouse_bin):
    """jemalloc is linked ahead of libc, so it is the malloc every library calls: with
    MALLOC_CONF=stats_print:true it prints its statistics when the process exits."""
    ldd = shutil.which("ldd")
    if ldd is None:
        pytest.skip("ldd not installed")
    out = subprocess.run([ldd, str(gatehouse_bin)], capture_output=True, text=True, check=True).stdout
    libs = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert any(lib.startswith("libjemalloc.so") for lib in libs), out
    assert libs.index(next(lib for lib in libs if lib.startswith("libjemalloc.so"))) < libs.index("libc.so.6"), out
    run = subprocess.run([str(gatehouse_bin), "--help"], capture_output=True, text=True,
                         env={"MALLOC_CONF": "stats_print:true"}, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "jemalloc statistics" in run.stderr + run.stdout, (run.stdout, run.stderr[-500:])
