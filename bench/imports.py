"""Cold import time of each function's handler module: a fresh interpreter each run, median of 5."""

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import importlib.util, sys, time
sys.path.insert(0, "layers/boxoffice")
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", "functions/{name}/app.py")
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


def cold_import_seconds(name: str, runs: int = 5) -> float:
    """Median wall time to import ``functions/<name>/app.py`` in a new interpreter."""
    env = {**os.environ, **ENV}
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", PROBE.format(name=name)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(samples)


def report() -> dict[str, float]:
    names = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").is_file())
    return {name: cold_import_seconds(name) for name in names}


if __name__ == "__main__":
    for name, seconds in report().items():
        print(f"cold import  {name:<12} {seconds * 1000:7.1f} ms (median of 5)")
