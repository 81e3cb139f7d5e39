"""The artifact lane: each function as `sam build` builds it, run in a clean python3.12 against local services.

The parent (this pytest, in the development venv) runs ``sam build`` into a folder cached by the
hash of everything the build reads, and serves moto and the Stripe emulator. The build is the
deployed one (the layer's and functions' Makefiles, bytecode included) except for the wheels: it
downloads the lock's wheels for the interpreter that runs the functions here (``WHEEL_PLATFORM``
empty) instead of arm64's, which this machine could not import. Each function then runs in a fresh
interpreter that sees only the standard library, the built layer and the built function, as Lambda
lays them out, and writes no bytecode (``-B``), as Lambda's read-only ``/opt`` and ``/var/task``.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.dynamodb_local import free_port
from local.template import ROOT
from local.template import load as load_template

LOCK = ROOT / "layers" / "boxoffice" / "requirements.txt"
LAYER_SOURCE = ROOT / "layers" / "boxoffice"
TEMPLATE = ROOT / "template.yaml"
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
_BUILD_SECONDS = pytest.StashKey[float]()


os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
os.environ["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"


def python312() -> str:
    """The interpreter the Makefile found (PYTHON312), else the one this venv was made from."""
    return os.environ.get("PYTHON312") or sys._base_executable


def sam() -> str:
    """SAM CLI: the Makefile's (SAM_CLI), else the one in the repository's ``.venv-sam``."""
    return os.environ.get("SAM_CLI") or str(ROOT / ".venv-sam" / "bin" / "sam")


@dataclass(frozen=True)
class Build:
    """A ``sam build`` output folder: one folder per resource, named by its logical id."""

    root: Path

    @property
    def layer(self) -> Path:
        """The layer's ``python/`` folder, which Lambda puts on ``sys.path`` as ``/opt/python``."""
        return self.root / "BoxofficeLayer" / "python"

    def function(self, name: str) -> Path:
        """The built code of ``functions/<name>`` (Lambda's ``/var/task``)."""
        (logical_id,) = [f.logical_id for f in load_template().functions.values() if f.code_uri.name == name]
        return self.root / logical_id

    def functions(self) -> dict[str, Path]:
        """Every built function's folder by its ``functions/`` name."""
        return {f.code_uri.name: self.root / f.logical_id for f in load_template().functions.values()}


def _build_inputs() -> list[Path]:
    """Every file ``sam build`` reads: the template, the layer's folder and the functions' (no bytecode)."""
    files = [TEMPLATE]
    for folder in (LAYER_SOURCE, ROOT / "functions"):
        files += sorted(
            p
            for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        )
    return files


def build_key(python: str) -> str:
    """The hash of the build's inputs and of the interpreter it builds for."""
    tag = subprocess.run(
        [python, "-I", "-c", "import platform, sys; print(sys.version, platform.machine())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    digest = hashlib.sha256(tag.encode())
    for path in _build_inputs():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def sam_build(python: str, cache: Path = CACHE) -> Build:
    """``sam build`` with the lock's wheels for ``python``'s platform, cached by ``build_key``.

    Built into a temporary folder and renamed into place, so an interrupted build is never reused.
    ``--no-cached`` (samconfig.toml turns SAM's cache on): SAM's cache keys a layer by its sources,
    not by the platform of its wheels, so a cached build would swap this machine's layer and
    arm64's between this lane and ``make build``. Everything SAM writes stays in the folder.
    """
    key = build_key(python)
    target = cache / f"build-{key}"
    if target.is_dir():
        return Build(target / "build")
    staging = cache / f".build-{key}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PYTHON312": python, "WHEEL_PLATFORM": ""}
    command = [sam(), "build", "--template-file", str(TEMPLATE), "--build-dir", str(staging / "build")]
    command += ["--no-cached", "--cache-dir", str(staging / "cache")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"sam build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    try:
        staging.rename(target)
    except OSError:  # another run finished the same build first
        shutil.rmtree(staging, ignore_errors=True)
    for stale in cache.glob("build-*"):  # builds of earlier sources
        if stale != target:
            shutil.rmtree(stale, ignore_errors=True)
    return Build(target / "build")


@pytest.fixture(scope="session")
def build(request: pytest.FixtureRequest) -> Build:
    started = time.perf_counter()
    built = sam_build(python312())
    request.config.stash[_BUILD_SECONDS] = time.perf_counter() - started
    return built


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say how long the build took (a cache hit is a lookup; a miss is a sam build)."""
    seconds = config.stash.get(_BUILD_SECONDS, None)
    if seconds is not None:
        terminalreporter.write_line(
            f"artifact build ready in {seconds:.1f}s ({CACHE.name}/ keyed by the build's inputs)"
        )


@pytest.fixture(scope="session")
def deployed_account(moto_server: str) -> str:
    """moto with the template's table and bus, as the deployed stack has them (for the whole session)."""
    from local.aws import create_table

    create_table(boto3.client("dynamodb"), os.environ["TABLE_NAME"])
    boto3.client("events").create_event_bus(Name=os.environ["EVENT_BUS_NAME"])
    return moto_server


def run_function(
    function: str, events: list[dict[str, Any]], build: Build, tmp_path: Path, *, with_layer: bool = True
) -> dict[str, Any]:
    """Invoke the built ``function`` in a fresh, clean python3.12 with ``events``; its report."""
    out = tmp_path / f"{function}.json"
    path = [str(build.function(function))]
    if with_layer:
        path.append(str(build.layer))
    env = {key: os.environ[key] for key in CHILD_ENV if key in os.environ}
    env |= {"AWS_LAMBDA_FUNCTION_NAME": f"boxoffice-artifact-{function}", "LANG": "C.UTF-8"}
    request = {"function": function, "path": path, "layer": str(build.layer), "events": events}
    done = subprocess.run(
        [python312(), "-I", "-S", "-B", str(INVOKE), str(out)],
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
