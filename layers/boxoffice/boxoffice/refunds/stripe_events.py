"""Stripe's refund, charge and dispute events, and the sync with Stripe before money leaves.

Our own pending refund is completed or released by its event; any other Stripe refund is counted
once, by its Stripe id, as ``external`` (a dashboard refund, or one of ours whose outcome we never
learned), against the payment it refunded. A refund that fails later at the bank gives its amount
back, and the owner's status is recomputed from the records. A dispute marks the payment it is
about while open or lost (the owner, for its own payment), and refunds of that payment wait for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from boxoffice import lazy, money, store
from boxoffice.observability import logger
from boxoffice.refunds import phases
from boxoffice.refunds.owners import OrderOwner, Owner, owner_of

if TYPE_CHECKING:
    from boxoffice.store import refund_writes
    from boxoffice.store import refunds as records
else:
    records = lazy.module("boxoffice.store.refunds")
    refund_writes = lazy.module("boxoffice.store.refund_writes")

DISPUTE_OPEN = frozenset({"warning_needs_response", "warning_under_review", "needs_response", "under_review"})


def on_stripe_refund(conference_id: str, stripe_refund: dict[str, Any]) -> None:
    """``refund.created``/``updated``/``failed`` and ``charge.refund.updated``: bring our records in line.

    Our own pending refund is completed (single part; a split one completes through its request or
    the sweep). Any other Stripe refund we have no link for is counted once, as external: a
    dashboard refund, or one of ours whose outcome we never learned.
    """
    owner = owner_of(conference_id, stripe_refund)
    if owner is None:
        return
    ours = (stripe_refund.get("metadata") or {}).get("refund_id")
    refund = records.get_refund(owner.item.PK, ours) if isinstance(ours, str) else None
    linked = records.get_link(conference_id, stripe_refund["id"]) is not None
    if linked and stripe_refund.get("status") in ("failed", "canceled"):
        _record_failure(owner, stripe_refund)
    elif not linked:
        # Not counted yet: what Stripe says now beats the event's snapshot, in either direction.
        now = _as_stripe_has_it(conference_id, stripe_refund)
        failed = now.get("status") in ("failed", "canceled")
        if refund is not None and refund.status == records.PENDING:
            intent = str(now.get("payment_intent"))
            if failed and set(refund.split or {}) == {intent}:
                phases.release(owner, refund, f"the refund failed at Stripe ({now.get('failure_reason')})")
            elif not failed and set(refund.split or {}) == {intent}:
                phases.complete(owner, refund, {intent: (now["id"], int(now["amount"]))})
        elif failed:
            logger.info("refund already failed at Stripe; not counted", extra={"refund": now.get("id")})
        else:
            _record_external(owner, now)
    owner.settle()
    owner.freeze_double_paid()  # also on a retry whose first run died before it froze anything


def on_charge_refunded(conference_id: str, charge: dict[str, Any]) -> None:
    """``charge.refunded``: Stripe's list of the payment's refunds is the truth; record each once."""
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    intent = charge.get("payment_intent")
    if conference is None or conference.stripe_secret_name is None or not isinstance(intent, str):
        return
    owner = owner_of(conference_id, {"payment_intent": intent, "metadata": charge.get("metadata") or {}})
    if owner is None:
        return
    owner_ids = {k: v for k, v in owner.ids().items() if v}
    for stripe_refund in stripe_gateway.list_refunds(conference.stripe_secret_name, intent):
        on_stripe_refund(
            conference_id,
            {**stripe_refund, "metadata": {**owner_ids, **(stripe_refund.get("metadata") or {})}},
        )


def on_dispute(conference_id: str, dispute: dict[str, Any]) -> None:
    """``charge.dispute.*``: the disputed payment follows the dispute as Stripe has it now (events
    may come in any order): refunds of it refused while open or after it was lost (the cardholder
    already has the money back), allowed again when won. The owner's own payment is marked on the
    owner; money that is not its own on its Payment (a purchase records none: nothing refunds it
    through the API), so refunds of the owner's other payments go on. Staff are told on the owner."""
    from boxoffice import stripe_gateway

    owner = owner_of(conference_id, dispute)
    conference = store.get_conference(conference_id)
    if owner is None or conference is None:
        return
    if conference.stripe_secret_name is not None and isinstance(dispute.get("id"), str):
        dispute = {**dispute, **stripe_gateway.retrieve_dispute(conference.stripe_secret_name, dispute["id"])}
    status, dispute_id = str(dispute.get("status")), str(dispute.get("id"))
    amount = money.format_amount(
        int(dispute.get("amount") or 0), str(dispute.get("currency") or owner.item.currency)
    )
    if status in DISPUTE_OPEN:
        state: str | None = f"open:{dispute_id}"
        reason = f"dispute {dispute_id} open ({dispute.get('reason')}) for {amount}; refunds wait for it"
    elif status == "lost":
        state = f"lost:{dispute_id}"
        reason = f"dispute {dispute_id} lost: the cardholder got {amount} back through the bank"
    else:
        state, reason = None, f"dispute {dispute_id} {status} for {amount}"
    intent = dispute.get("payment_intent")
    intent = intent if isinstance(intent, str) else None
    against = owner.counts_against(intent)
    if against == records.UNMATCHED and isinstance(owner, OrderOwner) and owner.item.status != "pending":
        # Not recorded yet, for an order no longer pending: it can only become a second tab's
        # money, so it never stands for its credits (a late payment becomes the order's own only
        # if Stripe has no open or lost dispute of it: orders.own_payment asks).
        against = records.EXTRA
    if against == records.EXTRA:
        # Money that is not the owner's own (a second tab): the dispute holds that payment alone,
        # never refunds of the owner's own payment, and gave back that payment, not the money the
        # order's credits stand for. A mark it set while its payment was not recorded yet goes.
        if (owner.item.dispute or "").endswith(f":{dispute_id}"):
            # A dispute of the own payment may have been kept out by this mark: it takes the mark.
            successor = _own_dispute_mark(owner, conference.stripe_secret_name)
            if refund_writes.drop_dispute_mark(owner.item, dispute_id, successor) and successor:
                store.add_attention(
                    owner.item,
                    f"dispute {successor.split(':', 1)[1]} of its own payment: refunds wait for it",
                )
        payment = owner.payment_for(intent) if intent else None
        if payment is None or refund_writes.mark_dispute(payment, dispute_id, state):
            store.add_attention(owner.item, reason)
        elif (fresh := owner.payment_for(str(intent))) is not None and fresh.is_own:
            on_dispute(conference_id, dispute)  # it became the order's own meanwhile: decided again
            return
    else:
        # The own payment charged back: refunds stay refused even when another dispute held the
        # mark and ends later (its end must not clear this one). A dispute that ends hands the mark
        # to one of the own payment it kept out (its payment not recorded yet when it took the mark).
        # Lost, what it gave back is counted once (its own payment's): store credit of the rest may
        # go on, unless another dispute of the own payment is still open (that one takes the mark).
        if state is None or status == "lost":
            successor = _own_dispute_mark(owner, conference.stripe_secret_name)
            state = successor if state is None or (successor or "").startswith("open:") else state
        if status == "lost" and against == records.OWNER:
            _count_chargeback(owner, dispute_id, int(dispute.get("amount") or 0))
            owner = owner.reload() or owner
        if refund_writes.mark_dispute(owner.item, dispute_id, state, prevails=status == "lost"):
            store.add_attention(owner.item, reason)
        if status == "lost":
            owner.freeze_double_paid(charged_back=int(dispute.get("amount") or 0))
    logger.warning(
        "payment disputed", extra={"owner": owner.item.PK, "dispute": dispute_id, "status": status}
    )


