"""The web console in a real browser: sponsors, attendees and staff doing their jobs through it.

Each test is a person at the console of the demo conference, signed in through the console's own
sign-in flow; what must exist before they act is made through the API (``tests.support.story``).
Every main page is screenshotted and checked with axe-core (no critical violation).
"""

import csv
import io
import re
from typing import Any

from playwright.sync_api import expect

from local.demo import DEMO_STRIPE_KEY
from tests.support.browser import PHONE, money_text
from tests.support.e2e import until
from tests.support.story import (
    DEMO,
    failed_stripe_events,
    other_sponsors_purchase,
    paid_order,
    refusal,
    send,
    sponsors_unused_code,
)

TIMES = "\N{MULTIPLICATION SIGN}"


def codes_on(page: Any) -> list[str]:
    return [c.strip() for c in page.locator("#codes-table tbody tr td:first-child").all_inner_texts()]


def buy_codes(page: Any, quantity: int, item: str = "General admission: $250.00 each") -> None:
    """On the sponsor's page: choose, confirm the amount, pay on the hosted page, come back."""
    page.get_by_label("Ticket or add-on").select_option(label=item)
    page.get_by_label("How many codes").fill(str(quantity))
    page.get_by_role("button", name="Buy codes and pay").click()


def test_a_sponsor_buys_five_codes_pays_on_the_hosted_page_and_downloads_them(person, check_page):
    page = person("sponsor")
    check_page(page, "sponsor-purchases")
    buy_codes(page, 5)
    dialog = page.get_by_role("dialog")
    assert f"5 {TIMES} General admission for $1,250.00" in money_text(dialog.inner_text())
    dialog.get_by_role("button", name="Pay $1,250.00").click()
    page.wait_for_url("**/checkout/**")  # the Stripe emulator's hosted checkout page
    page.get_by_role("button", name="Pay (card succeeds)").click()
    page.wait_for_url("**/#/c/demo/purchases/bp_*")
    page.locator("#codes-table").wait_for(timeout=60_000)  # the page waits for Stripe's confirmation
    assert page.locator("#purchase-status").inner_text() == "paid"
    assert page.locator("#codes-issued").inner_text() == "5 of 5"
    assert money_text(page.locator("#purchase-total").inner_text()) == "$1,250.00"
    shown = codes_on(page)
    assert len(shown) == 5 and all(re.fullmatch(r"[A-Z0-9-]+", c) for c in shown)
    check_page(page, "sponsor-codes")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert download.value.suggested_filename.endswith(".csv")
    assert sorted(r["code"] for r in rows) == sorted(shown)
    assert {(r["times_used"], r["max_uses"], r["is_active"]) for r in rows} == {("0", "1", "true")}


def test_an_attendee_redeems_a_sponsors_code_on_a_phone_and_sees_the_order_paid(stack, person, check_page):
    purchase_id, code = sponsors_unused_code(stack)  # one of the codes the sponsor bought above
    page = person("attendee", viewport=PHONE)
    check_page(page, "attendee-shop-phone")
    page.get_by_label("Quantity of General admission").fill("1")
    page.get_by_label("Voucher code").fill(code)
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/#/c/demo/orders/ord_*")
    assert page.locator("#order-status").inner_text() == "paid"
    assert money_text(page.locator("#order-total").inner_text()) == "$0.00"
    assert code in page.get_by_text("Code used").inner_text()
    # Nothing is wider than the phone: no sideways scrolling.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    check_page(page, "attendee-order-phone")

    # The sponsor sees what the code was used for.
    sponsor = person("sponsor")
    sponsor.goto(f"{stack.api}/#/c/demo/purchases/{purchase_id}")
    row = sponsor.locator("#codes-table tbody tr", has_text=code)
    assert row.locator("td").nth(1).inner_text() == "1 of 1"


