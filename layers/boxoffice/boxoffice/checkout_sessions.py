"""What bulk purchases and orders share about Stripe Checkout: the request, the answer, the payment."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from boxoffice.shapes import Shape


class CheckoutRequest(Shape):
    model_config = ConfigDict(extra="forbid", strict=True)

    success_url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)]
    cancel_url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)]


class CheckoutView(Shape):
    checkout_url: str
    session_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Collected:
    """What Stripe collected, read from a completed Checkout Session."""

    payment_intent_id: str | None
    amount: int
    currency: str

    @classmethod
    def from_session(cls, session: dict[str, Any]) -> "Collected":
        intent = session.get("payment_intent")
        return cls(
            payment_intent_id=intent.get("id") if isinstance(intent, dict) else intent,
            amount=int(session.get("amount_total") or 0),
            currency=str(session.get("currency") or ""),
        )


def session_params(
    *,
    record_id: str,
    metadata: dict[str, str],
    currency: str,
    unit_amount: int,
    quantity: int,
    name: str,
    request: CheckoutRequest,
    expires_at: int,
) -> dict[str, Any]:
    """A payment-mode Checkout Session of one line, our ids on the session and its payment intent.

    The webhook finds the record by ``metadata`` (a primary-key read), never by session id.
    """
    return {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": currency,
                    "unit_amount": unit_amount,
                    "product_data": {"name": name},
                },
                "quantity": quantity,
            }
        ],
        "client_reference_id": record_id,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "expires_at": expires_at,
    }
