"""Complete templates of the Stripe objects the emulator serves.

Each builder returns a dict carrying every top-level field of Stripe's own object (null where
the emulator has nothing to say), so code written against Stripe's shapes works unchanged. The
field sets were checked against Stripe's published fixtures (see the fidelity test).
"""

from __future__ import annotations

from typing import Any

API_VERSION = "2026-10-28.endive"
"""The Stripe API version every object and event is rendered in (stripe-python 16.1.0's pin)."""

_NULL_ADDRESS: dict[str, None] = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}

TEST_EMAIL = "customer@example.com"


def line_item(
    *,
    item_id: str,
    price_id: str,
    product_id: str,
    name: str,
    currency: str,
    unit_amount: int,
    quantity: int,
    created: int,
) -> dict[str, Any]:
    """A Checkout line item (`object: "item"`) with its inline price."""
    total = unit_amount * quantity
    return {
        "id": item_id,
        "object": "item",
        "adjustable_quantity": None,
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": currency,
        "description": name,
        "metadata": {},
        "price": {
            "id": price_id,
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": created,
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": product_id,
            "recurring": None,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        },
        "quantity": quantity,
    }


def checkout_session(
    *,
    session_id: str,
    created: int,
    expires_at: int,
    url: str,
    currency: str,
    amount_subtotal: int,
    amount_total: int,
    success_url: str,
    cancel_url: str | None,
    client_reference_id: str | None,
    customer_email: str | None,
    metadata: dict[str, str],
    payment_method_types: list[str],
    locale: str | None,
    submit_type: str | None,
) -> dict[str, Any]:
    """An open payment-mode Checkout Session."""
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_subtotal,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": None,
        "customer_account": None,
        "customer_creation": "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": locale,
        "managed_payments": None,
        "metadata": metadata,
        "mode": "payment",
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": payment_method_types,
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": submit_type,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url,
        "wallet_options": None,
    }


def customer_details(email: str) -> dict[str, Any]:
    """What Checkout collected from the (imaginary) customer."""
    return {
        "address": {**_NULL_ADDRESS, "country": "US", "postal_code": "10001"},
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": "Jenny Rosen",
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def payment_intent(
    *,
    intent_id: str,
    client_secret: str,
    created: int,
    amount: int,
    currency: str,
    metadata: dict[str, str],
    description: str | None,
    payment_method_types: list[str],
    receipt_email: str | None,
    statement_descriptor: str | None,
    statement_descriptor_suffix: str | None,
) -> dict[str, Any]:
    """A PaymentIntent as Checkout creates it when the customer submits payment."""
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": client_secret,
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": None,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": payment_method_types,
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": statement_descriptor,
        "statement_descriptor_suffix": statement_descriptor_suffix,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def card_details(*, last4: str, declined: bool) -> dict[str, Any]:
    """`payment_method_details` for a Visa test card."""
    return {
        "card": {
            "amount_authorized": None if declined else 0,
            "authorization_code": None,
            "brand": "visa",
            "checks": {"address_line1_check": None, "address_postal_code_check": "pass", "cvc_check": "pass"},
            "country": "US",
            "exp_month": 12,
            "exp_year": 2034,
            "extended_authorization": {"status": "disabled"},
            "fingerprint": "emuFingerprint" + last4,
            "funding": "credit",
            "incremental_authorization": {"status": "unavailable"},
            "installments": None,
            "last4": last4,
            "mandate": None,
            "multicapture": {"status": "unavailable"},
            "network": "visa",
            "network_token": {"used": False},
            "network_transaction_id": None if declined else "emu" + last4,
            "overcapture": {"maximum_amount_capturable": 0, "status": "unavailable"},
            "regulated_status": "unregulated",
            "three_d_secure": None,
            "wallet": None,
        },
        "type": "card",
    }


def bank_debit_details(mandate_id: str) -> dict[str, Any]:
    """`payment_method_details` for a delayed-notification bank debit (US ACH).

    Checkout collects a mandate for every ACH debit, so `mandate` is its id (never null).
    """
    return {
        "type": "us_bank_account",
        "us_bank_account": {
            "account_holder_type": "individual",
            "account_type": "checking",
            "bank_name": "STRIPE TEST BANK",
            "fingerprint": "emuBankFingerprint",
            "last4": "6789",
            "mandate": mandate_id,
            "payment_reference": None,
            "routing_number": "110000000",
        },
    }


def billing_details(email: str) -> dict[str, Any]:
    """What Checkout collected about the payer (on charges and payment methods)."""
    return {
        "address": {**_NULL_ADDRESS, "country": "US", "postal_code": "10001"},
        "email": email,
        "name": "Jenny Rosen",
        "phone": None,
        "tax_id": None,
    }


def payment_method(*, pm_id: str, created: int, details: dict[str, Any], email: str) -> dict[str, Any]:
    """The PaymentMethod behind a charge, as Stripe embeds it in `last_payment_error`.

    `details` is the charge's `payment_method_details`; the card or bank account is described
    the way a PaymentMethod describes it (no per-payment fields such as `amount_authorized`).
    """
    method_type = details["type"]
    method: dict[str, Any] = {
        "id": pm_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": billing_details(email),
        "created": created,
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": method_type,
    }
    if method_type == "card":
        card = details["card"]
        method["card"] = {
            "brand": card["brand"],
            "checks": dict(card["checks"]),
            "country": card["country"],
            "display_brand": card["brand"],
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "generated_from": None,
            "last4": card["last4"],
            "networks": {"available": [card["network"]], "preferred": None},
            "regulated_status": card["regulated_status"],
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        }
    else:
        bank = details[method_type]
        method[method_type] = {
            "account_holder_type": bank["account_holder_type"],
            "account_type": bank["account_type"],
            "bank_name": bank["bank_name"],
            "financial_connections_account": None,
            "fingerprint": bank["fingerprint"],
            "last4": bank["last4"],
            "networks": {"preferred": "ach", "supported": ["ach"]},
            "routing_number": bank["routing_number"],
            "status_details": None,
        }
    return method


def charge(
    *,
    charge_id: str,
    created: int,
    amount: int,
    currency: str,
    intent_id: str,
    payment_method_id: str,
    payment_method_details: dict[str, Any],
    metadata: dict[str, str],
    description: str | None,
    receipt_email: str | None,
    email: str,
    status: str,
) -> dict[str, Any]:
    """A charge in `status` succeeded / pending / failed; the caller fills the outcome."""
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": billing_details(email),
        "calculated_statement_descriptor": "BOXOFFICE EMULATOR",
        "captured": False,
        "created": created,
        "currency": currency,
        "customer": None,
        "description": description,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": metadata,
        "on_behalf_of": None,
        "outcome": None,
        "paid": False,
        "payment_intent": intent_id,
        "payment_method": payment_method_id,
        "payment_method_details": payment_method_details,
        "receipt_email": receipt_email,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/charges/{charge_id}/refunds",
        },
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def outcome(*, approved: bool) -> dict[str, Any]:
    """The card network's verdict on a charge."""
    if approved:
        return {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "advice_code": "try_again_later",
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "declined_by_network",
        "reason": "generic_decline",
        "risk_level": "normal",
        "risk_score": 32,
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }


