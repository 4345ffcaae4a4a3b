"""What the tests of the C benchmark drivers (test_toggle_driver.py,
test_subscriber_driver.py) share: building a driver with its build.sh,
running it against a config, writing a config like the server's admin.conf
with some keys changed, and a CA that did not sign the server's certificate.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

BENCHMARKS = REPO / "Benchmarks"


def driver_fixture(driver_dir: str):
    """A module-scoped fixture `driver`: the binary of Benchmarks/<driver_dir>,
    built (or found up to date) by its build.sh, which must compile it without
    warnings and print only the binary's path."""

    @pytest.fixture(scope="module")
    def driver() -> Path:
        if shutil.which("cc") is None:
            pytest.skip("no C compiler (cc) on this machine")
        build = BENCHMARKS / driver_dir / "build.sh"
        built = subprocess.run([str(build)], capture_output=True, text=True, timeout=600)
        assert built.returncode == 0, f"build.sh failed ({built.returncode}):\n{built.stdout}\n{built.stderr}"
        assert "warning" not in built.stderr, f"the driver compiles with warnings:\n{built.stderr}"
        path = Path(built.stdout.strip().splitlines()[-1])
        assert path.is_file(), f"build.sh printed {path!r}, which is not a file"
        return path

    return driver


def write_config(path: Path, conf: dict, **changes: str) -> Path:
    """A client config like the server's admin.conf, with some keys replaced or added."""
    values = {**{k: conf[k] for k in ("server", "ca", "certificate", "key")}, **changes}
    path.write_text("# test config\n" + "".join(f"{k}: {v}\n" for k, v in values.items()))
    return path


def run_driver(driver: Path, config: Path, *args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """The driver run with --config `config` and `args`, its output captured."""
    return subprocess.run([str(driver), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, **kw)


def table_rows(run: subprocess.CompletedProcess, server, header: str, row: re.Pattern, first_column: list[int]) -> list[re.Match]:
    """The rows of a successful run's table, one per count in `first_column`,
    each matching `row`; the run must have exited 0 and printed `header`."""
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}\n{server.logs()}"
    lines = run.stdout.splitlines()
    assert header in lines, run.stdout
    rows = [row.match(line) for line in lines[lines.index(header) + 1:]]
    assert all(rows) and len(rows) == len(first_column), f"expected {len(first_column)} table rows:\n{run.stdout}"
    assert [int(r.group(1)) for r in rows] == first_column
    return rows


@pytest.fixture(scope="module")
def other_ca_cert(tmp_path_factory) -> Path:
    """A freshly made CA certificate that did not sign the server's certificate."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not installed")
    d: Path = tmp_path_factory.mktemp("driver-other-ca")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Not The Gatehouse CA",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   check=True, capture_output=True, cwd=d)
    return d / "ca.crt"
