"""Checkout Sessions (payment mode) and what paying one does.

Event order follows one rule: the PaymentIntent's event first, then the Charge's, then the
Checkout Session's (see README "Events"). A PaymentIntent is created when the customer first
submits payment (as with Stripe's API since 2022-08-01), so `payment_intent` is null before that.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from . import objects
from .currencies import SUPPORTED, THREE_DECIMAL, format_amount, minimum_charge
from .errors import StripeError, invalid_request, resource_missing
from .params import EXPAND, LIST_PARAMS, Array, Boolean, Integer, Metadata, Obj, RangeFilter, String
from .store import CHARGE, PAYMENT_INTENT, SESSION, Ctx, SessionExtras, Store, register_task

OUTCOMES = ("succeed", "decline", "async_succeed", "async_fail")
MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 60 * 60
EXPIRY_SLACK = 10
"""Seconds of leeway on the expires_at window, for clients whose clock ticks a little apart."""


class PaymentRefused(Exception):
    """The hosted page cannot take a payment for this session (not open, or bad outcome)."""


_PRODUCT_DATA = Obj(
    {
        "name": String(required=True, max_length=250),
        "description": String(max_length=40000),
        "images": Array(String(max_length=2048), max_items=8),
        "metadata": Metadata(),
        "tax_code": String(),
        "unit_label": String(max_length=12),
    }
)
_PRICE_DATA = Obj(
    {
        "currency": String(required=True),
        "unit_amount": Integer(minimum=0, maximum=99_999_999),
        "product_data": _PRODUCT_DATA,
        "product": String(),
        "tax_behavior": String(choices=("exclusive", "inclusive", "unspecified")),
    }
)
_LINE_ITEM = Obj(
    {
        "price_data": _PRICE_DATA,
        "price": String(),
        "quantity": Integer(minimum=1, maximum=999_999),
        "adjustable_quantity": Obj({"enabled": Boolean(), "maximum": Integer(), "minimum": Integer()}),
        "tax_rates": Array(String()),
    }
)

CREATE = Obj(
    {
        "mode": String(required=True, choices=("payment", "setup", "subscription")),
        "success_url": String(required=True, max_length=5000),
        "cancel_url": String(max_length=5000),
        "line_items": Array(_LINE_ITEM, max_items=100),
        "metadata": Metadata(),
        "client_reference_id": String(max_length=200),
        "customer_email": String(max_length=800),
        "currency": String(),
        "expires_at": Integer(),
        "payment_intent_data": Obj(
            {
                "metadata": Metadata(),
                "description": String(max_length=1000),
                "receipt_email": String(),
                "statement_descriptor": String(max_length=22),
                "statement_descriptor_suffix": String(max_length=22),
            }
        ),
        "payment_method_types": Array(String()),
        "locale": String(),
        "submit_type": String(choices=("auto", "book", "donate", "pay", "subscribe")),
        "billing_address_collection": String(choices=("auto", "required")),
        "allow_promotion_codes": Boolean(),
        "ui_mode": String(choices=("hosted",)),
        "expand": EXPAND,
    }
)
RETRIEVE = Obj({"expand": EXPAND})
UPDATE = Obj({"metadata": Metadata(), "expand": EXPAND})
LIST = Obj(
    {
        **LIST_PARAMS,
        "created": RangeFilter(),
        "payment_intent": String(),
        "status": String(choices=("open", "complete", "expired")),
        "customer": String(),
        "customer_details": Obj({"email": String()}),
        "payment_link": String(),
        "subscription": String(),
    }
)
LINE_ITEMS = Obj(dict(LIST_PARAMS))


def _check_url(value: str | None, param: str) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_request("Not a valid URL", param=param, code="url_invalid")


def _line_items(store: Store, ctx: Ctx, items: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Validate line items beyond their types and build the `item` objects."""
    built: list[dict[str, Any]] = []
    currency: str | None = None
    now = store.clock.timestamp()
    for index, item in enumerate(items):
        name = f"line_items[{index}]"
        if "price" in item:
            raise resource_missing("price", item["price"], f"{name}[price]")
        price_data = item.get("price_data")
        if price_data is None:
            raise invalid_request(
                f"You must specify either `price` or `price_data` in {name}.", param=f"{name}[price_data]"
            )
        if "product" in price_data:
            raise resource_missing("product", price_data["product"], f"{name}[price_data][product]")
        if "product_data" not in price_data:
            raise invalid_request(
                f"You must specify either `product` or `product_data` in {name}[price_data].",
                param=f"{name}[price_data][product_data]",
            )
        if "unit_amount" not in price_data:
            raise invalid_request(
                f"Missing required param: {name}[price_data][unit_amount].",
                param=f"{name}[price_data][unit_amount]",
                code="parameter_missing",
            )
        if "quantity" not in item:
            raise invalid_request(
                f"Quantity is required. Add `quantity` to `{name}`.", param=f"{name}[quantity]"
            )
        item_currency = price_data["currency"].lower()
        if item_currency not in SUPPORTED:
            raise invalid_request(
                f"Invalid currency: {price_data['currency']}. Stripe currently supports these currencies: "
                + ", ".join(sorted(SUPPORTED)),
                param=f"{name}[price_data][currency]",
            )
        if currency is not None and item_currency != currency:
            raise invalid_request(
                f"All line items must use the same currency; `{name}` uses {item_currency} but "
                f"`line_items[0]` uses {currency}.",
                param=f"{name}[price_data][currency]",
            )
        currency = item_currency
        built.append(
            objects.line_item(
                item_id=store.ids.new("li_1"),
                price_id=store.ids.new("price_1"),
                product_id=store.ids.new("prod_"),
                name=price_data["product_data"]["name"],
                currency=item_currency,
                unit_amount=price_data["unit_amount"],
                quantity=item["quantity"],
                created=now,
            )
        )
    if currency is None:
        raise invalid_request("line_items is required in payment mode.", param="line_items")
    return currency, built


