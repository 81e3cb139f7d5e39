"""Reading the caller and request facts that API Gateway put in the event."""

from aws_lambda_powertools.event_handler.api_gateway import Router

from boxoffice.auth import Caller, caller_from_claims


def current_caller(router: Router) -> Caller:
    """The signed-in caller of the current request, or Unauthenticated."""
    return caller_from_claims(router.current_event.request_context.authorizer.jwt_claim)


def optional_caller(router: Router) -> Caller | None:
    """The caller when a token was given; None on public routes without one."""
    claims = router.current_event.request_context.authorizer.jwt_claim
    return caller_from_claims(claims) if claims else None
