"""Stripe's error objects: `{"error": {"type", "code", "message", "param", "doc_url"}}`.

Every failure the emulator reports to an API client is a `StripeError`, so the SDK raises the
same exception class it would raise against Stripe (`InvalidRequestError`, `CardError`...).
"""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs"


class StripeError(Exception):
    """An API error with Stripe's HTTP status and JSON body."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        """The JSON body Stripe sends for this error."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if request_id:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        error.update(self.extra)
        return {"error": error}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeError:
    """A 400 `invalid_request_error`, the answer to most bad input."""
    return StripeError(status, "invalid_request_error", message, code=code, param=param)


def parameter_missing(param: str) -> StripeError:
    """A required parameter was not sent."""
    return invalid_request(f"Missing required param: {param}.", param=param, code="parameter_missing")


def parameter_unknown(param: str) -> StripeError:
    """A parameter the endpoint does not take."""
    return invalid_request(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def invalid_integer(param: str, value: object) -> StripeError:
    """A value that should be an integer is not one."""
    return invalid_request(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer")


def resource_missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    """404 for an id that does not exist in the caller's account."""
    return invalid_request(f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=404)


def unrecognized_url(method: str, path: str) -> StripeError:
    """404 for a route Stripe does not have."""
    return invalid_request(
        f"Unrecognized request URL ({method}: {path}). Please see {DOCS} or we can help at "
        "https://support.stripe.com/.",
        status=404,
    )


def api_error(message: str = "An unknown error occurred") -> StripeError:
    """500 `api_error`: something went wrong on Stripe's side."""
    return StripeError(500, "api_error", message)


def no_api_key() -> StripeError:
    """401 when the request carries no key at all."""
    return StripeError(
        401,
        "invalid_request_error",
        "You did not provide an API key. You need to provide your API key in the Authorization "
        "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
        f"{DOCS}/api#authentication for details, or we can help at https://support.stripe.com/.",
    )


def invalid_api_key(key: str) -> StripeError:
    """401 for a key that is not a test secret key."""
    shown = f"{key[:8]}****{key[-4:]}" if len(key) > 12 else "****"
    return StripeError(
        401, "invalid_request_error", f"Invalid API Key provided: {shown}", code="api_key_invalid"
    )


def idempotency_error(message: str) -> StripeError:
    """400 `idempotency_error`: a key reused with different parameters or another endpoint."""
    return StripeError(400, "idempotency_error", message)


def idempotency_key_in_use() -> StripeError:
    """409 while another request with the same key is still running."""
    return StripeError(
        409,
        "invalid_request_error",
        "There is currently another in-progress request using this Stripe token (probably means "
        "you are accidentally making the same request twice concurrently). Please try again later.",
        code="idempotency_key_in_use",
    )
