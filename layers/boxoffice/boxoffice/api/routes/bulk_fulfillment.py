"""The staff fulfil of a comp deal: served by the fulfillment function alone, so only it loads
the fulfilment service (``boxoffice.bulk_purchases``)."""

from aws_lambda_powertools.event_handler.api_gateway import Router

from boxoffice import bulk_purchases
from boxoffice.api.context import current_caller
from boxoffice.api.contract import BEARER, answers
from boxoffice.api.params import ConferenceId, PurchaseId
from boxoffice.api.routes.bulk_purchases import TAGS
from boxoffice.bulk_purchase_views import FulfillView

fulfillment_router = Router()


@fulfillment_router.post(
    "/v1/conferences/<cid>/bulk-purchases/<purchase_id>/fulfill",
    summary="Issue the codes of an approved comp deal (staff)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 403, 404, 409, 503),
)
def fulfill(cid: ConferenceId, purchase_id: PurchaseId) -> FulfillView:
    current_caller(fulfillment_router).require_staff(cid)
    return bulk_purchases.fulfill_comp(cid, purchase_id)
