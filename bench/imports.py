"""Cold import of each function against a naive handler (issue #12), in one run.

Each sample is a fresh interpreter that imports one handler module (``functions/<name>/app.py``,
or ``bench/naive_handler.py``) and prints how long the import took. The samples are interleaved:
each round imports the naive handler and every function once, in an order rotated from round to
round, so a machine that is busy for a while slows all of them alike. A round runs first untimed,
so every sample reads compiled bytecode. The ratio is a function's median over the naive
handler's median, and the goal is ``GOALS`` (0.5, the webhook 0.35).

``python -m bench.imports`` prints the table and exits 1 when a function exceeds its goal;
``python -m bench.imports --top webhook`` lists what that function's import spends most on
(``python -X importtime``, cumulative).
"""

import argparse
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAIVE = "naive"
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
    """The handler module of ``name``, relative to the repository (the naive one is the bench's)."""
    return "bench/naive_handler.py" if name == NAIVE else f"functions/{name}/app.py"


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
    """The naive handler's row, then each function's, with its ratio and goal."""
    names = [NAIVE, *function_names()]
    samples = measure(names, runs)
    naive = statistics.median(samples[NAIVE])
    return [
        Row(
            name,
            samples[name],
            statistics.median(samples[name]) / naive,
            None if name == NAIVE else GOALS.get(name, DEFAULT_GOAL),
        )
        for name in names
    ]


def render(rows: list[Row], runs: int = RUNS) -> str:
    """The table ``make bench-imports`` prints."""
    lines = [
        f"cold import, median of {runs} fresh interpreters each, interleaved in one run",
        f"{'handler':<12} {'median':>9} {'min-max':>15} {'ratio':>6} {'goal':>6}",
    ]
    for row in rows:
        spread = f"{min(row.samples) * 1000:.0f}-{max(row.samples) * 1000:.0f} ms"
        goal = "" if row.goal is None else f"{row.goal:.2f}x"
        verdict = "" if row.goal is None else ("ok" if row.within else "EXCEEDS GOAL")
        lines.append(
            f"{row.name:<12} {row.median * 1000:6.1f} ms {spread:>15} {row.ratio:5.2f}x {goal:>6}  {verdict}"
        )
    over = [row.name for row in rows if not row.within]
    lines.append(f"exceed the goal: {', '.join(over)}" if over else "every function is within its goal")
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
    return 0 if all(row.within for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
