"""Helpers the lanes that drive the local stack share (e2e, browser, fuzz): ``python -m local.runner``
in a subprocess on free ports, a role's bearer header, the demo's API and Stripe as a client of the
stack sees them, and polling until the stack catches up."""

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
import requests

from local.demo import DEMO_STRIPE_KEY
from local.dynamodb_local import free_port
from local.template import ROOT
from tests.support.stripe import client_at

DEMO = "/v1/conferences/demo"
"""The demo conference the runner seeds."""
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


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def auth(stack: Any, role: str) -> dict[str, str]:
    """The Authorization header for one of the runner's printed tokens."""
    return bearer(stack.tokens[role])


def demo_get(stack: Any, path: str, role: str = "staff") -> dict[str, Any]:
    """``GET`` the demo conference's ``path`` as ``role``; anything but 200 fails the test."""
    reply = requests.get(f"{stack.api}{DEMO}{path}", headers=auth(stack, role), timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def demo_post(stack: Any, path: str, body: dict[str, Any], role: str, **headers: str) -> dict[str, Any]:
    """``POST`` ``body`` to the demo conference's ``path`` as ``role``; anything but 200 or 201 fails."""
    reply = requests.post(
        f"{stack.api}{DEMO}{path}", json=body, headers={**auth(stack, role), **headers}, timeout=30
    )
    assert reply.status_code in (200, 201), reply.text
    return reply.json()


def order(stack: Any, order_id: str, role: str = "attendee") -> dict[str, Any]:
    """The demo order as ``role`` reads it."""
    return demo_get(stack, f"/orders/{order_id}", role)


def pay_on_hosted_page(checkout_url: str) -> None:
    """Pay on the emulator's hosted Checkout page, as the buyer would; it redirects back (303)."""
    reply = requests.post(checkout_url, data={"outcome": "succeed"}, allow_redirects=False, timeout=10)
    assert reply.status_code == 303, reply.text


def stack_stripe(stack: Any) -> Any:
    """An SDK client (``stripe.StripeClient``) of the demo's Stripe account at the stack's emulator."""
    return client_at(stack.stripe, DEMO_STRIPE_KEY)


def until(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """``check()``'s first truthy value, polled every 0.3 s; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
