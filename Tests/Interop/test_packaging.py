"""The library products can be used by another package that depends on Gatehouse by version.

SwiftPM refuses such a dependency when a target of the product it uses has unsafe
build flags ("the target 'X' in product 'Y' contains unsafe build flags"), so no
target a library product reaches may have any; the executables and the server's
own modules may.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_library_products_reach_no_target_with_unsafe_flags():
    swift = shutil.which("swift")
    if swift is None:
        pytest.skip("swift not installed")
    manifest = json.loads(subprocess.run([swift, "package", "dump-package"], cwd=ROOT, capture_output=True,
                                         text=True, check=True, timeout=300).stdout)
    targets = {target["name"]: target for target in manifest["targets"]}

    def reached(name: str, seen: set[str]) -> set[str]:
        if name in seen or name not in targets:
            return seen  # a product of another package
        seen.add(name)
        for dependency in targets[name]["dependencies"]:
            for kind in ("byName", "target"):
                if kind in dependency:
                    reached(dependency[kind][0], seen)
        return seen

    libraries = [product for product in manifest["products"] if "library" in product["type"]]
    assert {product["name"] for product in libraries} >= {"GatehouseClient", "GatehouseSDK"}
    for product in libraries:
        closure: set[str] = set()
        for name in product["targets"]:
            reached(name, closure)
        unsafe = sorted(name for name in closure
                        if any("unsafeFlags" in setting["kind"] for setting in targets[name].get("settings", [])))
        assert not unsafe, f"{product['name']} reaches targets with unsafe flags: {unsafe}"
