"""Refunds in atomic phases with recovery points, and Stripe's refund and dispute events.

Owners are bulk purchases (card only) and orders (card or store credit). A refund is reserved,
sent to Stripe and completed (or released) in phases, each one guarded write, so a crash between
them is finished by the same request retried, by Stripe's event or by the sweep. Refunds made in
Stripe's dashboard arrive as events and are recorded as ``external``.

- :mod:`~boxoffice.refunds.shapes`: the requests and views of the routes.
- :mod:`~boxoffice.refunds.owners`: what a refund is against (the :class:`Owner` protocol).
- :mod:`~boxoffice.refunds.phases`: reserve → call Stripe → complete or release.
- :mod:`~boxoffice.refunds.staff`: staff refunds, the lists, and the sweep.
- :mod:`~boxoffice.refunds.stripe_events`: Stripe's refund and dispute events, and the sync.

Every write and its condition is in :mod:`boxoffice.store.refund_writes`.
"""

from boxoffice.refunds.owners import Owner, settle_order
from boxoffice.refunds.shapes import (
    BulkRefundRequest,
    CreditView,
    OrderRefundRequest,
    RefundView,
    credit_view,
    view,
)
from boxoffice.refunds.staff import (
    finish_stale_pending,
    list_for_order,
    list_refunds,
    refund_bulk_purchase,
    refund_order,
)
from boxoffice.refunds.stripe_events import on_charge_refunded, on_dispute, on_stripe_refund, sync_with_stripe

__all__ = [
    "BulkRefundRequest",
    "CreditView",
    "OrderRefundRequest",
    "Owner",
    "RefundView",
    "credit_view",
    "finish_stale_pending",
    "list_for_order",
    "list_refunds",
    "on_charge_refunded",
    "on_dispute",
    "on_stripe_refund",
    "refund_bulk_purchase",
    "refund_order",
    "settle_order",
    "sync_with_stripe",
    "view",
]
