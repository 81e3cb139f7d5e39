"""Reading the caller and request facts that API Gateway put in the event."""

from typing import TYPE_CHECKING, cast

from aws_lambda_powertools.event_handler.api_gateway import Router

from boxoffice.auth import Caller, caller_from_claims

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2


def _event(router: Router) -> "APIGatewayProxyEventV2":
    """The current event, as the HTTP API (payload 2.0) the app is served by sends it."""
    return cast("APIGatewayProxyEventV2", router.current_event)


def current_caller(router: Router) -> Caller:
    """The signed-in caller of the current request, or Unauthenticated."""
    return caller_from_claims(_event(router).request_context.authorizer.jwt_claim)


def optional_caller(router: Router) -> Caller | None:
    """The caller when a token was given; None on public routes without one."""
    claims = _event(router).request_context.authorizer.jwt_claim
    return caller_from_claims(claims) if claims else None
