"""Cold import of each function against a naive handler (issue #12), in one run.

Each sample is a fresh interpreter that imports one handler module (``functions/<name>/app.py``,
or ``bench/naive_handler.py``) and prints how long the import took. The samples are interleaved:
each round imports the naive handler and every function once, in an order rotated from round to
round, so a machine that is busy for a while slows all of them alike. A round runs first untimed,
so every sample reads compiled bytecode. The ratio is a function's median over the naive
handler's median, and the goal is ``GOALS`` (0.5, the webhook 0.35).

A second table shows what shipping bytecode is worth "as deployed": each function imported in a
clean interpreter (``-I -S``) from a layer-like tree (the venv's copies of the distributions the
layer's lock names, plus ``boxoffice``, and the function's folder) that has no bytecode, run with
``-B`` as Lambda runs a build without .pyc files (its ``/opt`` is read-only, so every cold start
compiles each module), against the same tree compiled by the build's own command
(``layers/boxoffice/layer_build.py compile``: unchecked-hash, Python 3.12). Both are interleaved
the same way; the ratio is the compiled median over the uncompiled one. The trees are cached
under ``.cache/bench-imports``, keyed by what they are made of.

``python -m bench.imports`` prints both tables and exits 1 when a function exceeds its goal;
``python -m bench.imports --top webhook`` lists what that function's import spends most on
(``python -X importtime``, cumulative).
"""

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "boxoffice"
LOCK = LAYER / "requirements.txt"
LAYER_BUILD = LAYER / "layer_build.py"
TREES = ROOT / ".cache" / "bench-imports"
NAIVE = "naive"
FLOOR = "floor"
RUNS = 7
GOALS = {"webhook": 0.35}
DEFAULT_GOAL = 0.5
PROBE = """
import importlib.util, sys, time
sys.path.insert(0, "layers/boxoffice")
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - start)
"""
ENV = {
    "TABLE_NAME": "bench",
    "EVENT_BUS_NAME": "bench",
    "SECRETS_PREFIX": "boxoffice/bench/",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "boxoffice",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@dataclass(frozen=True)
class Row:
    """One handler's samples, and how its median compares with the naive handler's."""

    name: str
    samples: list[float]
    ratio: float
    goal: float | None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def within(self) -> bool:
        return self.goal is None or self.ratio <= self.goal


def function_names() -> list[str]:
    return sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").is_file())


def module_path(name: str) -> str:
    """The handler module of ``name``, relative to the repository (the naive and floor ones are the bench's)."""
    return f"bench/{name}_handler.py" if name in (NAIVE, FLOOR) else f"functions/{name}/app.py"


def _command(name: str, *options: str) -> list[str]:
    return [sys.executable, *options, "-c", PROBE.format(path=module_path(name))]


def _env() -> dict[str, str]:
    """The bench's settings over this environment, with bytecode caching left on (see above)."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, **ENV}


def cold_import_seconds(name: str) -> float:
    """One sample: the wall time to import ``name``'s handler module in a new interpreter."""
    done = subprocess.run(_command(name), cwd=ROOT, env=_env(), capture_output=True, text=True, check=True)
    return float(done.stdout)


def measure(names: list[str], runs: int = RUNS) -> dict[str, list[float]]:
    """``runs`` samples of each name, interleaved round by round after one untimed round."""
    for name in names:
        cold_import_seconds(name)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(runs):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(cold_import_seconds(name))
    return samples


def report(runs: int = RUNS) -> list[Row]:
    """The naive handler's row, the floor's, then each function's, with its ratio and goal."""
    names = [NAIVE, FLOOR, *function_names()]
    samples = measure(names, runs)
    naive = statistics.median(samples[NAIVE])
    return [
        Row(
            name,
            samples[name],
            statistics.median(samples[name]) / naive,
            None if name in (NAIVE, FLOOR) else GOALS.get(name, DEFAULT_GOAL),
        )
        for name in names
    ]


def render(rows: list[Row], runs: int = RUNS) -> str:
    """The table ``make bench-imports`` prints; "over floor" is a median past the floor's, in naive handlers."""
    medians = {row.name: row.median for row in rows}
    lines = [
        f"cold import, median of {runs} fresh interpreters each, interleaved in one run",
        f"{'handler':<12} {'median':>9} {'min-max':>15} {'ratio':>6} {'over floor':>10} {'goal':>6}",
    ]
    for row in rows:
        spread = f"{min(row.samples) * 1000:.0f}-{max(row.samples) * 1000:.0f} ms"
        over_floor = (
            ""
            if row.name in (NAIVE, FLOOR) or FLOOR not in medians
            else f"{(row.median - medians[FLOOR]) / medians[NAIVE]:+.2f}x"
        )
        goal = "" if row.goal is None else f"{row.goal:.2f}x"
        verdict = "" if row.goal is None else ("ok" if row.within else "EXCEEDS GOAL")
        lines.append(
            f"{row.name:<12} {row.median * 1000:6.1f} ms {spread:>15} {row.ratio:5.2f}x {over_floor:>10} {goal:>6}  {verdict}"
        )
    over = [row.name for row in rows if not row.within]
    lines.append(f"exceed the goal: {', '.join(over)}" if over else "every function is within its goal")
    return "\n".join(lines)


@dataclass(frozen=True)
class Tree:
    """A layer-like tree: ``layer/python`` (Lambda's ``/opt/python``) and ``functions/<name>`` (``/var/task``)."""

    root: Path

    @property
    def layer(self) -> Path:
        return self.root / "layer" / "python"

    def function(self, name: str) -> Path:
        return self.root / "functions" / name


def _locked_names() -> list[str]:
    """The distributions the layer's lock pins."""
    return re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", LOCK.read_text(), flags=re.MULTILINE)


def _sources(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def _copy_layer(layer: Path) -> None:
    """The venv's files of each locked distribution (no bytecode), and the ``boxoffice`` package."""
    for name in _locked_names():
        distribution = metadata.distribution(name)
        for file in distribution.files or []:
            if "__pycache__" in file.parts or file.suffix == ".pyc" or file.parts[0] == "..":
                continue  # bytecode, and scripts installed outside site-packages
            target = layer / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(distribution.locate_file(file), target)
    for source in _sources(LAYER / "boxoffice"):
        target = layer / source.relative_to(LAYER)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _tree_key() -> str:
    """A hash of what the trees are made of: the lock, the installed versions, our sources, the compiler."""
    digest = hashlib.sha256(sys.version.encode())
    for name in _locked_names():
        digest.update(f"{name}=={metadata.version(name)}".encode())
    for path in [LOCK, LAYER_BUILD, *_sources(LAYER / "boxoffice"), *_sources(ROOT / "functions")]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def deployed_trees() -> tuple[Tree, Tree]:
    """The tree without bytecode and the same tree compiled as the build compiles, cached by ``_tree_key``."""
    key = _tree_key()
    root = TREES / key
    plain, compiled = Tree(root / "source"), Tree(root / "bytecode")
    if root.is_dir():
        return plain, compiled
    staging = TREES / f".{key}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    _copy_layer(Tree(staging / "source").layer)
    for name in function_names():
        shutil.copytree(
            ROOT / "functions" / name, Tree(staging / "source").function(name), dirs_exist_ok=True
        )
    shutil.copytree(staging / "source", staging / "bytecode")
    built = Tree(staging / "bytecode")
    for tree, runtime_dir in [(built.layer, "/opt/python")] + [
        (built.function(n), "/var/task") for n in function_names()
    ]:
        # The build's own command (layers/boxoffice/Makefile and functions/Makefile run it too).
        subprocess.run([sys.executable, str(LAYER_BUILD), "compile", str(tree), runtime_dir], check=True)
    for stale in Tree(staging / "source").root.rglob("__pycache__"):
        shutil.rmtree(stale)
    staging.rename(root)
    for other in TREES.iterdir():
        if other != root:
            shutil.rmtree(other, ignore_errors=True)
    return plain, compiled


DEPLOYED_PROBE = """
import importlib, sys, time
sys.path[:0] = [{function!r}, {layer!r}]
start = time.perf_counter()
importlib.import_module("app")
print(time.perf_counter() - start)
"""


def deployed_import_seconds(tree: Tree, name: str) -> float:
    """One sample: ``name``'s import from ``tree`` in a clean interpreter that writes no bytecode (as Lambda)."""
    probe = DEPLOYED_PROBE.format(function=str(tree.function(name)), layer=str(tree.layer))
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", probe],
        cwd=tree.root,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


@dataclass(frozen=True)
class DeployedRow:
    """One function's samples without bytecode and with the shipped bytecode."""

    name: str
    source: list[float]
    bytecode: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.bytecode) / statistics.median(self.source)


def deployed_report(runs: int = RUNS) -> list[DeployedRow]:
    """Each function from the tree without bytecode and from the compiled one, interleaved, after one untimed round."""
    plain, compiled = deployed_trees()
    cases = [(tree, name) for name in function_names() for tree in (plain, compiled)]
    for tree, name in cases:
        deployed_import_seconds(tree, name)
    samples: dict[tuple[Path, str], list[float]] = {(tree.root, name): [] for tree, name in cases}
    for round_ in range(runs):
        shift = round_ % len(cases)
        for tree, name in cases[shift:] + cases[:shift]:
            samples[(tree.root, name)].append(deployed_import_seconds(tree, name))
    return [
        DeployedRow(name, samples[(plain.root, name)], samples[(compiled.root, name)])
        for name in function_names()
    ]


def render_deployed(rows: list[DeployedRow], runs: int = RUNS) -> str:
    """The second table: what the shipped bytecode saves each cold start."""

    def cell(samples: list[float]) -> str:
        spread = f"{min(samples) * 1000:.0f}-{max(samples) * 1000:.0f}"
        return f"{statistics.median(samples) * 1000:6.1f} ms ({spread:>9})"

    lines = [
        f"as deployed: cold import from a layer-like tree, median of {runs} clean interpreters (-I -S -B), interleaved",
        f"{'function':<12} {'no bytecode (min-max)':>24} {'shipped bytecode (min-max)':>27} {'ratio':>6}",
    ]
    for row in rows:
        lines.append(f"{row.name:<12} {cell(row.source):>24} {cell(row.bytecode):>27} {row.ratio:5.2f}x")
    return "\n".join(lines)


def top_imports(name: str, count: int = 25) -> str:
    """The ``count`` imports of ``name``'s cold import with the largest cumulative time."""
    done = subprocess.run(
        _command(name, "-X", "importtime"),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    entries = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, cumulative_us, module = line.removeprefix("import time:").split("|")
            entries.append((int(cumulative_us), int(self_us), module.rstrip()))
    entries.sort(reverse=True)
    lines = [f"{'cumulative':>10} {'self':>8}  module ({name}, python -X importtime)"]
    lines += [f"{c / 1000:7.1f} ms {s / 1000:5.1f} ms  {m}" for c, s, m in entries[:count]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", metavar="NAME", help="list NAME's most expensive imports instead")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    if args.top:
        print(top_imports(args.top))
        return 0
    rows = report(args.runs)
    print(render(rows, args.runs))
    print()
    print(render_deployed(deployed_report(args.runs), args.runs))
    return 0 if all(row.within for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
