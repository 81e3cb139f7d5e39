"""Refunds: create against a charge or PaymentIntent, list, and fail later as a bank does.

Creating a refund emits `charge.refunded`, `refund.created`, then `refund.updated` (the card
network's reference becomes available). A failing refund emits `refund.updated`,
`charge.refund.updated`, then `refund.failed`, and gives the amount back to the charge.

Magic amount: a refund whose amount ends in 13 minor units (`amount % 100 == 13`, e.g. 1013 =
$10.13) succeeds, then fails with `lost_or_stolen_card` once `refund_failure_delay` seconds have
passed on the emulator clock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from . import disputes, objects
from .currencies import format_amount
from .errors import StripeError, invalid_request, resource_missing
from .params import EXPAND, LIST_PARAMS, Boolean, Integer, Metadata, Obj, RangeFilter, String
from .store import CHARGE, PAYMENT_INTENT, REFUND, Ctx, Store, register_task

# `destination_details.type` per payment method: a bank debit is refunded by bank transfer.
DESTINATION_TYPES = {"card": "card", "us_bank_account": "us_bank_transfer"}
MAGIC_FAIL_MODULUS = 100
MAGIC_FAIL_REMAINDER = 13
MAGIC_FAILURE_REASON = "lost_or_stolen_card"
FAILURE_REASONS = (
    "charge_for_pending_refund_disputed",
    "declined",
    "expired_or_canceled_card",
    "insufficient_funds",
    "lost_or_stolen_card",
    "merchant_request",
    "unknown",
)

CREATE = Obj(
    {
        "charge": String(),
        "payment_intent": String(),
        "amount": Integer(minimum=1),
        "reason": String(choices=("duplicate", "fraudulent", "requested_by_customer")),
        "metadata": Metadata(),
        "instructions_email": String(),
        "refund_application_fee": Boolean(),
        "reverse_transfer": Boolean(),
        "expand": EXPAND,
    }
)
RETRIEVE = Obj({"expand": EXPAND})
UPDATE = Obj({"metadata": Metadata(), "expand": EXPAND})
LIST = Obj({**LIST_PARAMS, "charge": String(), "payment_intent": String(), "created": RangeFilter()})
CHARGE_REFUNDS = Obj(dict(LIST_PARAMS))


def is_magic_failure(amount: int) -> bool:
    """Whether a refund of `amount` is one that fails after succeeding (see module doc)."""
    return amount % MAGIC_FAIL_MODULUS == MAGIC_FAIL_REMAINDER


def _charge_to_refund(store: Store, ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    if "charge" not in params and "payment_intent" not in params:
        raise invalid_request(
            "One of the following params should be provided for this request: payment_intent or charge.",
            param="payment_intent",
            code="parameter_missing",
        )
    if "payment_intent" in params:
        intent = store.get(ctx.account, PAYMENT_INTENT, params["payment_intent"], "payment_intent")
        if intent["status"] != "succeeded" or intent["latest_charge"] is None:
            raise invalid_request(
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                param="payment_intent",
                code="charge_not_refundable",
            )
        charge = store.get(ctx.account, CHARGE, intent["latest_charge"])
        if "charge" in params and params["charge"] != charge["id"]:
            raise invalid_request(
                f"The charge {params['charge']} does not belong to PaymentIntent {intent['id']}.",
                param="charge",
            )
        return charge
    charge = store.get(ctx.account, CHARGE, params["charge"], "charge")
    if charge["status"] != "succeeded":
        raise invalid_request(
            f"Charge {charge['id']} has a status of {charge['status']} and cannot be refunded.",
            param="charge",
            code="charge_not_refundable",
        )
    return charge


def sync_charge_refunds(store: Store, ctx: Ctx, charge: dict[str, Any]) -> None:
    """Recompute the charge's refund totals and its embedded `refunds` list."""
    refunds = [r for r in ctx.account.newest_first(REFUND) if r["charge"] == charge["id"]]
    refunded = sum(r["amount"] for r in refunds if r["status"] in ("succeeded", "pending"))
    charge["amount_refunded"] = refunded
    charge["refunded"] = refunded >= charge["amount"]
    charge["refunds"].update(data=copy.deepcopy(refunds[:10]), has_more=len(refunds) > 10)


