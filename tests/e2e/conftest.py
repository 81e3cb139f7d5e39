"""The e2e lane: `python -m local.runner` in a subprocess, driven over HTTP like a user would."""

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.e2e import RunningStack, running_stack, stack_stripe


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    """The stack most tests share."""
    with running_stack() as running:
        yield running


@pytest.fixture
def own_stack() -> Iterator[RunningStack]:
    """A stack of the test's own, for tests that move the emulator's clock (it never goes back)."""
    with running_stack() as running:
        yield running


@pytest.fixture
def stripe_client(stack: RunningStack) -> Any:
    """An SDK client of the demo's Stripe account at the shared stack's emulator."""
    return stack_stripe(stack)


@pytest.fixture
def http() -> requests.Session:
    return requests.Session()
