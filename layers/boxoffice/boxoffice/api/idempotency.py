"""The ``Idempotency-Key`` header, through the Powertools idempotency utility.

The same key with the same request replays the first response; with a different request it
is a 409 ``idempotency_conflict``. Records live in the app's one table, under their own
partition per function, and expire through the table's TTL attribute after a day.
Failed requests (any exception) are not recorded, so they can be retried with the same key.

A route takes part through Powertools' own hooks: ``middlewares=[idempotent(required=...)]`` on
its decorator, and, when it needs the key itself (to hand it on to Stripe), a parameter typed
``IdempotencyKey``. Both get the key from one ``Depends`` dependency, which reads and checks the
header once per request (Powertools caches it for the request).
The utility imports boto3 and its persistence makes a DynamoDB client: both wait for the first
request that carries a key, and are kept for the container's life.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    Depends,
    Request,
    Response,
    content_types,
)

from boxoffice import snapstart
from boxoffice.config import settings
from boxoffice.errors import BadRequest, IdempotencyConflict

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


def _mark_replay(response: Any, idempotent_data: DataRecord) -> Any:
    response["replayed"] = True
    return response


@cache
def _config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=24 * 3600,
        response_hook=_mark_replay,
    )


@cache
def _persistence() -> DynamoDBPersistenceLayer:
    """The utility's DynamoDB persistence (it makes its boto3 client), built on the first keyed request."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=settings().table_name,
        key_attr="PK",
        sort_key_attr="SK",
        expiry_attr="ttl",
    )


@cache
def _idempotent() -> Callable[..., dict[str, Any]]:
    """The runner wrapped by Powertools' ``idempotent_function``, made on first use and kept."""
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    @idempotent_function(data_keyword_argument="call", config=_config(), persistence_store=_persistence())
    def run_once(call: dict[str, Any], run: Callable[[], tuple[int, Any]]) -> dict[str, Any]:
        status, body = run()
        return {"status": status, "body": body, "replayed": False}

    runner: Callable[..., dict[str, Any]] = run_once  # the decorator is unannotated
    return runner


@snapstart.after_restore
def _forget_persistence() -> None:
    """The persistence holds a boto3 client: a restored environment makes its own."""
    _idempotent.cache_clear()
    _persistence.cache_clear()


def _run_once(call: dict[str, Any], run: Callable[[], tuple[int, Any]]) -> dict[str, Any]:
    """``run()`` once per ``call["key"]``; later calls with the key replay its answer.

    The utility's own refusals become docs/api.md's: the key used with another request, or still in
    progress, is 409 ``idempotency_conflict``; a missing required key is 400 ``bad_request``.
    """
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyKeyError,
        IdempotencyValidationError,
    )

    try:
        return _idempotent()(call=call, run=run)
    except IdempotencyValidationError as exc:
        raise IdempotencyConflict("this Idempotency-Key was already used with a different request") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise IdempotencyConflict(
            "a request with this Idempotency-Key is still in progress; retry shortly"
        ) from exc
    except IdempotencyKeyError as exc:
        raise BadRequest("this request needs an Idempotency-Key header") from exc


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``: None when not sent (or empty), 400 when too long."""
    key = request.headers.get(HEADER) or None  # Powertools matches header names in any case
    if key is not None and len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters")
    return key


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
"""A route parameter receiving the checked key (or None), read once per request."""

Middleware = Callable[..., Response[Any]]
"""A Powertools route middleware (app, next_middleware, and the dependencies it declares)."""


def _json_body(body: Any) -> Any:
    """The body as JSON data to record: still data here (Powertools serializes after the middlewares)."""
    return json.loads(body) if isinstance(body, str | bytes) else body


def idempotent(*, required: bool) -> Middleware:
    """A route middleware honouring ``Idempotency-Key``; ``required`` refuses requests without one.

    It runs after request validation and wraps the route and its response validation, so it
    records the status Powertools gave the route (its ``status_code=``) and the serialized body.
    The key is scoped to the route, the path and the caller, so two users' keys never meet.
    """

    def honour_idempotency_key(
        app: APIGatewayHttpResolver,
        next_middleware: Callable[[APIGatewayHttpResolver], Response[Any]],
        key: IdempotencyKey,
    ) -> Response[Any]:
        if key is None and not required:
            return next_middleware(app)
        event = app.current_event
        claims = event.request_context.authorizer.jwt_claim
        call = {
            "key": None if key is None else f"{event.http_method} {event.path} {claims.get('sub', '')} {key}",
            "request": {
                "body": event.json_body if event.body else None,
                "query": event.query_string_parameters or {},
            },
        }

        def run() -> tuple[int, Any]:
            response = next_middleware(app)
            return response.status_code, _json_body(response.body)

        _config().register_lambda_context(app.lambda_context)
        result = _run_once(call=call, run=run)
        headers = {REPLAYED_HEADER: "true"} if result.get("replayed") else {}
        return Response(
            status_code=result["status"],
            content_type=content_types.APPLICATION_JSON,
            body=result["body"],
            headers=headers,
        )

    return honour_idempotency_key
