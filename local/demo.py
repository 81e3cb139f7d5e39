"""The demo conference the runner seeds: usd, a few ticket types (one hidden), add-ons, ``acme``.

Capacity shows in the catalog: the venue seats 500, ``student`` has 5 places, and the speakers'
dinner (2 seats) is sold out to the public because ``acme`` holds both seats as a sponsor block
(an approved comp deal, whose codes still get in).
"""

from typing import Any

DEMO_ID = "demo"
DEMO_STRIPE_KEY = "sk_test_boxofficedemo0000000000"


def seed(stack: Any) -> None:
    """Configure ``demo`` through the real services, with a webhook endpoint on the emulator."""
    from boxoffice import conferences

    webhook_secret = "whsec_" + "0" * 32
    if stack.stripe is not None:
        import stripe

        stripe.enable_telemetry = False
        client = stripe.StripeClient(DEMO_STRIPE_KEY, base_addresses={"api": stack.stripe.url})
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": f"{stack.api_url}/v1/webhooks/stripe/{DEMO_ID}", "enabled_events": ["*"]}
        )
        if endpoint.secret is None:
            raise RuntimeError("the Stripe emulator made a webhook endpoint without a secret")
        webhook_secret = endpoint.secret
    conferences.put_conference(
        DEMO_ID,
        conferences.ConferenceInput(
            name="Boxoffice Demo Conf",
            currency="usd",
            is_active=True,
            stripe=conferences.StripeKeysInput(secret_key=DEMO_STRIPE_KEY, webhook_secret=webhook_secret),
            ticket_capacity=500,
        ),
    )
    for ticket_id, name, price, bulk, hidden, capacity in [
        ("general", "General admission", 25_000, True, False, None),
        ("student", "Student", 9_000, False, False, 5),
        ("speaker", "Speaker", 0, False, True, None),
    ]:
        conferences.put_ticket_type(
            DEMO_ID,
            ticket_id,
            conferences.TicketTypeInput(
                name=name, price=price, bulk_enabled=bulk, requires_voucher=hidden, capacity=capacity
            ),
        )
    for addon_id, name, price, capacity in [
        ("workshop", "Workshop day", 15_000, None),
        ("dinner", "Speakers' dinner", 6_000, 2),
    ]:
        conferences.put_addon(
            DEMO_ID,
            addon_id,
            conferences.AddOnInput(name=name, price=price, bulk_enabled=True, capacity=capacity),
        )
    conferences.put_sponsor(
        DEMO_ID,
        "acme",
        conferences.SponsorInput(name="ACME Corp", slug="acme", contact_email="events@acme.example"),
    )
    _dinner_block()


def _dinner_block() -> None:
    """ACME's comp deal for both dinner seats, approved and fulfilled: the public sees it sold out."""
    from boxoffice import bulk_checkout, bulk_purchase_views, bulk_purchases

    request = bulk_purchase_views.BulkPurchaseRequest.model_validate(
        {
            "sponsor_id": "acme",
            "quantity": 2,
            "addon_id": "dinner",
            "unit_price": 0,
            "description": "Speakers' dinner seats for ACME",
            "voucher_config": {"voucher_type": "comp", "max_uses": 1},
        }
    )
    purchase = bulk_checkout.create(DEMO_ID, request, requested_by="demo-seed", as_sponsor=None)
    bulk_checkout.approve(DEMO_ID, purchase.id, staff_user="demo-seed")
    bulk_purchases.fulfill_comp(DEMO_ID, purchase.id)
