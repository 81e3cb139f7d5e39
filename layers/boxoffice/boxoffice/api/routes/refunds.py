"""Order refunds (staff) and store credit (the credit's owner, staff)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from boxoffice import credits, refunds
from boxoffice.api import examples
from boxoffice.api.context import current_caller
from boxoffice.api.contract import BEARER, answers
from boxoffice.api.idempotency import IdempotencyKey, idempotent
from boxoffice.api.params import ConferenceId, OrderId, PurchaseId
from boxoffice.credits import ApplyCredit
from boxoffice.orders import PaymentView, payment_view
from boxoffice.refunds import BulkRefundRequest, CreditView, OrderRefundRequest, RefundView, credit_view
from boxoffice.shapes import Shape

router = Router()
"""Reads: served by the API function."""
refunds_router = Router()
"""Refunds and credit application: served by the refunds function."""

CreditId = Annotated[str, Path(pattern=r"^cr_[a-f0-9]{16}$")]


class RefundList(Shape):
    items: list[RefundView]
    next: str | None


class CreditPage(Shape):
    items: list[CreditView]
    next: str | None


@refunds_router.post(
    "/v1/conferences/<cid>/orders/<order_id>/refunds",
    summary="Refund an order to the card or as store credit (staff)",
    tags=["refunds"],
    security=BEARER,
    responses=answers(
        201, 403, 404, 409, 502, description="Refund recorded", model=RefundView, example=examples.REFUND
    ),
    status_code=201,
    middlewares=[idempotent(required=False)],
)
def refund_order(
    cid: ConferenceId,
    order_id: OrderId,
    body: Annotated[
        OrderRefundRequest,
        Body(
            openapi_examples=examples.body_examples(
                refund=examples.ORDER_REFUND_INPUT, stray_payment=examples.STRAY_REFUND_INPUT
            )
        ),
    ],
    idempotency_key: IdempotencyKey,
) -> RefundView:
    caller = current_caller(refunds_router)
    caller.require_staff(cid)
    return refunds.refund_order(
        cid, order_id, body, staff_user=caller.user_id, idempotency_key=idempotency_key
    )


@router.get(
    "/v1/conferences/<cid>/orders/<order_id>/refunds",
    summary="An order's refunds (owner, staff)",
    tags=["refunds"],
    security=BEARER,
    responses=answers(200, 404),
)
def list_order_refunds(cid: ConferenceId, order_id: OrderId) -> RefundList:
    caller = current_caller(router)
    items = refunds.list_for_order(cid, order_id, user_id=caller.user_id, is_staff=caller.is_staff(cid))
    return RefundList(items=items, next=None)


@router.get(
    "/v1/conferences/<cid>/credits",
    summary="Store credits (staff: all or ?user_id=; others: their own)",
    tags=["store credit"],
    security=BEARER,
    responses=answers(200, 404),
)
def list_credits(
    cid: ConferenceId,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> CreditPage:
    caller = current_caller(router)
    target = user_id if caller.is_staff(cid) else caller.user_id
    found, nxt = credits.list_credits(cid, user_id=target, limit=limit, cursor=cursor)
    return CreditPage(items=[credit_view(c) for c in found], next=nxt)


@refunds_router.post(
    "/v1/conferences/<cid>/credits/<credit_id>/apply",
    summary="Apply a credit to a pending order (owner, staff)",
    tags=["store credit"],
    security=BEARER,
    responses=answers(201, 403, 404, 409, description="Credit applied as a payment"),
    status_code=201,
    middlewares=[idempotent(required=False)],
)
def apply_credit(cid: ConferenceId, credit_id: CreditId, body: Annotated[ApplyCredit, Body()]) -> PaymentView:
    caller = current_caller(refunds_router)
    payment = credits.apply(
        cid, credit_id, body.order_id, user_id=caller.user_id, is_staff=caller.is_staff(cid)
    )
    return payment_view(payment)


@refunds_router.post(
    "/v1/conferences/<cid>/bulk-purchases/<purchase_id>/refund",
    summary="Refund a paid purchase to the card (staff); no amount = all still refundable",
    tags=["bulk purchases"],
    security=BEARER,
    responses=answers(201, 403, 404, 409, 502, description="Refund recorded"),
    status_code=201,
    middlewares=[idempotent(required=False)],
)
def refund(
    cid: ConferenceId,
    purchase_id: PurchaseId,
    body: Annotated[BulkRefundRequest, Body()],
    idempotency_key: IdempotencyKey,
) -> RefundView:
    caller = current_caller(refunds_router)
    caller.require_staff(cid)
    return refunds.refund_bulk_purchase(
        cid, purchase_id, body, staff_user=caller.user_id, idempotency_key=idempotency_key
    )
