"""The ``Idempotency-Key`` header, through the Powertools idempotency utility.

The same key with the same request replays the first response; with a different request it
is a 409 ``idempotency_conflict``. Records live in the app's one table, under their own
partition per function, and expire through the table's TTL attribute after a day.
Failed requests (any exception) are not recorded, so they can be retried with the same key.
The utility imports boto3 and its persistence makes a DynamoDB client: both wait for the first
request that carries a key, and are kept for the container's life.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache, wraps
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from boxoffice import snapstart
from boxoffice.config import settings
from boxoffice.errors import BadRequest, IdempotencyConflict

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
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


def idempotent_route(
    router: Router, *, required: bool
) -> Callable[[Callable[..., Response[Any]]], Callable[..., Response[Any]]]:
    """Make a route honour ``Idempotency-Key``; ``required`` refuses requests without one.

    The key is scoped to the route, the path and the caller, so two users' keys never meet.
    The wrapped route must return a JSON :class:`Response`.
    """

    def decorate(route: Callable[..., Response[Any]]) -> Callable[..., Response[Any]]:
        @wraps(route)
        def wrapper(*args: Any, **kwargs: Any) -> Response[Any]:
            event = cast("APIGatewayProxyEventV2", router.current_event)  # the app is an HTTP API
            key = event.headers.get(HEADER.lower()) or event.headers.get(HEADER)
            if key is None and not required:
                return route(*args, **kwargs)
            if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
                raise BadRequest(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters")
            claims = event.request_context.authorizer.jwt_claim
            call = {
                "key": None
                if key is None
                else f"{event.http_method} {event.path} {claims.get('sub', '')} {key}",
                "request": {
                    "body": event.json_body if event.body else None,
                    "query": event.query_string_parameters or {},
                },
            }

            def run() -> tuple[int, Any]:
                response = route(*args, **kwargs)
                body = response.body
                return response.status_code, json.loads(body) if isinstance(body, str | bytes) else body

            _config().register_lambda_context(router.lambda_context)
            result = _run_once(call=call, run=run)
            headers = {REPLAYED_HEADER: "true"} if result.get("replayed") else {}
            return Response(
                status_code=result["status"],
                content_type=content_types.APPLICATION_JSON,
                body=result["body"],
                headers=headers,
            )

        return wrapper

    return decorate