def _count_chargeback(owner: Owner, dispute_id: str, amount: int) -> None:
    """A lost dispute of an order's own payment: what it gave back is counted once on the order (a
    purchase has no store credit: its refunds stay refused by the mark alone)."""
    if isinstance(owner, OrderOwner) and amount > 0:
        refund_writes.count_chargeback(owner.item, dispute_id, amount)


def _own_disputes(owner: Owner, secret_name: str | None) -> list[dict[str, Any]]:
    """Every dispute of the owner's own payments, as Stripe has them now."""
    from boxoffice import stripe_gateway

    if secret_name is None:
        return []
    return [d for intent, _ in owner.intents() for d in stripe_gateway.list_disputes(secret_name, intent)]


def _own_dispute_mark(
    owner: Owner, secret_name: str | None, disputes: list[dict[str, Any]] | None = None
) -> str | None:
    """The mark the owner's own payment's disputes call for, as Stripe has them now: ``open:{id}``
    when one is open (its outcome is unknown: everything waits), else ``lost:{id}`` when one was
    lost, else None."""
    found: dict[str, str] = {}
    for dispute in _own_disputes(owner, secret_name) if disputes is None else disputes:
        status = str(dispute.get("status"))
        if status == "lost":
            found.setdefault("lost", f"lost:{dispute['id']}")
        elif status in DISPUTE_OPEN:
            found.setdefault("open", f"open:{dispute['id']}")
    return found.get("open") or found.get("lost")


def recheck_dispute(owner: Owner) -> Owner:
    """The owner's dispute mark decided again as Stripe has the dispute now: one recorded before its
    payment was (its events late) may turn out to be of money that is not the owner's own, and then
    marks that payment instead, so the owner's own refunds do not wait for it for ever."""
    mark = owner.item.dispute
    if mark and ":" in mark:
        ids = {k: v for k, v in owner.ids().items() if v}
        on_dispute(owner.item.conference_id, {"id": mark.split(":", 1)[1], "metadata": ids})
    return owner.reload() or owner


