"""Stripe events through the whole local stack: emulator → webhook → bus → processor, and recovery."""

import time

import stripe


def paid_session(stack, client: stripe.StripeClient) -> str:
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://example.test/ok",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 2500,
                        "product_data": {"name": "Ticket"},
                    },
                    "quantity": 1,
                }
            ],
            "metadata": {"conference_id": "demo"},
        }
    )
    form = {"outcome": "succeed"}
    import requests

    reply = requests.post(
        f"{stack.stripe}/checkout/{session.id}", data=form, allow_redirects=False, timeout=10
    )
    assert reply.status_code == 303
    return session.id


def completed_event_id(client: stripe.StripeClient, session_id: str) -> str:
    for event in client.v1.events.list(params={"type": "checkout.session.completed", "limit": 100}).data:
        if event.data.object["id"] == session_id:
            return event.id
    raise AssertionError(f"no checkout.session.completed for {session_id}")


def wait_for_event(stack, http, event_id: str, status: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = http.get(
            f"{stack.api}/v1/conferences/demo/stripe-events",
            params={"status": status, "limit": 200},
            headers={"Authorization": f"Bearer {stack.tokens['staff']}"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        for item in reply.json()["items"]:
            if item["event_id"] == event_id:
                return item
        time.sleep(0.3)
    raise AssertionError(f"{event_id} never reached {status}")


def test_a_paid_session_flows_from_the_emulator_through_the_bus_to_its_processor(stack, http, stripe_client):
    session_id = paid_session(stack, stripe_client)
    event_id = completed_event_id(stripe_client, session_id)
    # The session names no purchase or order: its handler finds nothing to do, and says so once.
    item = wait_for_event(stack, http, event_id, "processed")
    assert item["type"] == "checkout.session.completed"
    assert item["source"] == "webhook"
    assert item["attempts"] == 1


def test_a_webhook_lost_for_good_is_recovered_by_reconciliation(stack, http, stripe_client):
    (endpoint,) = stripe_client.v1.webhook_endpoints.list().data
    stripe_client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    try:
        session_id = paid_session(stack, stripe_client)
        event_id = completed_event_id(stripe_client, session_id)
        item = wait_for_event(stack, http, event_id, "processed", timeout=45)
        assert item["source"] == "reconciliation"
    finally:
        stripe_client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": False})
