"""The demo conference the runner seeds: usd, a few ticket types (one hidden), add-ons, ``acme``."""

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
        webhook_secret = endpoint.secret
    conferences.put_conference(
        DEMO_ID,
        conferences.ConferenceInput(
            name="Boxoffice Demo Conf",
            currency="usd",
            is_active=True,
            stripe=conferences.StripeKeysInput(secret_key=DEMO_STRIPE_KEY, webhook_secret=webhook_secret),
        ),
    )
    for ticket_id, name, price, bulk, hidden in [
        ("general", "General admission", 25_000, True, False),
        ("student", "Student", 9_000, False, False),
        ("speaker", "Speaker", 0, False, True),
    ]:
        conferences.put_ticket_type(
            DEMO_ID,
            ticket_id,
            conferences.TicketTypeInput(name=name, price=price, bulk_enabled=bulk, requires_voucher=hidden),
        )
    for addon_id, name, price in [
        ("workshop", "Workshop day", 15_000),
        ("dinner", "Speakers' dinner", 6_000),
    ]:
        conferences.put_addon(
            DEMO_ID, addon_id, conferences.AddOnInput(name=name, price=price, bulk_enabled=True)
        )
    conferences.put_sponsor(
        DEMO_ID,
        "acme",
        conferences.SponsorInput(name="ACME Corp", slug="acme", contact_email="events@acme.example"),
    )