def sync_with_stripe(owner: Owner, secret_name: str) -> Owner:
    """Before money leaves in any form: every refund Stripe has on the owner's payments is recorded,
    so the balance is the one Stripe would confirm now (a dashboard refund whose events are late
    cannot be paid out again as store credit), and so is a dispute of its own payment whose events
    are late (the reservation's guard then refuses the refund; a lost one's chargeback counted)."""
    from boxoffice import stripe_gateway

    owner_ids = {k: v for k, v in owner.ids().items() if v}
    disputes = _own_disputes(owner, secret_name)
    for lost in (d for d in disputes if d.get("status") == "lost"):
        _count_chargeback(owner, str(lost["id"]), int(lost.get("amount") or 0))  # its events late
    mark = _own_dispute_mark(owner, secret_name, disputes)
    if mark is not None and owner.item.dispute != mark:
        on_dispute(owner.item.conference_id, {"id": mark.split(":", 1)[1], "metadata": owner_ids})
    for intent in sorted(owner.stripe_intents()):
        for stripe_refund in stripe_gateway.list_refunds(secret_name, intent):
            if records.get_link(owner.item.conference_id, stripe_refund["id"]) is not None:
                if stripe_refund.get("status") in ("failed", "canceled"):
                    _record_failure(owner, stripe_refund)
                continue
            if (stripe_refund.get("metadata") or {}).get("refund_id"):
                continue  # one of ours still in flight: its own request, event or the sweep completes it
            if stripe_refund.get("status") not in ("failed", "canceled"):
                _record_external(owner, {**stripe_refund, "metadata": owner_ids})
    owner.settle()
    return owner.reload() or owner


def _as_stripe_has_it(conference_id: str, stripe_refund: dict[str, Any]) -> dict[str, Any]:
    """The refund as Stripe has it now (an event carries a snapshot), with the event's owner ids."""
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    if conference is None or conference.stripe_secret_name is None:
        return stripe_refund
    fresh = stripe_gateway.retrieve_refund(conference.stripe_secret_name, stripe_refund["id"])
    metadata = {**(stripe_refund.get("metadata") or {}), **(fresh.get("metadata") or {})}
    return {**fresh, "metadata": metadata}


def _record_external(owner: Owner, stripe_refund: dict[str, Any]) -> None:
    """A refund made outside our API (the dashboard): counted once, by its Stripe id, against the
    payment it refunded. A refund of money that is not the owner's own payment touches only that
    payment; one whose payment is not recorded yet waits, unmatched, until the payment's event
    arrives and takes it in (``orders.on_session_paid``)."""
    amount = int(stripe_refund["amount"])
    intent = stripe_refund.get("payment_intent")
    intent = intent if isinstance(intent, str) else None
    against = owner.counts_against(intent)
    refund_id = f"rf_ext_{stripe_refund['id']}"
    refund = records.Refund(
        *records.Refund.key(owner.item.PK, refund_id),
        conference_id=owner.item.conference_id,
        refund_id=refund_id,
        **owner.ids(),
        payment_intent_id=intent,
        amount=amount,
        currency=str(stripe_refund.get("currency") or owner.item.currency),
        reason=str(stripe_refund.get("reason") or "requested_by_customer"),
        destination="card",
        status=records.SUCCEEDED,
        source="external",
        stripe_refund_ids=[stripe_refund["id"]],
        against=None if against == records.OWNER else against,
    )
    link = records.StripeRefundLink(
        *records.StripeRefundLink.key(owner.item.conference_id, stripe_refund["id"]),
        owner_pk=owner.item.PK, refund_id=refund_id, amount=amount, payment_intent_id=intent,
    )  # fmt: skip
    payment = owner.payment_for(intent) if intent else None
    if not refund_writes.record_external_refund(owner.item, refund, link, payment):
        if records.get_link(owner.item.conference_id, stripe_refund["id"]) is None:
            # Not a duplicate: the payment was recorded meanwhile. Decide again.
            fresh = owner.reload()
            if fresh is not None:
                _record_external(fresh, stripe_refund)
        return
    logger.info(
        "external refund recorded", extra={"owner": owner.item.PK, "amount": amount, "against": against}
    )
    if against == records.OWNER:
        owner.freeze_double_paid()


def _record_failure(owner: Owner, stripe_refund: dict[str, Any]) -> None:
    """A part of a refund that had succeeded failed at the bank: that part is refundable again.

    Each Stripe refund (one part of a split refund) is given back once, guarded by its link; the
    Refund itself becomes failed with the first failed part. What is given back is what was counted
    (``refund_writes.record_refund_failure``). A refund that moved meanwhile (its payment took it in, so
    what it counts against changed) is read and decided again, never dropped; still racing after a
    few tries, the event fails and is retried.
    """
    reason = str(stripe_refund.get("failure_reason") or "failed")

    def attempt() -> records.Refund | None:
        link = records.get_link(owner.item.conference_id, stripe_refund["id"])
        refund = records.get_refund(link.owner_pk, link.refund_id) if link else None
        if link is None or refund is None or link.failed:
            return None  # not ours, or given back already (a duplicate delivery)
        payment = owner.payment_for(link.payment_intent_id) if link.payment_intent_id else None
        refund_writes.record_refund_failure(owner.item, link, refund, reason, payment)
        return refund

    failed = store.retry_on_conflict(attempt, attempts=4)
    if failed is not None:
        store.add_attention(owner.item, f"refund {failed.refund_id} failed at the bank ({reason})")
