"""Bulk purchase and voucher routes. Attendees get 403 on every one; a sponsor sees only its own.

The staff fulfil of a comp deal is in ``bulk_fulfillment``: only the fulfillment function serves
it, and only it loads the fulfilment service."""

from typing import Annotated, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from boxoffice import bulk_checkout, bulk_purchase_views, vouchers
from boxoffice.api import examples
from boxoffice.api.context import current_caller
from boxoffice.api.contract import BEARER, answers
from boxoffice.api.idempotency import idempotent
from boxoffice.api.params import ConferenceId, PurchaseId
from boxoffice.auth import Caller
from boxoffice.bulk_purchase_views import BulkPurchasePage, BulkPurchaseRequest, BulkPurchaseView, Viewer
from boxoffice.checkout_sessions import CheckoutRequest, CheckoutView
from boxoffice.errors import Forbidden
from boxoffice.vouchers import VoucherPage, VoucherView

router = Router()
"""Reads: served by the API function."""
checkout_router = Router()
"""Create, approve and checkout: served by the checkout function."""

TAGS = ["bulk purchases"]
Code = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=200)]


def viewer(caller: Caller, conference_id: str) -> Viewer:
    """Staff or a sponsor of this conference; anyone else is forbidden on bulk routes."""
    staff, sponsors = caller.is_staff(conference_id), caller.sponsor_ids(conference_id)
    if not staff and not sponsors:
        raise Forbidden("bulk purchases are for staff and sponsors")
    return Viewer(user_id=caller.user_id, is_staff=staff, sponsor_ids=sponsors)


@checkout_router.post(
    "/v1/conferences/<cid>/bulk-purchases",
    summary="Create a bulk purchase (staff, sponsor)",
    tags=TAGS,
    security=BEARER,
    responses=answers(
        201, 403, 404, 409, 503, description="Created", model=BulkPurchaseView, example=examples.BULK_PURCHASE
    ),
    status_code=201,
    middlewares=[idempotent(required=False)],
)
def create(
    cid: ConferenceId,
    body: Annotated[
        BulkPurchaseRequest,
        Body(
            openapi_examples=examples.body_examples(
                staff=examples.STAFF_BULK_INPUT, sponsor=examples.SPONSOR_BULK_INPUT
            )
        ),
    ],
) -> BulkPurchaseView:
    caller = current_caller(checkout_router)
    who = viewer(caller, cid)
    as_sponsor = None
    if not who.is_staff:
        if len(who.sponsor_ids) != 1:
            raise Forbidden("this token speaks for several sponsors; staff create purchases for them")
        (as_sponsor,) = who.sponsor_ids
    return bulk_checkout.create(cid, body, requested_by=caller.user_id, as_sponsor=as_sponsor)


@router.get(
    "/v1/conferences/<cid>/bulk-purchases",
    summary="List bulk purchases (staff; a sponsor its own)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 403, 404),
)
def list_purchases(
    cid: ConferenceId,
    status: Annotated[
        Literal["pending", "approved", "processing", "paid", "failed", "refunded"] | None, Query()
    ] = None,
    sponsor_id: Annotated[str | None, Query(max_length=63)] = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> BulkPurchasePage:
    who = viewer(current_caller(router), cid)
    return bulk_purchase_views.list_purchases(
        cid, who, status=status, sponsor_id=sponsor_id, limit=limit, cursor=cursor
    )


@router.get(
    "/v1/conferences/<cid>/bulk-purchases/<purchase_id>",
    summary="One bulk purchase",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 403, 404, model=BulkPurchaseView, example=examples.BULK_PURCHASE),
)
def get_purchase(cid: ConferenceId, purchase_id: PurchaseId) -> BulkPurchaseView:
    return bulk_purchase_views.get(cid, purchase_id, viewer(current_caller(router), cid))


@checkout_router.post(
    "/v1/conferences/<cid>/bulk-purchases/<purchase_id>/approve",
    summary="Approve a comp deal (staff)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 403, 404, 409),
)
def approve(cid: ConferenceId, purchase_id: PurchaseId) -> BulkPurchaseView:
    caller = current_caller(checkout_router)
    caller.require_staff(cid)
    return bulk_checkout.approve(cid, purchase_id, staff_user=caller.user_id)


@checkout_router.post(
    "/v1/conferences/<cid>/bulk-purchases/<purchase_id>/checkout",
    summary="Start (or resume) Stripe Checkout (staff, owning sponsor)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 403, 404, 409, 502),
)
def checkout(
    cid: ConferenceId,
    purchase_id: PurchaseId,
    body: Annotated[
        CheckoutRequest, Body(openapi_examples=examples.body_examples(urls=examples.CHECKOUT_INPUT))
    ],
) -> CheckoutView:
    return bulk_checkout.checkout(cid, purchase_id, body, viewer(current_caller(checkout_router), cid))


@router.get(
    "/v1/conferences/<cid>/bulk-purchases/<purchase_id>/vouchers",
    summary="The purchase's codes, as JSON or as CSV with ?format=csv (staff, owning sponsor)",
    tags=TAGS,
    security=BEARER,
    responses=answers(
        200,
        403,
        404,
        description="A page of codes as JSON, or every code as CSV (?format=csv)",
        content={
            "application/json": {"model": VoucherPage},
            "text/csv": {
                "schema": {"type": "string", "description": "Header " + ",".join(vouchers.CSV_COLUMNS)},
                "example": examples.VOUCHERS_CSV,
            },
        },
    ),
)
def list_vouchers(
    cid: ConferenceId,
    purchase_id: PurchaseId,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[VoucherPage | str]:
    who = viewer(current_caller(router), cid)
    if format == "csv":
        text = vouchers.vouchers_csv(cid, purchase_id, who)
        return Response(
            200,
            "text/csv",
            text,
            headers={"Content-Disposition": f'attachment; filename="{purchase_id}-vouchers.csv"'},
        )
    # The CSV answer needs a Response for its media type and header, so the JSON one is one too.
    return Response(
        200,
        content_types.APPLICATION_JSON,
        vouchers.list_vouchers(cid, purchase_id, who, limit=limit, cursor=cursor),
    )


@router.get(
    "/v1/conferences/<cid>/vouchers/<code>",
    summary="A whole voucher (staff, owning sponsor)",
    tags=["vouchers"],
    security=BEARER,
    responses=answers(200, 403, 404),
)
def get_voucher(cid: ConferenceId, code: Code) -> VoucherView:
    return vouchers.get_voucher(cid, unquote(code), viewer(current_caller(router), cid))
