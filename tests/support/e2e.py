"""Helpers the lanes that drive the local stack share (e2e, browser, fuzz): ``python -m local.runner``
in a subprocess on free ports, a role's bearer header, and polling until the stack catches up."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.dynamodb_local import free_port

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Ctrl-C stops everything."


@dataclass
class RunningStack:
    api: str
    stripe: str
    aws: str
    dynamodb: str
    data_dir: Path
    log: Path
    """The runner's stderr (its platform lines: one START/END per invocation, with the environment)."""
    tokens: dict[str, str]
    banner: str
    process: subprocess.Popen[str]


@contextmanager
def data_folder() -> Iterator[Path]:
    """A new, empty data folder for a runner, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="boxoffice-e2e-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def running_stack(data_dir: Path | None = None) -> Iterator[RunningStack]:
    """``python -m local.runner`` on free ports, until the block ends (then Ctrl-C).

    The runner keeps its state in ``data_dir``; by default a clean temporary folder of its own.
    """
    if data_dir is None:
        with data_folder() as folder, running_stack(folder) as running:
            yield running
        return
    api_port, stripe_port = free_port(), free_port()
    env = {
        **os.environ,
        "BOXOFFICE_API_PORT": str(api_port),
        "BOXOFFICE_STRIPE_PORT": str(stripe_port),
        "BOXOFFICE_SCHEDULE_SECONDS": "2",
        "BOXOFFICE_RETRY_DELAY_SECONDS": "0.1",
        "BOXOFFICE_DATA_DIR": str(data_dir),
    }
    for key in list(env):
        if key.startswith(("AWS_ENDPOINT_URL", "TABLE_NAME", "EVENT_BUS_NAME", "SECRETS_PREFIX")):
            env.pop(key)
    log = Path(tempfile.mkstemp(prefix="boxoffice-e2e-runner-", suffix=".log")[1])
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.runner"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        banner: list[str] = []
        deadline = time.monotonic() + 90
        assert process.stdout is not None
        while READY_LINE not in banner[-1:] and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                pytest.fail(f"the runner exited early:\n{''.join(banner)}")
            banner.append(line.strip())
        text = "\n".join(banner)
        tokens = dict(re.findall(r"^TOKEN_(\w+)=(\S+)$", text, flags=re.M))
        stripe = re.search(r"Stripe emulator: (\S+)", text)
        aws = re.search(r"AWS \(moto\): +(\S+)", text)
        dynamodb = re.search(r"DynamoDB Local: +(\S+)", text)
        # Drain stdout so the runner's JSON logs never block on a full pipe.
        threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
        yield RunningStack(
            api=f"http://127.0.0.1:{api_port}",
            stripe=stripe.group(1) if stripe else "",
            aws=aws.group(1) if aws else "",
            dynamodb=dynamodb.group(1) if dynamodb else "",
            data_dir=data_dir,
            log=log,
            tokens={k.lower(): v for k, v in tokens.items()},
            banner=text,
            process=process,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.unlink(missing_ok=True)


def auth(stack: Any, role: str) -> dict[str, str]:
    """The Authorization header for one of the runner's printed tokens."""
    return {"Authorization": f"Bearer {stack.tokens[role]}"}


def until(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """``check()``'s first truthy value, polled every 0.3 s; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
