"""The ``Idempotency-Key`` header, through the Powertools idempotency utility.

The same key with the same request replays the first response; with a different request it
is a 409 ``idempotency_conflict``. Records live in the app's one table, under their own
partition per function, and expire through the table's TTL attribute after a day.
Failed requests (any exception) are not recorded, so they can be retried with the same key.
"""

import json
from collections.abc import Callable
from functools import cache, wraps
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyKeyError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from boxoffice.api.errors import error_response
from boxoffice.config import settings
from boxoffice.errors import BadRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


def _mark_replay(response: Any, _record: DataRecord) -> Any:
    response["replayed"] = True
    return response


@cache
def _config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=24 * 3600,
        response_hook=_mark_replay,
    )


@cache
def _persistence() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=settings().table_name,
        key_attr="PK",
        sort_key_attr="SK",
        expiry_attr="ttl",
    )


@idempotent_function(data_keyword_argument="call", config=_config(), persistence_store=_persistence())
def _run_once(call: dict[str, Any], run: Callable[[], tuple[int, Any]]) -> dict[str, Any]:
    status, body = run()
    return {"status": status, "body": body, "replayed": False}


def idempotent_route(
    router: Router, *, required: bool
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Make a route honour ``Idempotency-Key``; ``required`` refuses requests without one.

    The key is scoped to the route, the path and the caller, so two users' keys never meet.
    The wrapped route must return a JSON :class:`Response`.
    """

    def decorate(route: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(route)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            event = router.current_event
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


def register_idempotency_errors(app: APIGatewayHttpResolver) -> None:
    """docs/api.md's answers to the idempotency utility's exceptions (409 conflict, 400 missing key).

    Registered only by resolvers whose routes use ``Idempotency-Key``: the utility imports boto3,
    which the other functions' cold starts need not pay for.
    """

    @app.exception_handler(IdempotencyValidationError)
    def _idem_mismatch(_: IdempotencyValidationError) -> Response:
        return error_response(
            409, "idempotency_conflict", "this Idempotency-Key was already used with a different request"
        )

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def _idem_in_progress(_: IdempotencyAlreadyInProgressError) -> Response:
        return error_response(
            409,
            "idempotency_conflict",
            "a request with this Idempotency-Key is still in progress; retry shortly",
        )

    @app.exception_handler(IdempotencyKeyError)
    def _idem_missing(_: IdempotencyKeyError) -> Response:
        return error_response(400, "bad_request", "this request needs an Idempotency-Key header")
