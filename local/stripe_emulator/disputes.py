"""Disputes (chargebacks): opened and closed by the card network, read through `/v1/disputes`.

Stripe opens a dispute when a cardholder's bank charges a payment back; the emulator does it on
the `open_dispute` knob. It emits, in order, `charge.dispute.created` (status `needs_response`,
no money moved yet) and `charge.dispute.funds_withdrawn` (a balance transaction takes the amount
and the dispute fee). The charge becomes `disputed: true`, and refunding it is refused with
`charge_disputed` while the dispute is open or lost. Closing (`close_dispute`) emits
`charge.dispute.closed` (status `won` or `lost`), then `charge.dispute.funds_reinstated` when
won, with a second balance transaction that gives the amount back.
"""

from __future__ import annotations

import copy
from typing import Any

from . import objects
from .errors import invalid_request, resource_missing
from .params import EXPAND, LIST_PARAMS, Obj, RangeFilter, String
from .store import CHARGE, DISPUTE, PAYMENT_INTENT, Account, Ctx, Store

REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
OUTCOMES = ("won", "lost")
OPEN_STATUSES = ("needs_response", "under_review")
RESPONSE_WINDOW = 7 * 24 * 60 * 60
"""Seconds the merchant has to respond; `due_by` is the end of that day (UTC), as Stripe sets it."""
DISPUTE_FEES = {"usd": 1500}
"""Stripe's dispute fee per currency (minor units); other currencies are charged none here."""
# Visa's reason codes for the reasons a card dispute usually carries.
_VISA_CODES = {
    "fraudulent": "10.4",
    "duplicate": "12.6.1",
    "subscription_canceled": "13.2",
    "product_unacceptable": "13.3",
    "product_not_received": "13.1",
    "credit_not_processed": "13.6",
    "general": "13.7",
}

RETRIEVE = Obj({"expand": EXPAND})
LIST = Obj({**LIST_PARAMS, "charge": String(), "payment_intent": String(), "created": RangeFilter()})


def _charge_for(store: Store, object_id: str) -> tuple[Account, dict[str, Any]]:
    """The charge a knob names, by its id or by its PaymentIntent's id (the intent's latest charge)."""
    found = store.find(object_id)
    if found is not None and found[1]["object"] == PAYMENT_INTENT:
        account, intent = found
        if intent["latest_charge"] is None:
            raise invalid_request(f"PaymentIntent {object_id} has no charge to dispute.", param="charge")
        return account, store.get(account, CHARGE, intent["latest_charge"], "charge")
    if found is None or found[1]["object"] != CHARGE:
        raise resource_missing(CHARGE, object_id, "charge")
    return found


def _disputes_of(account: Account, charge_id: str) -> list[dict[str, Any]]:
    return [d for d in account.newest_first(DISPUTE) if d["charge"] == charge_id]


def charge_is_refundable(account: Account, charge_id: str) -> bool:
    """Whether a disputed charge may still be refunded: only once its dispute was won."""
    return all(d["is_charge_refundable"] for d in _disputes_of(account, charge_id))


def _money_moves(store: Store, dispute: dict[str, Any], *, withdrawn: bool) -> dict[str, Any]:
    """The balance transaction of a withdrawal (amount and fee out) or a reinstatement (amount back)."""
    amount, currency = dispute["amount"], dispute["currency"]
    fee = DISPUTE_FEES.get(currency, 0) if withdrawn else 0
    kind = "withdrawal" if withdrawn else "reversal"
    return objects.balance_transaction(
        txn_id=store.ids.new("txn_3"),
        created=store.clock.timestamp(),
        amount=-amount if withdrawn else amount,
        currency=currency,
        fee=fee,
        fee_description="Dispute fee",
        description=f"Chargeback {kind} for {dispute['charge']}",
        source=dispute["id"],
        reporting_category="dispute" if withdrawn else "dispute_reversal",
        type_="adjustment",
    )


def open_dispute(store: Store, object_id: str, amount: int | None, reason: str) -> dict[str, Any]:
    """The cardholder's bank charges back a succeeded card payment (a charge or an intent's id)."""
    if reason not in REASONS:
        raise invalid_request(f"Invalid reason: must be one of {', '.join(REASONS)}", param="reason")
    account, charge = _charge_for(store, object_id)
    if charge["status"] != "succeeded":
        raise invalid_request(
            f"Charge {charge['id']} has a status of {charge['status']}; only a succeeded charge can be disputed.",
            param="charge",
        )
    method = charge["payment_method_details"]
    if method["type"] != "card":
        raise invalid_request(
            f"Charge {charge['id']} was paid by {method['type']}; the emulator disputes card payments only.",
            param="charge",
        )
    if _disputes_of(account, charge["id"]):
        raise invalid_request(f"Charge {charge['id']} already has a dispute.", param="charge")
    amount = charge["amount"] if amount is None else amount
    if not 0 < amount <= charge["amount"]:
        raise invalid_request(
            f"The disputed amount must be between 1 and the charge's amount ({charge['amount']}).",
            param="amount",
        )
    created = store.clock.timestamp()
    dispute = objects.dispute(
        dispute_id=store.ids.new("dp_1"),
        created=created,
        due_by=((created + RESPONSE_WINDOW) // 86400 + 1) * 86400 - 1,
        amount=amount,
        currency=charge["currency"],
        charge_id=charge["id"],
        intent_id=charge["payment_intent"],
        reason=reason,
        brand=method["card"]["brand"],
        network_reason_code=_VISA_CODES.get(reason) if method["card"]["network"] == "visa" else None,
    )
    store.add(account, dispute)
    charge["disputed"] = True
    ctx = Ctx(account)
    store.emit(ctx, "charge.dispute.created", dispute)
    dispute["balance_transactions"].append(_money_moves(store, dispute, withdrawn=True))
    store.emit(ctx, "charge.dispute.funds_withdrawn", dispute)
    return dispute


def close_dispute(store: Store, dispute_id: str, status: str) -> dict[str, Any]:
    """The network decides: `won` gives the money back, `lost` keeps it withdrawn."""
    if status not in OUTCOMES:
        raise invalid_request("Invalid status: must be one of won or lost", param="status")
    found = store.find(dispute_id)
    if found is None or found[1]["object"] != DISPUTE:
        raise resource_missing(DISPUTE, dispute_id, "dispute")
    account, dispute = found
    if dispute["status"] not in OPEN_STATUSES:
        raise invalid_request(
            f"Dispute {dispute_id} is already closed with status {dispute['status']}.", param="status"
        )
    ctx = Ctx(account)
    dispute.update(status=status, is_charge_refundable=status == "won")
    store.emit(ctx, "charge.dispute.closed", dispute)
    if status == "won":
        dispute["balance_transactions"].append(_money_moves(store, dispute, withdrawn=False))
        store.emit(ctx, "charge.dispute.funds_reinstated", dispute)
    return dispute


def list_disputes(store: Store, ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    """GET /v1/disputes, newest first, filtered by charge / payment_intent / created."""
    disputes = store.created_filter(ctx.account.newest_first(DISPUTE), params)
    for key in ("charge", "payment_intent"):
        if key in params:
            disputes = [d for d in disputes if d[key] == params[key]]
    return disputes


def snapshot(dispute: dict[str, Any]) -> dict[str, Any]:
    """A private copy for the knobs' callers."""
    return copy.deepcopy(dispute)