def refund(
    *,
    refund_id: str,
    created: int,
    amount: int,
    currency: str,
    charge_id: str,
    intent_id: str,
    payment_method_id: str,
    reason: str | None,
    metadata: dict[str, str],
    balance_transaction: str,
    destination_type: str,
) -> dict[str, Any]:
    """A refund that Stripe accepted (`succeeded`), its network reference still pending.

    Stripe omits what it does not know yet: `destination_details.<type>.reference` until the
    network gives one, and `failure_reason` / `failure_balance_transaction` unless it failed.
    """
    destination: dict[str, Any] = {"type": destination_type}
    destination[destination_type] = (
        {"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"}
        if destination_type == "card"
        else {"reference_status": "pending"}
    )
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge_id,
        "created": created,
        "currency": currency,
        "customer": None,
        "customer_account": None,
        "destination_details": destination,
        "metadata": metadata,
        "payment_intent": intent_id,
        "payment_method": payment_method_id,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


_EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)


def dispute(
    *,
    dispute_id: str,
    created: int,
    due_by: int,
    amount: int,
    currency: str,
    charge_id: str,
    intent_id: str | None,
    reason: str,
    brand: str,
    network_reason_code: str | None,
) -> dict[str, Any]:
    """A card chargeback as Stripe opens it: `needs_response`, no evidence, no money moved yet.

    Stripe copies nothing from the charge into `metadata`: it starts empty.
    """
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_id,
        "created": created,
        "currency": currency,
        "enhanced_eligibility_types": [],
        "evidence": {**dict.fromkeys(_EVIDENCE_FIELDS), "enhanced_evidence": {}},
        "evidence_details": {
            "due_by": due_by,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": intent_id,
        "payment_method_details": {
            "card": {
                "brand": brand,
                "case_type": "chargeback",
                "network": brand,
                "network_reason_code": network_reason_code,
            },
            "type": "card",
        },
        "reason": reason,
        "status": "needs_response",
    }


def balance_transaction(
    *,
    txn_id: str,
    created: int,
    amount: int,
    currency: str,
    fee: int,
    fee_description: str,
    description: str,
    source: str,
    reporting_category: str,
    type_: str,
) -> dict[str, Any]:
    """A movement of money on the account's balance (here: a dispute's withdrawal or reinstatement)."""
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": fee_description,
                "type": "stripe_fee",
            }
        ]
        if fee
        else [],
        "net": amount - fee,
        "reporting_category": reporting_category,
        "source": source,
        "status": "available",
        "type": type_,
    }


def event(
    *,
    event_id: str,
    created: int,
    type_: str,
    data_object: dict[str, Any],
    previous_attributes: dict[str, Any] | None,
    pending_webhooks: int,
    request_id: str | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """A snapshot event carrying a copy of the object as it was when the event happened."""
    data: dict[str, Any] = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "context": None,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type_,
    }


def webhook_endpoint(
    *,
    endpoint_id: str,
    created: int,
    url: str,
    enabled_events: list[str],
    description: str | None,
    metadata: dict[str, str],
    api_version: str | None,
) -> dict[str, Any]:
    """A webhook endpoint (without its secret, which only the create response shows)."""
    return {
        "id": endpoint_id,
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": created,
        "description": description,
        "enabled_events": enabled_events,
        "livemode": False,
        "metadata": metadata,
        "status": "enabled",
        "url": url,
    }


def list_object(url: str, data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """Stripe's list envelope."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
