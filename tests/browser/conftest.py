"""The browser lane: the web console in headless Chromium against `python -m local.runner`.

One stack and one browser for the lane; each test signs its people in, each in a browser context
of their own (their own session storage, as two people on two machines).
"""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import (
    AXE_CORE,
    DESKTOP,
    SCREENSHOTS,
    axe_violations,
    chromium,
    describe,
    shot,
    sign_in,
)
from tests.support.e2e import RunningStack, running_stack

# Stripe's confirmation goes webhook -> bus -> processor on a shared 2-core box: give pages time.
expect.set_options(timeout=30_000)

AXE_REPORT: dict[str, list[dict[str, Any]]] = {}
"""Every page checked, with all of axe's findings (any impact), written to the screenshots folder."""


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    if not AXE_CORE.is_file():
        pytest.fail(f"axe-core is missing ({AXE_CORE}): run the lane with make test-browser")
    with running_stack() as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


@pytest.fixture
def person(stack: RunningStack, browser: Any) -> Iterator[Callable[..., Any]]:
    """``person("sponsor")``: a page in a new browser context, signed in through the console as that role."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_as(role: str, viewport: dict[str, int] = DESKTOP) -> Any:
        # bypass_csp lets the test inject axe-core; the console's own scripts never need it.
        context = browser.new_context(
            viewport=viewport, locale="en-US", accept_downloads=True, bypass_csp=True
        )
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{role}: {exc}"))
        sign_in(page, stack.api, role)
        return page

    yield open_as
    for context in contexts:
        context.close()
    assert not errors, f"the console's scripts threw: {errors}"


@pytest.fixture
def check_page() -> Callable[[Any, str], None]:
    """Screenshot the page and run axe-core on it: no critical violation may be found."""

    def check(page: Any, name: str) -> None:
        shot(page, name)
        found = axe_violations(page, impacts=("critical", "serious", "moderate", "minor"))
        AXE_REPORT[name] = found
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "axe-report.json").write_text(json.dumps(AXE_REPORT, indent=1) + "\n")
        critical = [v for v in found if v["impact"] == "critical"]
        assert not critical, f"{name}: critical accessibility violations:\n{describe(critical)}"

    return check
