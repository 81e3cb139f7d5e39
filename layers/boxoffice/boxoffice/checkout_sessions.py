"""What bulk purchases and orders share about Stripe Checkout: the request, the answer, the payment."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    success_url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)]
    cancel_url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)]


class CheckoutView(BaseModel):
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
