"""The build steps `sam build` runs for the layer and the functions (BuildMethod makefile, issue #12).

``layers/boxoffice/Makefile`` and ``functions/Makefile`` call this script; ``bench/imports.py``
imports it, so the bytecode the bench measures is made exactly as the bytecode that ships.

- ``unpack WHEELS TARGET``: each downloaded wheel unzipped into TARGET, its ``.data/purelib`` and
  ``.data/platlib`` moved up. That is what SAM's own python3.12 build does with the wheels it
  downloads (no ``pip install``: no RECORD rewritten, no INSTALLER, scripts left in ``.data``), so
  the layer holds the same files as before, plus its bytecode.
- ``compile TREE RUNTIME_DIR``: every ``.py`` under TREE compiled to
  ``__pycache__/*.cpython-312.pyc`` (see ``compile_tree``).
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

RUNTIME = (3, 12)
"""Lambda's python3.12 runtime. A .pyc starts with the magic number of the Python that wrote it
(the same for every 3.12.x release); Python ignores a .pyc with another magic number and compiles
the source again, so the bytecode must be written by a 3.12 interpreter to be of any use."""

LAYER_DIR = "/opt/python"
"""Where Lambda mounts a Python layer's ``python/`` folder."""

FUNCTION_DIR = "/var/task"
"""Where Lambda puts a function's own code."""


def unpack_wheels(wheels: Path, target: Path) -> list[str]:
    """Unzip every ``*.whl`` in ``wheels`` into ``target`` as SAM's python3.12 build does; their names."""
    names = sorted(p.name for p in wheels.glob("*.whl"))
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        with zipfile.ZipFile(wheels / name) as wheel:
            wheel.extractall(target)
        distribution, version = name.split("-")[:2]
        data = target / f"{distribution}-{version}.data"
        for scheme in ("purelib", "platlib"):
            if (data / scheme).is_dir():
                shutil.copytree(data / scheme, target, dirs_exist_ok=True)
                shutil.rmtree(data / scheme)
    return names


def compile_command(tree: Path, runtime_dir: str, python: str = sys.executable) -> list[str]:
    """The one command that compiles ``tree`` as deployed (see ``compile_tree``)."""
    return [
        python,
        "-m",
        "compileall",
        "-q",
        "-j0",
        "--invalidation-mode",
        "unchecked-hash",
        "-d",
        runtime_dir,
        str(tree),
    ]


def compile_tree(tree: Path, runtime_dir: str, python: str = sys.executable) -> None:
    """Compile every ``.py`` under ``tree`` with ``python`` (a 3.12), after removing any bytecode there.

    ``unchecked-hash`` (PEP 552): the .pyc carries a hash of its source and Python loads it without
    looking at the source at all. Lambda's ``/opt`` and ``/var/task`` are read-only, so a .pyc it
    rejects is compiled again, in memory, at every cold start. A timestamp .pyc (the default) holds
    the source's mtime and size, which a zip, an upload and an unzip need not keep; a checked-hash
    one reads and hashes the source at every import. An unchecked one is right here because the
    layer and the function code never change once published.

    ``runtime_dir`` (``-d``) is the folder the tree becomes on Lambda; it is the path compiled into
    each code object, so the bytes do not depend on where the build ran and an unchanged layer
    builds to the same zip (``PYTHONHASHSEED=0`` keeps set constants in one order, too). Bytecode
    left in the sources (a local run's timestamp .pyc) is removed first: compileall would keep it.
    """
    _require_runtime(python)
    for cache in sorted(tree.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for stray in tree.rglob("*.pyc"):
        stray.unlink()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(compile_command(tree, runtime_dir, python), check=True, env=env)  # noqa: S603 (the build's own interpreter)


def _require_runtime(python: str) -> None:
    """Refuse an interpreter whose bytecode Lambda's python3.12 would throw away."""
    done = subprocess.run(  # noqa: S603 (the build's own interpreter)
        [python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True, check=True
    )
    found = tuple(int(part) for part in done.stdout.split())
    if found != RUNTIME:
        raise SystemExit(
            f"{python} is Python {'.'.join(map(str, found))}; the layer's bytecode must be compiled by "
            f"Python {'.'.join(map(str, RUNTIME))} (set PYTHON312)"
        )


def main(argv: list[str]) -> int:
    """``unpack WHEELS TARGET`` or ``compile TREE RUNTIME_DIR``."""
    match argv:
        case ["unpack", wheels, target]:
            names = unpack_wheels(Path(wheels), Path(target))
            if not names:
                raise SystemExit(f"no wheels in {wheels}")
        case ["compile", tree, runtime_dir]:
            compile_tree(Path(tree), runtime_dir)
        case _:
            raise SystemExit(f"usage: {Path(__file__).name} unpack WHEELS TARGET | compile TREE RUNTIME_DIR")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
