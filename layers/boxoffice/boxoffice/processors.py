"""The two Stripe event processors and what each handles, plus their Lambda entry point.

Bus rules in template.yaml route ``checkout.session.*`` and ``payment_intent.payment_failed`` to the
fulfillment function, and refunds and disputes to the refunds function. Domain modules register
their handlers here; a type with no handler yet is recorded as ignored.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from boxoffice import owners
from boxoffice.observability import logger
from boxoffice.stripe_events import Registry, handle_bus_event

LambdaHandler = Callable[[dict[str, Any], LambdaContext], Any]


def _object(handler: Callable[[str, dict[str, Any]], None]) -> Callable[[str, dict[str, Any]], None]:
    """Adapt a domain handler of the event's ``data.object`` to the dispatcher's (conference, event)."""

    def dispatch(conference_id: str, event: dict[str, Any]) -> None:
        handler(conference_id, event["data"]["object"])

    dispatch.__name__ = handler.__name__
    return dispatch


def _by_owner(
    bulk: Callable[[str, dict[str, Any]], None] | None, order: Callable[[str, dict[str, Any]], None] | None
) -> Callable[[str, dict[str, Any]], None]:
    """Send an object to the bulk purchase or the order its metadata names (both carry our ids)."""
    handlers = {kind: h for kind, h in ((owners.ORDER, order), (owners.BULK_PURCHASE, bulk)) if h is not None}

    def dispatch(conference_id: str, obj: dict[str, Any]) -> None:
        found = owners.named(obj, tuple(handlers))
        if found is not None:
            handlers[found[0]](conference_id, obj)

    return dispatch


def fulfillment_registry() -> Registry:
    """Handlers for checkout sessions and failed payments, for bulk purchases and orders."""
    from boxoffice import bulk_purchases, orders

    registry = Registry()
    registry.on("checkout.session.completed", "checkout.session.async_payment_succeeded")(
        _object(_by_owner(bulk_purchases.on_session_paid, orders.on_session_paid))
    )
    registry.on("checkout.session.async_payment_failed")(
        _object(_by_owner(bulk_purchases.mark_failed, orders.on_payment_failed))
    )
    registry.on("checkout.session.expired")(_object(_by_owner(bulk_purchases.mark_failed, None)))
    registry.on("payment_intent.payment_failed")(_object(_by_owner(None, orders.on_payment_failed)))
    return registry


def refunds_registry() -> Registry:
    """Handlers for refunds and disputes."""
    from boxoffice import refunds

    registry = Registry()
    registry.on("charge.refunded")(_object(refunds.on_charge_refunded))
    registry.on("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")(
        _object(refunds.on_stripe_refund)
    )
    registry.on(
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    )(_object(refunds.on_dispute))
    return registry


def processor_handler(registry: Registry, http: LambdaHandler | None = None) -> LambdaHandler:
    """A function's handler: API Gateway events go to ``http``, EventBridge events to ``registry``.

    The lease on each event is the function's remaining time, so a crashed run's claim expires
    about when Lambda would retry it.
    """

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
    def bus_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
        lease = timedelta(milliseconds=max(context.get_remaining_time_in_millis(), 1000))
        status = handle_bus_event(event, registry, lease)
        logger.info("stripe event handled", extra={"detail_type": event.get("detail-type"), "status": status})
        return {"status": status}

    def handler(event: dict[str, Any], context: LambdaContext) -> Any:
        if "requestContext" in event and http is not None:
            return http(event, context)
        return bus_handler(event, context)

    return handler
