"""The build ships bytecode that Lambda's python3.12 uses as it is (issue #12).

Lambda mounts the layer and the function code read-only, so a module without a usable .pyc is
compiled from source at every cold start. Every ``.py`` of the built layer and functions must have
its ``__pycache__/<name>.cpython-312.pyc``, unchecked-hash (PEP 552: the flags word is 0b01, and
Python then never looks at the source) and made from that very source (the hash it carries).
"""

import importlib.util
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.template import ROOT
from tests.artifact.conftest import LAYER_SOURCE, Build, python312, run_function
from tests.support.functions import FUNCTIONS

LAYER_BUILD = LAYER_SOURCE / "layer_build.py"
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
    assert console == sorted(p.name for p in (ROOT / "functions" / "api" / "console").iterdir())


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


def _compile(tree: Path) -> None:
    """The build's compile step, as layers/boxoffice/Makefile runs it."""
    subprocess.run([python312(), str(LAYER_BUILD), "compile", str(tree), "/opt/python"], check=True)


def test_bytecode_a_local_run_left_in_the_sources_is_replaced_not_shipped(tmp_path: Path) -> None:
    """compileall keeps a .pyc it finds up to date by timestamp; the build removes them first."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text("ANSWER = 42\n")
    py_compile.compile(str(package / "mod.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    _compile(tmp_path)
    assert bytecode_faults(tmp_path) == (1, [])


def test_the_same_sources_compile_to_the_same_bytes_wherever_the_build_runs(tmp_path: Path) -> None:
    """The Lambda path is compiled in, not the build's: an unchanged layer zips alike and publishes no version."""
    trees = [tmp_path / "one", tmp_path / "elsewhere" / "two"]
    for tree in trees:
        shutil.copytree(ROOT / "functions", tree, ignore=shutil.ignore_patterns("__pycache__"))
        (tree / "shapes.py").write_text(
            "KINDS = {'order', 'refund', 'credit'}\n\ndef kind(x):\n    return x in KINDS\n"
        )
        _compile(tree)
    one, two = ({p.relative_to(t): p.read_bytes() for p in t.rglob("*.pyc")} for t in trees)
    assert len(one) >= 2
    assert one == two
