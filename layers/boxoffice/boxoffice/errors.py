"""The error family every service raises, each mapped to one status and code of docs/api.md "Errors".

Services raise these and know nothing of HTTP; the resolver renders them as
``{"error": {"code", "message", "details"}}``.
"""

from typing import Any


class BoxofficeError(Exception):
    """Base of every expected failure. ``status`` and ``code`` come from docs/api.md "Errors"."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(BoxofficeError):
    status, code = 400, "bad_request"


class Unauthenticated(BoxofficeError):
    status, code = 401, "unauthenticated"


class Forbidden(BoxofficeError):
    status, code = 403, "forbidden"


class NotFound(BoxofficeError):
    status, code = 404, "not_found"


class InvalidState(BoxofficeError):
    """The record's state forbids the action (a guard condition failed)."""

    status, code = 409, "invalid_state"


class IdempotencyConflict(BoxofficeError):
    status, code = 409, "idempotency_conflict"


class PayloadTooLarge(BoxofficeError):
    status, code = 413, "payload_too_large"


class ValidationFailed(BoxofficeError):
    """Field problems; ``details`` lists them as ``[{"loc", "msg", "type"}]``."""

    status, code = 422, "validation_error"


class Unavailable(BoxofficeError):
    """A dependency (the table, the bus) failed; the request changed nothing and may be retried."""

    status, code = 503, "unavailable"


class PaymentProviderError(BoxofficeError):
    """Stripe failed; the client may retry safely.

    ``refused`` is True when Stripe definitely did nothing (it refused the request), False when
    the outcome is unknown (a timeout, a dropped connection, a 5xx): then whatever was asked may
    have happened, and only Stripe's own records can tell.
    """

    status, code = 502, "payment_provider_error"

    def __init__(self, message: str, details: object = None, *, refused: bool = True) -> None:
        super().__init__(message, details)
        self.refused = refused
