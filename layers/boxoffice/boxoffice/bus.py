"""Publishing to the app's EventBridge bus: Stripe events for the processors, and domain events.

Stripe events go out with source ``boxoffice.stripe`` and detail-type = the Stripe event type, so
the template's rules route them by type. Their detail names the recorded event, which holds the
payload: EventBridge entries stay small whatever Stripe sends.
"""

import json
from functools import cache
from typing import Any

from boxoffice import snapstart
from boxoffice.config import settings

STRIPE_SOURCE = "boxoffice.stripe"
DOMAIN_SOURCE = "boxoffice"


class PublishFailed(Exception):
    """EventBridge did not accept the entry; the caller must not report success."""


@cache
def _client() -> Any:
    import boto3  # the Lambda runtime ships boto3

    return boto3.client("events")


snapstart.after_restore(_client.cache_clear)


def _put(source: str, detail_type: str, detail: dict[str, Any]) -> None:
    result = _client().put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, separators=(",", ":")),
                "EventBusName": settings().event_bus_name,
            }
        ]
    )
    if result.get("FailedEntryCount"):
        entry = result["Entries"][0]
        raise PublishFailed(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")


def publish_stripe_event(conference_id: str, event_id: str, event_type: str) -> None:
    _put(STRIPE_SOURCE, event_type, {"conference_id": conference_id, "event_id": event_id})


def publish_domain_event(detail_type: str, detail: dict[str, Any]) -> None:
    """``order.paid``, ``bulk_purchase.fulfilled`` and the like, for other systems to subscribe to."""
    _put(DOMAIN_SOURCE, detail_type, detail)
