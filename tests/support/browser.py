"""Driving the web console in headless Chromium (Debian's ``chromium``) with Playwright, for the browser lane.

Playwright's own browser downloads are not used: it drives the system Chromium (``CHROMIUM`` or
``/usr/bin/chromium``) over CDP. The launch flags keep Chromium off the network it would reach
on its own (updates, sync, QUIC), which a closed network refuses. axe-core (``AXE_CORE``, fetched
from npm by ``make test-browser``) is injected into pages to check their accessibility.
"""

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local.template import ROOT

SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", ROOT / ".cache" / "screenshots"))
AXE_CORE = Path(
    os.environ.get("AXE_CORE")
    or max(ROOT.glob(".cache/axe-core/*/axe.min.js"), default=ROOT / ".cache/axe-core/axe.min.js")
)
"""axe-core's script, as ``make test-browser`` fetches it (npm, the version the Makefile pins)."""
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def chromium_path() -> str:
    """The system Chromium; the lane installs Debian's ``chromium`` package when it is missing."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        raise RuntimeError("no Chromium: install Debian's chromium package (make test-browser does)")
    return found


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium for the whole lane."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Any, api: str, role: str, where: str = "") -> None:
    """Sign in through the console's own flow: its Sign in button, the runner's page, back with a token."""
    page.goto(f"{api}/{where}")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("button", name=f"Sign in as {role}").click()
    page.get_by_role("button", name="Sign out").wait_for()
    page.locator("main h1").first.wait_for()


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot in the lane's screenshots folder (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Any, impacts: tuple[str, ...] = ("critical",)) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, of the given impacts (id, impact, help, nodes)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=AXE_CORE.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [v for v in result if v["impact"] in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    return json.dumps(violations, indent=1)


def money_text(text: str) -> str:
    """Whitespace-normalised text, so "$1,250.00" matches across the locale's spaces."""
    return re.sub(r"\s+", " ", text).strip()
