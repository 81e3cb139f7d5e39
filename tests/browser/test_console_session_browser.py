"""Staying signed in: the console renews its ID token with the refresh token, as it does against Cognito.

ID tokens last an hour and the refresh token a conference day; here the runner mints short-lived
ones (``/_local/token-lifetimes``) so a test sees them expire in seconds, not hours.
"""

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from playwright.sync_api import expect

from local import signin

SESSION = "boxoffice.session"


@pytest.fixture
def token_lifetimes(stack: Any) -> Iterator[Callable[..., None]]:
    """``token_lifetimes(id_token=4)``: the runner's tokens minted from now on last that long; reset after."""

    def set_lifetimes(**seconds: int) -> None:
        reply = requests.post(f"{stack.api}{signin.LIFETIMES_PATH}", data=seconds, timeout=10)
        assert reply.ok, reply.text

    yield set_lifetimes
    set_lifetimes()


def stored_session(page: Any) -> Any:
    return page.evaluate(f"() => JSON.parse(sessionStorage.getItem('{SESSION}'))")


def wait_out_the_id_token(page: Any) -> None:
    """Until the runner refuses the ID token the page holds now."""
    time.sleep(max(0.0, stored_session(page)["claims"]["exp"] - time.time() + 1.5))


def traffic(page: Any) -> list[tuple[str, str, int, str]]:
    """Every answer the page gets from the API and the token endpoint: method, path, status, grant."""
    seen: list[tuple[str, str, int, str]] = []

    def record(response: Any) -> None:
        request = response.request
        path = request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
        if path.startswith(("v1/", "_local/token")):
            grant = parse_qs(request.post_data or "").get("grant_type", [""])[0] if "token" in path else ""
            seen.append((request.method, "/" + path, response.status, grant))

    page.on("response", record)
    return seen


def add_an_add_on(staff: Any, addon_id: str, name: str) -> Any:
    form = staff.locator("form", has=staff.get_by_role("heading", name="Add-on", exact=True))
    form.get_by_label("Add-on id").fill(addon_id)
    form.get_by_label("Name").fill(name)
    form.get_by_label("Price").fill("5.00")
    form.get_by_role("button", name="Save").click()
    return staff.get_by_role("status").filter(has_text=f"Saved {name}")


@pytest.mark.parametrize("browser_clock", ["right", "an hour slow"])
def test_staff_work_on_past_the_id_tokens_life_without_signing_in_again(
    stack, person, token_lifetimes, browser_clock
):
    token_lifetimes(id_token=4)
    staff = person("staff")
    if browser_clock == "an hour slow":
        # The console believes its token fresh and sends it: the API's 401 makes it renew and repeat.
        staff.context.clock.install()
        staff.context.clock.set_system_time(datetime.now() - timedelta(hours=1))
        staff.reload()
    staff.get_by_role("link", name="Setup").click()
    staff.locator("form", has=staff.get_by_role("heading", name="Add-on", exact=True)).wait_for()
    first = stored_session(staff)
    assert first["refreshToken"]
    wait_out_the_id_token(staff)
    seen = traffic(staff)

    name = f"Lanyard ({browser_clock})"
    expect(add_an_add_on(staff, f"lanyard-{browser_clock.split()[-1]}", name)).to_be_visible()
    expect(staff.locator("#catalog-table tbody tr", has_text=name)).to_contain_text("$5.00")
    expect(staff.get_by_role("button", name="Sign out")).to_be_visible()
    assert not staff.get_by_text("Sign in again").count()

    renewals = [s for s in seen if s[3] == "refresh_token"]
    assert renewals and all(s[2] == 200 for s in renewals), seen
    puts = [s[2] for s in seen if s[0] == "PUT"]
    assert puts == ([201] if browser_clock == "right" else [401, 201]), seen  # created once
    now = stored_session(staff)
    assert now["idToken"] != first["idToken"] and now["refreshToken"] == first["refreshToken"]


def test_when_the_refresh_token_is_refused_staff_are_asked_to_sign_in_again(stack, person, token_lifetimes):
    token_lifetimes(id_token=3, refresh_token=3)  # the conference day is over
    staff = person("staff")
    wait_out_the_id_token(staff)
    seen = traffic(staff)
    staff.get_by_role("link", name="Orders", exact=True).click()
    alert = staff.get_by_role("alert")
    expect(alert).to_contain_text("Your sign-in is no longer valid")
    expect(alert).to_contain_text("Sign in again")
    assert [s[2] for s in seen if s[3] == "refresh_token"] == [400]
    assert not [s for s in seen if s[1].startswith("/v1/")], "nothing is sent with a token known to be stale"
    assert stored_session(staff) is None
    staff.reload()
    expect(staff.get_by_role("button", name="Sign in", exact=True)).to_be_visible()


def test_signing_out_revokes_the_refresh_token(stack, person):
    staff = person("staff")
    refresh_token = stored_session(staff)["refreshToken"]
    staff.get_by_role("button", name="Sign out").click()
    expect(staff.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    form = {"grant_type": "refresh_token", "client_id": signin.CLIENT_ID, "refresh_token": refresh_token}
    reply = requests.post(f"{stack.api}{signin.TOKEN_PATH}", data=form, timeout=10)
    assert (reply.status_code, reply.json()["error"]) == (400, "invalid_grant")
    assert json.loads(staff.evaluate(f"() => JSON.stringify(sessionStorage.getItem('{SESSION}'))")) is None