def create(store: Store, ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/refunds."""
    charge = _charge_to_refund(store, ctx, params)
    if charge["disputed"] and not disputes.charge_is_refundable(ctx.account, charge["id"]):
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.", code="charge_disputed"
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = params.get("amount", remaining)
    if amount > remaining:
        currency = charge["currency"]
        raise invalid_request(
            f"Refund amount ({format_amount(amount, currency)}) is greater than unrefunded amount on "
            f"charge ({format_amount(remaining, currency)})",
            param="amount",
            code="amount_too_large",
        )
    destination_type = DESTINATION_TYPES[charge["payment_method_details"]["type"]]
    refund = objects.refund(
        refund_id=store.ids.new("re_3"),
        created=store.clock.timestamp(),
        amount=amount,
        currency=charge["currency"],
        charge_id=charge["id"],
        intent_id=charge["payment_intent"],
        payment_method_id=charge["payment_method"],
        reason=params.get("reason"),
        metadata=params.get("metadata", {}),
        balance_transaction=store.ids.new("txn_3"),
        destination_type=destination_type,
    )
    store.add(ctx.account, refund)
    sync_charge_refunds(store, ctx, charge)
    store.emit(ctx, "charge.refunded", charge)
    store.emit(ctx, "refund.created", refund)
    destination = refund["destination_details"][destination_type]
    previous = {"destination_details": copy.deepcopy(refund["destination_details"])}
    destination.update(reference=f"{refund['id'][-12:].upper()}", reference_status="available")
    sync_charge_refunds(store, ctx, charge)
    store.emit(ctx, "refund.updated", refund, previous)
    if is_magic_failure(amount):
        account = ctx.account
        store.schedule(
            f"refund-fail:{refund['id']}",
            store.refund_failure_delay,
            lambda: fail(store, Ctx(account), refund, MAGIC_FAILURE_REASON),
            spec={"kind": "refund_failure", "account": account.key, "refund": refund["id"]},
        )
    return refund


def _rebuild_failure(store: Store, spec: dict[str, Any]) -> Callable[[], object]:
    """A saved "this refund fails later", after a restart."""
    account = store.account(spec["account"])
    refund = store.get(account, REFUND, spec["refund"])
    return lambda: fail(store, Ctx(account), refund, MAGIC_FAILURE_REASON)


register_task("refund_failure", _rebuild_failure)


def update(store: Store, ctx: Ctx, refund: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/refunds/{id}: metadata only."""
    if "metadata" in params:
        previous = {"metadata": copy.deepcopy(refund["metadata"])}
        refund["metadata"] = {**refund["metadata"], **params["metadata"]} if params["metadata"] else {}
        charge = store.get(ctx.account, CHARGE, refund["charge"])
        sync_charge_refunds(store, ctx, charge)
        store.emit(ctx, "refund.updated", refund, previous)
    return refund


def list_refunds(store: Store, ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    """GET /v1/refunds, filtered by charge / payment_intent / created."""
    refunds = store.created_filter(ctx.account.newest_first(REFUND), params)
    for key in ("charge", "payment_intent"):
        if key in params:
            refunds = [r for r in refunds if r[key] == params[key]]
    return refunds


def fail(store: Store, ctx: Ctx, refund: dict[str, Any], failure_reason: str) -> dict[str, Any]:
    """A refund that was accepted bounces back: mark it failed and restore the charge."""
    if failure_reason not in FAILURE_REASONS:
        raise invalid_request(
            f"Invalid failure_reason: must be one of {', '.join(FAILURE_REASONS)}", param="failure_reason"
        )
    if refund["status"] not in ("succeeded", "pending"):
        raise StripeError(
            400,
            "invalid_request_error",
            f"Refund {refund['id']} has a status of {refund['status']} and cannot fail.",
        )
    previous = {"status": refund["status"], "failure_reason": None, "failure_balance_transaction": None}
    refund.update(
        status="failed",
        failure_reason=failure_reason,
        failure_balance_transaction=store.ids.new("txn_3"),
    )
    charge = store.get(ctx.account, CHARGE, refund["charge"])
    sync_charge_refunds(store, ctx, charge)
    store.emit(ctx, "refund.updated", refund, previous)
    store.emit(ctx, "charge.refund.updated", refund, previous)
    store.emit(ctx, "refund.failed", refund)
    return refund


def fail_by_id(store: Store, refund_id: str, failure_reason: str) -> dict[str, Any]:
    """The control API's way in: find the refund in whichever account owns it."""
    found = store.find(refund_id)
    if found is None or found[1]["object"] != REFUND:
        raise resource_missing(REFUND, refund_id, "refund")
    account, refund = found
    store.cancel(f"refund-fail:{refund_id}")
    return fail(store, Ctx(account), refund, failure_reason)
