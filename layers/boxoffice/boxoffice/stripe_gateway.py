"""The one module that talks to Stripe, always through the official SDK.

``stripe`` is imported lazily, inside the functions that need it: it costs a few hundred
milliseconds of cold start that handlers which never call Stripe should not pay. The API version
is pinned so Stripe's object shapes cannot change under us. Every POST made from here carries an
idempotency key chosen by the caller from the record it acts for.
"""

import json
from collections.abc import Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from boxoffice import secrets, snapstart, strict_json
from boxoffice.config import settings
from boxoffice.errors import BadRequest, PaymentProviderError

if TYPE_CHECKING:
    import stripe
    from stripe import StripeClient
    from stripe.params import EventListParams
    from stripe.params.checkout import SessionCreateParams, SessionListParams

API_VERSION = "2026-10-28.endive"
"""The Stripe API version every request is pinned to (the one stripe 16.1.0 was generated for)."""

WEBHOOK_TOLERANCE_SECONDS = 300


def _stripe() -> Any:
    import stripe

    stripe.enable_telemetry = False
    return stripe


@cache
def _client(secret_key: str) -> "stripe.StripeClient":
    stripe = _stripe()
    base = settings().stripe_api_base
    client: StripeClient = stripe.StripeClient(
        secret_key,
        stripe_version=API_VERSION,
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
    )
    return client


snapstart.after_restore(_client.cache_clear)


def client_for(secret_name: str) -> "stripe.StripeClient":
    """A client for a conference's Stripe account, from its (cached) secret."""
    return _client(secrets.get_stripe_keys(secret_name).secret_key)


