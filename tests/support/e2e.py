"""Helpers the e2e tests share: a role's bearer header, and polling until the stack catches up."""

import time
from collections.abc import Callable
from typing import Any


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
