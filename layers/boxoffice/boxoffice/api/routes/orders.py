"""Order routes: any signed-in user orders for themselves; staff see every order."""

from typing import Annotated, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from boxoffice import orders
from boxoffice.api import examples
from boxoffice.api.context import current_caller
from boxoffice.api.contract import BEARER, answers
from boxoffice.api.idempotency import idempotent
from boxoffice.api.params import ConferenceId, OrderId
from boxoffice.checkout_sessions import CheckoutRequest, CheckoutView
from boxoffice.orders import OrderPage, OrderRequest, OrderView, OrderViewer, VoucherCheck

router = Router()
"""Reads: served by the API function."""
checkout_router = Router()
"""Create, checkout and cancel: served by the checkout function."""

TAGS = ["orders"]


def _viewer(cid: str, r: Router) -> OrderViewer:
    caller = current_caller(r)
    return OrderViewer(user_id=caller.user_id, is_staff=caller.is_staff(cid))


@checkout_router.post(
    "/v1/conferences/<cid>/orders",
    summary="Order tickets and add-ons, with an optional voucher",
    tags=TAGS,
    security=BEARER,
    responses=answers(201, 404, 409, description="Created", model=OrderView, example=examples.ORDER),
    status_code=201,
    middlewares=[idempotent(required=False)],
)
def create_order(
    cid: ConferenceId,
    body: Annotated[OrderRequest, Body(openapi_examples=examples.body_examples(order=examples.ORDER_INPUT))],
) -> OrderView:
    return orders.create(cid, current_caller(checkout_router).user_id, body)


@router.get(
    "/v1/conferences/<cid>/orders",
    summary="Orders (staff: all or ?user_id=; others: their own)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 404),
)
def list_orders(
    cid: ConferenceId,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[
        Literal["pending", "paid", "cancelled", "partially_refunded", "refunded"] | None, Query()
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> OrderPage:
    return orders.list_orders(
        cid, _viewer(cid, router), user_id=user_id, status=status, limit=limit, cursor=cursor
    )


@router.get(
    "/v1/conferences/<cid>/orders/<order_id>",
    summary="One order (owner, staff)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 404, model=OrderView, example=examples.ORDER),
)
def get_order(cid: ConferenceId, order_id: OrderId) -> OrderView:
    return orders.get(cid, order_id, _viewer(cid, router))


@checkout_router.post(
    "/v1/conferences/<cid>/orders/<order_id>/checkout",
    summary="Pay the order through Stripe Checkout (owner)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 404, 409, 502, model=CheckoutView, example=examples.CHECKOUT),
)
def checkout_order(
    cid: ConferenceId,
    order_id: OrderId,
    body: Annotated[
        CheckoutRequest, Body(openapi_examples=examples.body_examples(urls=examples.CHECKOUT_INPUT))
    ],
) -> CheckoutView:
    return orders.checkout(cid, order_id, current_caller(checkout_router).user_id, body)


@checkout_router.post(
    "/v1/conferences/<cid>/orders/<order_id>/cancel",
    summary="Cancel a pending order (owner, staff)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 404, 409, 502),
)
def cancel_order(cid: ConferenceId, order_id: OrderId) -> OrderView:
    return orders.cancel(cid, order_id, _viewer(cid, checkout_router))


@router.get(
    "/v1/conferences/<cid>/vouchers/<code>/check",
    summary="Whether a code works now (signed in)",
    tags=["vouchers"],
    security=BEARER,
    responses=answers(200, 404),
)
def check_voucher(cid: ConferenceId, code: Annotated[str, Path(min_length=1, max_length=64)]) -> VoucherCheck:
    current_caller(router)
    return orders.check_voucher(cid, unquote(code))  # the path arrives percent-encoded