def verify_webhook(payload: str, signature_header: str | None, secret: str) -> dict[str, Any]:
    """The event in ``payload`` if its ``Stripe-Signature`` is valid for ``secret``, else BadRequest.

    Verification is Stripe's own (HMAC-SHA256 over ``t.payload``, any of several ``v1`` values,
    300 s tolerance), over the raw body and before any parsing. Only then is the body read, by
    ``strict_json``: a signed body that is not strict JSON (NaN, duplicate keys, deep nesting,
    endless numbers, lone surrogates) is refused rather than stored. The event comes back as a
    plain dict, exactly as Stripe sent it.
    """
    stripe = _stripe()
    if not signature_header:
        raise BadRequest("missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature_header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise BadRequest("the Stripe signature does not match this conference's signing secret") from exc
    try:
        event = strict_json.loads(payload)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the webhook body is not a Stripe event: {exc.msg}") from exc
    if not isinstance(event, dict):
        raise BadRequest("the webhook body is not a Stripe event")
    return event


def list_events(secret_name: str, *, created_gte: int, types: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Every event of ``types`` created at or after ``created_gte``, oldest first.

    Stripe lists newest first; reconciliation wants them in the order they happened.
    """
    stripe = _stripe()
    client = client_for(secret_name)
    params: EventListParams = {"created": {"gte": created_gte}, "limit": 100}
    if types:
        params["types"] = list(types)
    try:
        page = client.v1.events.list(params=params)
        events = [event.to_dict() for event in page.auto_paging_iter()]
    except stripe.StripeError as exc:
        raise PaymentProviderError(
            f"Stripe could not list events: {exc.user_message or type(exc).__name__}"
        ) from exc
    return iter(sorted(events, key=lambda e: (e["created"], e["id"])))


def _fail(action: str, exc: Exception) -> PaymentProviderError:
    """Stripe's error as ours; a refusal (4xx, rate limit) is told apart from an unknown outcome."""
    stripe = _stripe()
    message = getattr(exc, "user_message", None) or type(exc).__name__
    refused = isinstance(
        exc,
        stripe.CardError
        | stripe.InvalidRequestError
        | stripe.AuthenticationError
        | stripe.PermissionError
        | stripe.RateLimitError,
    )
    return PaymentProviderError(f"Stripe could not {action}: {message}", refused=refused)


def create_checkout_session(
    secret_name: str, params: dict[str, Any], *, idempotency_key: str
) -> dict[str, Any]:
    """Create a Checkout Session; the same key returns the same session (Stripe replays it)."""
    stripe = _stripe()
    try:
        session = client_for(secret_name).v1.checkout.sessions.create(
            params=cast("SessionCreateParams", params), options={"idempotency_key": idempotency_key}
        )
    except stripe.StripeError as exc:
        raise _fail("create the checkout session", exc) from exc
    return session.to_dict()


def retrieve_checkout_session(secret_name: str, session_id: str) -> dict[str, Any]:
    stripe = _stripe()
    try:
        return client_for(secret_name).v1.checkout.sessions.retrieve(session_id).to_dict()
    except stripe.StripeError as exc:
        raise _fail("read the checkout session", exc) from exc


def expire_checkout_session(secret_name: str, session_id: str, *, idempotency_key: str) -> dict[str, Any]:
    """Expire an open session. One that is no longer open is returned as it is."""
    stripe = _stripe()
    try:
        return (
            client_for(secret_name)
            .v1.checkout.sessions.expire(session_id, options={"idempotency_key": idempotency_key})
            .to_dict()
        )
    except stripe.InvalidRequestError:
        return retrieve_checkout_session(secret_name, session_id)
    except stripe.StripeError as exc:
        raise _fail("expire the checkout session", exc) from exc


def retrieve_charge(secret_name: str, charge_id: str) -> dict[str, Any]:
    stripe = _stripe()
    try:
        return client_for(secret_name).v1.charges.retrieve(charge_id).to_dict()
    except stripe.StripeError as exc:
        raise _fail("read the charge", exc) from exc


def create_refund(
    secret_name: str,
    *,
    payment_intent_id: str,
    amount: int,
    reason: str,
    metadata: dict[str, str],
    idempotency_key: str,
) -> dict[str, Any]:
    """Refund ``amount`` of a payment intent. The key is our refund's own id, so a retry never refunds twice."""
    stripe = _stripe()
    try:
        refund = client_for(secret_name).v1.refunds.create(
            params={
                "payment_intent": payment_intent_id,
                "amount": amount,
                "reason": reason,
                "metadata": metadata,
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise _fail("refund the payment", exc) from exc
    return refund.to_dict()


def list_refunds(secret_name: str, payment_intent_id: str) -> list[dict[str, Any]]:
    """Every refund of a payment intent, as Stripe has them now."""
    stripe = _stripe()
    try:
        page = client_for(secret_name).v1.refunds.list(
            params={"payment_intent": payment_intent_id, "limit": 100}
        )
        return [r.to_dict() for r in page.auto_paging_iter()]
    except stripe.StripeError as exc:
        raise _fail("list the refunds", exc) from exc


def retrieve_payment_intent(secret_name: str, payment_intent_id: str) -> dict[str, Any]:
    stripe = _stripe()
    try:
        return client_for(secret_name).v1.payment_intents.retrieve(payment_intent_id).to_dict()
    except stripe.StripeError as exc:
        raise _fail("read the payment intent", exc) from exc


def retrieve_refund(secret_name: str, refund_id: str) -> dict[str, Any]:
    """A refund as Stripe has it now: what Stripe says now beats an event's snapshot."""
    stripe = _stripe()
    try:
        return client_for(secret_name).v1.refunds.retrieve(refund_id).to_dict()
    except stripe.StripeError as exc:
        raise _fail("read the refund", exc) from exc


# --- reads for the books (boxoffice.books): paged lists, one page per call --------------------------------------


def list_checkout_sessions(
    secret_name: str,
    *,
    status: str | None = None,
    created_gte: int | None = None,
    payment_intent: str | None = None,
    limit: int = 100,
    starting_after: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of Checkout Sessions, newest first, and the id to pass as ``starting_after`` next (None at the end)."""
    stripe = _stripe()
    params: dict[str, Any] = {"limit": max(1, min(limit, 100))}
    if status:
        params["status"] = status
    if payment_intent:
        params["payment_intent"] = payment_intent
    if created_gte is not None:
        params["created"] = {"gte": created_gte}
    if starting_after:
        params["starting_after"] = starting_after
    try:
        page = client_for(secret_name).v1.checkout.sessions.list(params=cast("SessionListParams", params))
    except stripe.StripeError as exc:
        raise _fail("list the checkout sessions", exc) from exc
    items = [s.to_dict() for s in page.data]
    return items, (items[-1]["id"] if page.has_more and items else None)


def list_events_page(
    secret_name: str,
    *,
    created_gte: int,
    types: Sequence[str],
    limit: int = 100,
    starting_after: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of events of ``types`` created at or after ``created_gte``, newest first, and the next cursor."""
    stripe = _stripe()
    params: EventListParams = {"created": {"gte": created_gte}, "limit": max(1, min(limit, 100))}
    if types:
        params["types"] = list(types)
    if starting_after:
        params["starting_after"] = starting_after
    try:
        page = client_for(secret_name).v1.events.list(params=params)
    except stripe.StripeError as exc:
        raise _fail("list the events", exc) from exc
    items = [e.to_dict() for e in page.data]
    return items, (items[-1]["id"] if page.has_more and items else None)


def retrieve_dispute(secret_name: str, dispute_id: str) -> dict[str, Any]:
    """A dispute as Stripe has it now (its events may arrive in any order)."""
    stripe = _stripe()
    try:
        return client_for(secret_name).v1.disputes.retrieve(dispute_id).to_dict()
    except stripe.StripeError as exc:
        raise _fail("read the dispute", exc) from exc


def list_disputes(secret_name: str, payment_intent_id: str) -> list[dict[str, Any]]:
    """Every dispute of a payment intent, as Stripe has them now."""
    stripe = _stripe()
    try:
        page = client_for(secret_name).v1.disputes.list(
            params={"payment_intent": payment_intent_id, "limit": 100}
        )
        return [d.to_dict() for d in page.auto_paging_iter()]
    except stripe.StripeError as exc:
        raise _fail("list the disputes", exc) from exc