def test_staff_refund_an_order_to_store_credit_and_the_attendee_spends_it(stack, person, check_page):
    attendee = person("attendee")
    attendee.get_by_label("Quantity of Student").fill("1")
    attendee.get_by_role("button", name="Place order").click()
    attendee.get_by_role("button", name="Pay $90.00 by card").click()
    attendee.get_by_role("dialog").get_by_role("button", name="Go to checkout").click()
    attendee.wait_for_url("**/checkout/**")
    attendee.get_by_role("button", name="Pay (card succeeds)").click()
    attendee.wait_for_url("**/#/c/demo/orders/ord_*")
    attendee.locator("#order-status", has_text="paid").wait_for(timeout=60_000)
    reference = attendee.locator("h1").inner_text().removeprefix("Order ")

    staff = person("staff")
    check_page(staff, "staff-attention")
    staff.get_by_role("link", name="Orders", exact=True).click()
    staff.get_by_label("Reference or order id").fill(reference)
    staff.get_by_role("button", name="Find").click()
    staff.get_by_role("link", name=reference).click()
    staff.get_by_label("Amount").fill("90.00")
    staff.get_by_label("Store credit").check()
    staff.get_by_label("Note").fill("Cannot come; keeps the money for next time")
    staff.get_by_role("button", name="Refund", exact=True).click()
    dialog = staff.get_by_role("dialog")
    assert "$90.00" in money_text(dialog.inner_text()) and "store credit" in dialog.inner_text()
    dialog.get_by_role("button", name="Refund $90.00").click()
    staff.locator("#order-status", has_text="refunded").wait_for()
    refund = staff.locator("#refunds-table tbody tr").first
    assert "store credit" in refund.inner_text() and "succeeded" in refund.inner_text()
    check_page(staff, "staff-order-refunded")

    attendee.get_by_role("link", name="My store credit").click()
    assert money_text(attendee.locator("#credit-total").inner_text()) == "Available to spend: $90.00"
    check_page(attendee, "attendee-credit")
    attendee.get_by_role("link", name="Buy tickets").click()
    attendee.get_by_label("Quantity of Student").fill("1")
    attendee.get_by_role("button", name="Place order").click()
    attendee.get_by_role("button", name="Pay with store credit").click()
    attendee.get_by_role("dialog").get_by_role("button", name="Use $90.00 of credit").click()
    attendee.locator("#order-status", has_text="paid").wait_for()
    assert "store credit" in attendee.get_by_role("table", name="Payments").inner_text()


def test_staff_replay_a_failed_stripe_event(stack, person, check_page):
    order = paid_order(stack, "attendee", [{"addon_id": "workshop", "quantity": 1}])
    failed = failed_stripe_events(stack, order["payments"][0]["payment_intent_id"], DEMO_STRIPE_KEY)
    staff = person("staff")
    staff.get_by_role("link", name="review and replay").click()
    table = staff.locator("#events-table")
    for event in failed:
        assert event["event_id"] in table.inner_text()
    check_page(staff, "staff-stripe-events")
    first = failed[0]["event_id"]
    staff.get_by_role("button", name=f"Replay {first}").click()
    expect(staff.locator("#replay-result")).to_contain_text(f"Queued {first}")

    def processed() -> bool:
        listed = send(stack, "staff", "GET", f"{DEMO}/stripe-events", status="processed", limit=200)["items"]
        return any(e["event_id"] == first for e in listed)

    until(processed, what=f"{first} processed after the replay")
    staff.get_by_role("button", name="Refresh the list").click()
    expect(staff.locator("main")).not_to_contain_text(first)


def test_staff_add_an_add_on_then_approve_and_issue_a_comp_deal_of_it(stack, person, check_page):
    staff = person("staff")
    staff.get_by_role("link", name="Setup").click()
    addon = staff.locator("form", has=staff.get_by_role("heading", name="Add-on", exact=True))
    addon.get_by_label("Add-on id").fill("tshirt")
    addon.get_by_label("Name").fill("Conference T-shirt")
    addon.get_by_label("Price").fill("20.00")
    addon.get_by_label("Capacity").fill("50")
    addon.get_by_label("Sponsors can buy codes for it").check()
    addon.get_by_role("button", name="Save").click()
    expect(staff.get_by_role("status").filter(has_text="Saved Conference T-shirt")).to_be_visible()
    row = staff.locator("#catalog-table tbody tr", has_text="Conference T-shirt")
    expect(row).to_contain_text("$20.00")
    staff.get_by_role("button", name="Edit Conference T-shirt").click()  # the form takes the item as it is
    expect(addon.get_by_label("Price")).to_have_value("20.00")
    addon.get_by_label("Price").fill("25.00")
    addon.get_by_role("button", name="Save").click()
    expect(staff.locator("#catalog-table tbody tr", has_text="Conference T-shirt")).to_contain_text("$25.00")
    check_page(staff, "staff-setup")

    staff.get_by_role("link", name="Bulk purchases").click()
    deal = staff.locator("form", has=staff.get_by_role("heading", name="New deal for a sponsor"))
    deal.get_by_label("Sponsor id").fill("acme")
    deal.get_by_label("Ticket or add-on").select_option(label="Conference T-shirt")
    deal.get_by_label("Quantity").fill("2")
    deal.get_by_role("button", name="Create the deal").click()
    staff.wait_for_url("**/#/c/demo/purchases/bp_*")
    expect(staff.locator("#purchase-status")).to_have_text("pending")
    staff.get_by_role("button", name="Approve").click()
    staff.get_by_role("dialog").get_by_role("button", name="Approve").click()
    expect(staff.locator("#purchase-status")).to_have_text("approved")
    staff.get_by_role("button", name="Issue the codes").click()
    staff.get_by_role("dialog").get_by_role("button", name="Issue the codes").click()
    expect(staff.locator("#codes-table tbody tr")).to_have_count(2)
    check_page(staff, "staff-comp-deal")

    staff.get_by_role("link", name="Audit").click()
    expect(staff.locator("main")).to_contain_text("Checked:")
    check_page(staff, "staff-audit")