def create(store: Store, ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/checkout/sessions."""
    if params["mode"] != "payment":
        raise invalid_request(
            f"The emulator only supports mode=payment, not mode={params['mode']}.", param="mode"
        )
    _check_url(params["success_url"], "success_url")
    _check_url(params.get("cancel_url"), "cancel_url")
    if not params.get("line_items"):
        raise invalid_request(
            "You must provide at least one line item: line_items is required in payment mode.",
            param="line_items",
            code="parameter_missing",
        )
    currency, items = _line_items(store, ctx, params["line_items"])
    if "currency" in params and params["currency"].lower() != currency:
        raise invalid_request(
            f"The session currency ({params['currency']}) must match the line items' currency ({currency}).",
            param="currency",
        )
    total = sum(item["amount_total"] for item in items)
    minimum = minimum_charge(currency)
    if total < minimum:
        raise invalid_request(
            f"The Checkout Session's total amount due must add up to at least "
            f"{format_amount(minimum, currency)} {currency}",
            param="line_items",
            code="amount_too_small",
        )
    if currency in THREE_DECIMAL and total % 10:
        raise invalid_request(
            f"Amounts in {currency} must be multiples of 10 minor units (the last digit must be 0).",
            param="line_items",
            code="invalid_amount",
        )
    now = store.clock.timestamp()
    expires_at = params.get("expires_at", now + MAX_EXPIRY)
    if expires_at < now + MIN_EXPIRY - EXPIRY_SLACK:
        raise invalid_request(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            param="expires_at",
        )
    if expires_at > now + MAX_EXPIRY + EXPIRY_SLACK:
        raise invalid_request(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    session_id = store.ids.new("cs_test_a1")
    session = objects.checkout_session(
        session_id=session_id,
        created=now,
        expires_at=expires_at,
        url=f"{store.base_url}/checkout/{session_id}",
        currency=currency,
        amount_subtotal=total,
        amount_total=total,
        success_url=params["success_url"],
        cancel_url=params.get("cancel_url"),
        client_reference_id=params.get("client_reference_id"),
        customer_email=params.get("customer_email"),
        metadata=params.get("metadata", {}),
        payment_method_types=params.get("payment_method_types") or ["card"],
        locale=params.get("locale"),
        submit_type=params.get("submit_type"),
    )
    if "allow_promotion_codes" in params:
        session["allow_promotion_codes"] = params["allow_promotion_codes"]
    session["billing_address_collection"] = params.get("billing_address_collection")
    intent_data = params.get("payment_intent_data", {})
    ctx.account.session_extras[session_id] = SessionExtras(
        intent_metadata=intent_data.get("metadata", {}),
        intent_description=intent_data.get("description"),
        receipt_email=intent_data.get("receipt_email"),
        statement_descriptor=intent_data.get("statement_descriptor"),
        statement_descriptor_suffix=intent_data.get("statement_descriptor_suffix"),
    )
    ctx.account.line_items[session_id] = items
    store.add(ctx.account, session)
    return session


def update(store: Store, ctx: Ctx, session: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/checkout/sessions/{id}: only metadata, merged as Stripe merges it."""
    if "metadata" in params:
        session["metadata"] = {**session["metadata"], **params["metadata"]} if params["metadata"] else {}
    return session


def list_sessions(store: Store, ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    """GET /v1/checkout/sessions, filtered."""
    sessions = store.created_filter(ctx.account.newest_first(SESSION), params)
    for key in ("payment_intent", "status", "customer", "payment_link", "subscription"):
        if key in params:
            sessions = [s for s in sessions if s[key] == params[key]]
    email = params.get("customer_details", {}).get("email")
    if email is not None:
        sessions = [s for s in sessions if (s["customer_details"] or {}).get("email") == email]
    return sessions


def expire(store: Store, ctx: Ctx, session: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/checkout/sessions/{id}/expire, and expiry on the emulator clock."""
    if session["status"] != "open":
        raise invalid_request(
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session '
            f"has a status of `{session['status']}`."
        )
    intent_id = session["payment_intent"]
    if intent_id is not None:
        intent = store.get(ctx.account, PAYMENT_INTENT, intent_id)
        if intent["status"] == "requires_payment_method":
            intent.update(
                status="canceled", canceled_at=store.clock.timestamp(), cancellation_reason="abandoned"
            )
            store.emit(ctx, "payment_intent.canceled", intent)
    session.update(status="expired", url=None)
    store.emit(ctx, "checkout.session.expired", session)
    return session


# -- paying on the hosted page ----------------------------------------------------------------


def _intent_for(store: Store, ctx: Ctx, session: dict[str, Any]) -> dict[str, Any]:
    """The session's PaymentIntent, created (with `payment_intent.created`) on first use."""
    if session["payment_intent"] is not None:
        return store.get(ctx.account, PAYMENT_INTENT, session["payment_intent"])
    extras = ctx.account.session_extras.get(session["id"], SessionExtras())
    intent_id = store.ids.new("pi_3")
    intent = objects.payment_intent(
        intent_id=intent_id,
        client_secret=f"{intent_id}_secret_{store.ids.new('req_')[4:]}",
        created=store.clock.timestamp(),
        amount=session["amount_total"],
        currency=session["currency"],
        metadata=copy.deepcopy(extras.intent_metadata),
        description=extras.intent_description,
        payment_method_types=list(session["payment_method_types"]),
        receipt_email=extras.receipt_email,
        statement_descriptor=extras.statement_descriptor,
        statement_descriptor_suffix=extras.statement_descriptor_suffix,
    )
    store.add(ctx.account, intent)
    session["payment_intent"] = intent_id
    store.emit(ctx, "payment_intent.created", intent)
    return intent


def _new_charge(
    store: Store, ctx: Ctx, session: dict[str, Any], intent: dict[str, Any], *, method: str, status: str
) -> dict[str, Any]:
    pm_id = store.ids.new("pm_1")
    details = (
        objects.card_details(last4="0002" if status == "failed" else "4242", declined=status == "failed")
        if method == "card"
        else objects.bank_debit_details(store.ids.new("mandate_1"))
    )
    charge = objects.charge(
        charge_id=store.ids.new("ch_3"),
        created=store.clock.timestamp(),
        amount=intent["amount"],
        currency=intent["currency"],
        intent_id=intent["id"],
        payment_method_id=pm_id,
        payment_method_details=details,
        metadata=copy.deepcopy(intent["metadata"]),
        description=intent["description"],
        receipt_email=intent["receipt_email"],
        email=session["customer_email"] or objects.TEST_EMAIL,
        status=status,
    )
    store.add(ctx.account, charge)
    intent.update(payment_method=pm_id, latest_charge=charge["id"], last_payment_error=None)
    return charge


def _charge_succeeded(store: Store, charge: dict[str, Any]) -> None:
    charge.update(
        status="succeeded",
        paid=True,
        captured=True,
        amount_captured=charge["amount"],
        balance_transaction=store.ids.new("txn_3"),
        outcome=objects.outcome(approved=True),
        receipt_url=f"{store.base_url}/receipts/{charge['id']}",
    )
    if charge["payment_method_details"]["type"] == "card":
        charge["payment_method_details"]["card"]["amount_authorized"] = charge["amount"]


def _charge_failed(charge: dict[str, Any], code: str, message: str) -> None:
    charge.update(
        status="failed",
        paid=False,
        captured=False,
        failure_code=code,
        failure_message=message,
        outcome=objects.outcome(approved=False),
    )


def _intent_failed(
    intent: dict[str, Any], charge: dict[str, Any], *, type_: str, code: str, message: str
) -> None:
    error: dict[str, Any] = {
        "type": type_,
        "code": code,
        "message": message,
        "charge": charge["id"],
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "payment_method": objects.payment_method(
            pm_id=charge["payment_method"],
            created=charge["created"],
            details=charge["payment_method_details"],
            email=charge["billing_details"]["email"],
        ),
    }
    if type_ == "card_error":
        error["decline_code"] = "generic_decline"
    intent.update(status="requires_payment_method", last_payment_error=error, amount_received=0)


def _complete(session: dict[str, Any], payment_status: str) -> None:
    email = session["customer_email"] or objects.TEST_EMAIL
    session.update(
        status="complete",
        payment_status=payment_status,
        url=None,
        customer_details=objects.customer_details(email),
    )


def _success_redirect(session: dict[str, Any]) -> str:
    url: str = session["success_url"]
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"])


def pay(store: Store, ctx: Ctx, session: dict[str, Any], outcome: str) -> str | None:
    """Act out one submission of the hosted page. Returns the redirect URL, None on decline."""
    if outcome not in OUTCOMES:
        raise PaymentRefused(f"outcome must be one of {', '.join(OUTCOMES)}")
    if session["status"] != "open":
        raise PaymentRefused(f"This Checkout Session is {session['status']} and cannot be paid.")
    intent = _intent_for(store, ctx, session)
    if outcome == "decline":
        charge = _new_charge(store, ctx, session, intent, method="card", status="failed")
        _charge_failed(charge, "card_declined", "Your card was declined.")
        _intent_failed(
            intent, charge, type_="card_error", code="card_declined", message="Your card was declined."
        )
        store.emit(ctx, "payment_intent.payment_failed", intent)
        store.emit(ctx, "charge.failed", charge)
        return None
    if outcome == "succeed":
        charge = _new_charge(store, ctx, session, intent, method="card", status="succeeded")
        _charge_succeeded(store, charge)
        intent.update(status="succeeded", amount_received=intent["amount"])
        _complete(session, "paid")
        store.emit(ctx, "payment_intent.succeeded", intent)
        store.emit(ctx, "charge.succeeded", charge)
        store.emit(ctx, "checkout.session.completed", session)
        return _success_redirect(session)
    charge = _new_charge(store, ctx, session, intent, method="us_bank_account", status="pending")
    intent["status"] = "processing"
    _complete(session, "unpaid")
    store.emit(ctx, "payment_intent.processing", intent)
    store.emit(ctx, "charge.pending", charge)
    store.emit(ctx, "checkout.session.completed", session)
    succeeded = outcome == "async_succeed"
    account = ctx.account
    store.schedule(
        async_task_key(session["id"]),
        store.async_payment_delay,
        lambda: finish_async(store, Ctx(account), session["id"], succeeded=succeeded),
        spec={
            "kind": "async_payment",
            "account": account.key,
            "session": session["id"],
            "succeeded": succeeded,
        },
    )
    return _success_redirect(session)


def _rebuild_async(store: Store, spec: dict[str, Any]) -> Callable[[], object]:
    """A saved async payment result, after a restart."""
    account = store.account(spec["account"])
    return lambda: finish_async(store, Ctx(account), spec["session"], succeeded=bool(spec["succeeded"]))


register_task("async_payment", _rebuild_async)


def async_task_key(session_id: str) -> str:
    """Scheduler key of a session's pending async payment result."""
    return f"async:{session_id}"


def finish_async(store: Store, ctx: Ctx, session_id: str, *, succeeded: bool) -> None:
    """The bank's answer for a delayed-notification payment arrives."""
    session = store.get(ctx.account, SESSION, session_id)
    intent = store.get(ctx.account, PAYMENT_INTENT, session["payment_intent"])
    charge = store.get(ctx.account, CHARGE, intent["latest_charge"])
    if succeeded:
        _charge_succeeded(store, charge)
        intent.update(status="succeeded", amount_received=intent["amount"])
        session["payment_status"] = "paid"
        store.emit(ctx, "payment_intent.succeeded", intent)
        store.emit(ctx, "charge.succeeded", charge)
        store.emit(ctx, "checkout.session.async_payment_succeeded", session)
        return
    message = "The customer's account has insufficient funds to cover this payment."
    _charge_failed(charge, "insufficient_funds", message)
    _intent_failed(intent, charge, type_="invalid_request_error", code="insufficient_funds", message=message)
    store.emit(ctx, "payment_intent.payment_failed", intent)
    store.emit(ctx, "charge.failed", charge)
    store.emit(ctx, "checkout.session.async_payment_failed", session)


def complete_async(store: Store, session_id: str) -> None:
    """Deliver a pending async payment result now instead of after the delay."""
    found = store.find(session_id)
    if found is None or found[1]["object"] != SESSION:
        raise resource_missing(SESSION, session_id, "session")
    if not store.run_now(async_task_key(session_id)):
        raise StripeError(
            400, "invalid_request_error", f"Checkout Session {session_id} has no async payment waiting."
        )
