"""The build ships bytecode that Lambda's python3.12 uses as it is (issue #12).

Lambda mounts the layer and the function code read-only, so a module without a usable .pyc is
compiled from source at every cold start. Every ``.py`` of the built layer and functions must have
its ``__pycache__/<name>.cpython-312.pyc``, unchecked-hash (PEP 552: the flags word is 0b01, and
Python then never looks at the source) and made from that very source (the hash it carries).
"""

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.artifact.conftest import Build, run_function
from tests.support.functions import FUNCTIONS

UNCHECKED_HASH = 0b01
"""PEP 552's flags word: bit 0 says hash-based, bit 1 (check_source) is off."""


def bytecode_faults(tree: Path) -> tuple[int, list[str]]:
    """How many ``.py`` files ``tree`` holds, and what is wrong with the bytecode of each that fails."""
    assert sys.implementation.cache_tag == "cpython-312", "the check reads bytecode as Python 3.12 does"
    sources = sorted(tree.rglob("*.py"))
    faults = []
    for source in sources:
        name = source.relative_to(tree)
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if not pyc.is_file():
            faults.append(f"{name}: no {pyc.name}")
            continue
        header = pyc.read_bytes()[:16]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4] != importlib.util.MAGIC_NUMBER:
            faults.append(f"{name}: magic number {header[:4].hex()}, not Python 3.12's")
        elif flags != UNCHECKED_HASH:
            faults.append(f"{name}: flags {flags:#04b}, not unchecked-hash ({UNCHECKED_HASH:#04b})")
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            faults.append(f"{name}: compiled from another source")
    return len(sources), faults


def test_every_module_of_the_built_layer_has_unchecked_hash_bytecode_of_its_own_source(build: Build) -> None:
    count, faults = bytecode_faults(build.layer)
    assert count > 1000, "the built layer holds its dependencies' modules and the boxoffice package"
    assert faults == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_module_of_a_built_function_has_unchecked_hash_bytecode_of_its_own_source(
    build: Build, function: str
) -> None:
    count, faults = bytecode_faults(build.function(function))
    assert count >= 1, "app.py at least"
    assert faults == []


def test_the_api_function_ships_its_console_files_beside_its_bytecode(build: Build) -> None:
    console = sorted(p.name for p in (build.function("api") / "console").iterdir())
    assert console == sorted(p.name for p in (Path(__file__).parents[2] / "functions/api/console").iterdir())


def _shipped(report: dict[str, Any], build: Build) -> list[str]:
    """The files of the build that the function's interpreter compiled from source."""
    return [path for path in report["compiled"] if path.startswith(str(build.root))]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_built_function_imports_without_compiling_a_module_it_ships(
    build: Build, function: str, tmp_path: Path
) -> None:
    """Python 3.12 takes every module of the function and the layer from the shipped bytecode."""
    report = run_function(function, [], build, tmp_path)
    assert any(m.startswith("boxoffice.") for m in report["cold_modules"])
    assert _shipped(report, build) == []
