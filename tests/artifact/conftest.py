"""The artifact lane: each function as built from the lock, run in a clean python3.12 against local services.

The parent (this pytest, in the development venv) builds the layer's dependencies from the lock
into a folder cached by the lock's hash, and serves moto and the Stripe emulator. Each function
then runs in a fresh interpreter that sees only the standard library, that folder, the layer's
``boxoffice`` package and the function's own code, as Lambda lays them out.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.dynamodb_local import free_port
from local.template import ROOT

LOCK = ROOT / "layers" / "boxoffice" / "requirements.txt"
LAYER_SOURCE = ROOT / "layers" / "boxoffice"
CACHE = ROOT / ".cache" / "artifact"
INVOKE = Path(__file__).with_name("invoke.py")
# The Lambda environment template.yaml gives every function, plus where the local services are.
CHILD_ENV = (
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL",
    "STRIPE_API_BASE",
    "TABLE_NAME",
    "EVENT_BUS_NAME",
    "SECRETS_PREFIX",
    "STAGE",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_TRACE_DISABLED",
    "POWERTOOLS_LOG_LEVEL",
)


# Exactly the locked files (every hash checked), wheels only, nothing resolved beyond the lock.
_PIP_INSTALL = (
    "--quiet",
    "--disable-pip-version-check",
    "--no-deps",
    "--require-hashes",
    "--only-binary=:all:",
    "--target",
)
_LAYER_SECONDS = pytest.StashKey[float]()


os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
os.environ["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"


def python312() -> str:
    """The interpreter the Makefile found (PYTHON312), else the one this venv was made from."""
    return os.environ.get("PYTHON312") or sys._base_executable


def build_layer(python: str, lock: Path = LOCK, cache: Path = CACHE) -> Path:
    """The lock's packages installed for this host by ``python``, hash-checked, cached by the lock's hash.

    Built into a temporary folder and renamed into place, so an interrupted build is never reused.
    """
    tag = subprocess.run(
        [python, "-I", "-c", "import platform, sys; print(sys.version, platform.machine())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    key = hashlib.sha256(lock.read_bytes() + tag.encode()).hexdigest()[:16]
    target = cache / f"layer-{key}"
    if target.is_dir():
        return target
    staging = cache / f".layer-{key}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run([python, "-m", "pip", "install", *_PIP_INSTALL, str(staging), "-r", str(lock)], check=True)
    try:
        staging.rename(target)
    except OSError:  # another run finished the same build first
        shutil.rmtree(staging, ignore_errors=True)
    for stale in cache.glob("layer-*"):  # builds of earlier locks
        if stale != target:
            shutil.rmtree(stale, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def layer(request: pytest.FixtureRequest) -> Path:
    started = time.perf_counter()
    built = build_layer(python312())
    request.config.stash[_LAYER_SECONDS] = time.perf_counter() - started
    return built


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say how long the layer took (a cache hit is a lookup; a miss is a pip install)."""
    seconds = config.stash.get(_LAYER_SECONDS, None)
    if seconds is not None:
        terminalreporter.write_line(
            f"artifact layer ready in {seconds:.1f}s ({CACHE.name}/ keyed by the lock)"
        )


@pytest.fixture(scope="session")
def deployed_account(moto_server: str) -> str:
    """moto with the template's table and bus, as the deployed stack has them (for the whole session)."""
    from local.aws import create_table

    create_table(boto3.client("dynamodb"), os.environ["TABLE_NAME"])
    boto3.client("events").create_event_bus(Name=os.environ["EVENT_BUS_NAME"])
    return moto_server


def run_function(
    function: str, events: list[dict[str, Any]], layer: Path, tmp_path: Path, *, with_layer: bool = True
) -> dict[str, Any]:
    """Invoke ``functions/<function>`` in a fresh, clean python3.12 with ``events``; its report."""
    out = tmp_path / f"{function}.json"
    path = [str(ROOT / "functions" / function)]
    if with_layer:
        path += [str(layer), str(LAYER_SOURCE)]
    env = {key: os.environ[key] for key in CHILD_ENV if key in os.environ}
    env |= {"AWS_LAMBDA_FUNCTION_NAME": f"boxoffice-artifact-{function}", "LANG": "C.UTF-8"}
    request = {"function": function, "path": path, "layer": str(layer), "events": events}
    done = subprocess.run(
        [python312(), "-I", "-S", str(INVOKE), str(out)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise FunctionFailed(function, done.stderr)
    report = json.loads(out.read_text())
    assert report["foreign"] == {}, f"{function} imported modules from outside its layer: {report['foreign']}"
    assert report["site_imported"] is False
    return report


class FunctionFailed(Exception):
    """The function's clean interpreter exited with an error (import or handler)."""

    def __init__(self, function: str, stderr: str) -> None:
        super().__init__(f"{function} failed in its clean interpreter:\n{stderr[-4000:]}")
        self.stderr = stderr
