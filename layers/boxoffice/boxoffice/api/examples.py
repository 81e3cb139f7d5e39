"""Example bodies for the OpenAPI document: what a client sends and gets on the main routes.

Each one validates against its model (a unit test checks it), so a generated client's docs
never show a body the API would refuse or never send.
"""

from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import Example

AT = "2026-03-01T09:30:00Z"

ORDER: dict[str, Any] = {
    "id": "ord_0123456789abcdef",
    "reference": "BX-7K2Q9M",
    "conference_id": "demo",
    "user_id": "attendee-1",
    "status": "pending",
    "currency": "eur",
    "lines": [
        {
            "ticket_type_id": "standard",
            "addon_id": None,
            "quantity": 2,
            "unit_price": 25000,
            "line_total": 50000,
            "discount": 0,
        },
    ],
    "subtotal": 50000,
    "discount_amount": 0,
    "total": 50000,
    "amount_paid": 0,
    "amount_refunded": 0,
    "voucher_code": None,
    "hold_expires_at": "2026-03-01T10:30:00Z",
    "payments": [],
    "attention": None,
    "created_at": AT,
    "updated_at": AT,
}

BULK_PURCHASE: dict[str, Any] = {
    "id": "bp_0123456789abcdef",
    "conference_id": "demo",
    "sponsor_id": "acme",
    "quantity": 20,
    "ticket_type_id": "standard",
    "addon_id": None,
    "unit_price": 25000,
    "total_amount": 500000,
    "amount_refunded": 0,
    "currency": "eur",
    "description": "Acme team tickets",
    "status": "pending",
    "voucher_config": {"voucher_type": "comp", "discount_value": 0, "max_uses": 1},
    "checkout_session_id": None,
    "checkout_url": None,
    "payment_intent_id": None,
    "vouchers_generated": 0,
    "attention": None,
    "requested_by": "sponsor-acme",
    "approved_by": None,
    "created_at": AT,
    "updated_at": AT,
}

REFUND: dict[str, Any] = {
    "id": "rf_0123456789abcdef",
    "order_id": "ord_0123456789abcdef",
    "bulk_purchase_id": None,
    "amount": 25000,
    "currency": "eur",
    "reason": "requested_by_customer",
    "note": "",
    "destination": "card",
    "status": "pending",
    "source": "api",
    "stripe_refund_ids": ["re_3PxExample"],
    "credit": None,
    "created_by": "staff-1",
    "failure_reason": None,
    "created_at": AT,
}

CHECKOUT: dict[str, Any] = {
    "checkout_url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3",
    "session_id": "cs_test_a1b2c3",
    "expires_at": "2026-03-01T10:00:00Z",
}

VOUCHERS_CSV = (
    "code,times_used,max_uses,is_active,valid_from,valid_until\n"
    "ACME-4F7K-Q2ZP,0,1,true,,\n"
    "ACME-9XW3-L8HD,1,1,true,,\n"
)

CONFERENCE_INPUT = {
    "name": "PyCon Demo 2026",
    "currency": "eur",
    "is_active": True,
    "stripe": {"secret_key": "sk_test_51Example0000", "webhook_secret": "whsec_Example0000"},
}

ORDER_INPUT = {"lines": [{"ticket_type_id": "standard", "quantity": 2}], "voucher_code": None}

STAFF_BULK_INPUT = {
    "sponsor_id": "acme",
    "quantity": 20,
    "ticket_type_id": "standard",
    "unit_price": 25000,
    "description": "Acme team tickets",
    "voucher_config": {"voucher_type": "comp", "max_uses": 1},
}

SPONSOR_BULK_INPUT = {"ticket_type_id": "standard", "quantity": 20}

ORDER_REFUND_INPUT = {"amount": 25000, "reason": "requested_by_customer", "destination": "store_credit"}

STRAY_REFUND_INPUT = {
    "amount": 50000,
    "reason": "duplicate",
    "destination": "card",
    "payment_id": "pay_pi_3Example0000SecondTab",
    "note": "paid twice in two tabs",
}
"""A refund of money that is not the order's own payment: the ``id`` of that payment, to its card."""

CHECKOUT_INPUT = {"success_url": "https://example.com/paid", "cancel_url": "https://example.com/cancelled"}


def body_examples(**named: dict[str, Any]) -> dict[str, Example]:
    """``openapi_examples`` for a ``Body()``: one named example per keyword."""
    return {name: Example(value=value) for name, value in named.items()}