def test_a_sponsor_cannot_open_another_sponsors_purchase(stack, person):
    theirs = other_sponsors_purchase(stack)
    page = person("sponsor")
    assert theirs["id"] not in page.locator("#purchases-table").inner_html()
    page.goto(f"{stack.api}/#/c/demo/purchases/{theirs['id']}")
    alert = page.get_by_role("alert")
    expected = refusal(stack, "sponsor", f"{DEMO}/bulk-purchases/{theirs['id']}")
    assert expected in alert.inner_text()
    assert "404" not in alert.inner_text()


def test_an_attendee_is_refused_staff_pages_with_the_apis_own_message(stack, person, check_page):
    page = person("attendee")
    assert page.get_by_role("link", name="Stripe events").count() == 0  # no staff links for them
    expected = refusal(stack, "attendee", f"{DEMO}/stripe-events?status=failed")
    for where in ("staff", "staff/orders", "staff/events"):
        page.goto(f"{stack.api}/#/c/demo/{where}")
        alert = page.get_by_role("alert")
        assert expected in alert.inner_text(), where
        assert "403" not in alert.inner_text()
    check_page(page, "attendee-refused")


def test_money_waits_for_a_confirmation_that_the_keyboard_can_give_or_refuse(stack, person):
    page = person("sponsor")
    before = len(send(stack, "sponsor", "GET", f"{DEMO}/bulk-purchases")["items"])
    page.reload()
    page.get_by_label("How many codes").wait_for()
    page.keyboard.press("Tab")  # the first stop on a fresh page is the skip link
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.get_by_label("How many codes").fill("3")
    page.get_by_label("How many codes").press("Enter")  # submits the form: the dialog asks first
    dialog = page.get_by_role("dialog")
    assert "$750.00" in money_text(dialog.inner_text())
    assert page.evaluate("() => document.activeElement.textContent") == "Go back"
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert len(send(stack, "sponsor", "GET", f"{DEMO}/bulk-purchases")["items"]) == before


def test_the_sign_in_page_offers_the_demos_four_roles(stack, browser, check_page):
    page = browser.new_page(locale="en-US", viewport=PHONE)
    try:
        page.goto(f"{stack.api}/")
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url("**/_local/authorize?*")
        roles = page.get_by_role("button", name=re.compile("^Sign in as ")).all_inner_texts()
        assert roles == [f"Sign in as {r}" for r in ("admin", "staff", "sponsor", "attendee")]
        check_page(page, "local-sign-in-phone")
    finally:
        page.close()


def test_money_is_shown_in_the_conference_currency_with_stripes_decimals(stack, browser):
    page = browser.new_page(locale="en-US")
    try:
        page.goto(f"{stack.api}/")
        shown = page.evaluate(
            """async () => {
              const ui = await import('/console/ui.js');
              return [ui.money(125000, 'usd'), ui.money(1234, 'jpy'), ui.money(12340, 'kwd'), ui.money(999, 'eur'),
                      ui.parseAmount('1,250.5', 'usd'), ui.parseAmount('12.345', 'usd'), ui.parseAmount('1500', 'jpy'),
                      ui.parseAmount('x', 'usd'), ui.amountInput(5, 'usd'), ui.amountInput(12340, 'kwd')];
            }"""
        )
    finally:
        page.close()
    assert [money_text(s) if isinstance(s, str) else s for s in shown] == [
        "$1,250.00",
        "¥1,234",
        "KWD 12.340",
        "€9.99",
        125050,
        None,
        1500,
        None,
        "0.05",
        "12.340",
    ]
