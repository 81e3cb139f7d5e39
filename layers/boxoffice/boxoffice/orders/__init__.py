"""Attendee orders: price, redeem a voucher atomically, pay through Stripe Checkout, cancel, expire.

One module per capability, read top to bottom; this package names what callers use:

- ``views``: the request shapes, the views, who may see an order, and the reads;
- ``creation``: pricing, the voucher's redemption and the units held, in one transaction;
- ``payments``: Stripe Checkout, a paid (or failed, or settling) session, ``order.paid`` once;
- ``cancellation``: cancel (the session expired first) and the sweep of ended holds;
- ``units``: a refunded order's units given back, and taken back when it is paid again.

Every write and its condition is in ``store.orders``; vouchers are read and checked in
``boxoffice.vouchers``.
"""

from boxoffice.orders.cancellation import cancel, sweep_expired_holds
from boxoffice.orders.creation import create
from boxoffice.orders.payments import (
    announce_paid,
    announce_unannounced,
    checkout,
    close_open_session,
    on_payment_failed,
    on_session_paid,
)
from boxoffice.orders.units import holds_units, release_refunded_units, retake_units
from boxoffice.orders.views import (
    OrderLineInput,
    OrderLineView,
    OrderPage,
    OrderRequest,
    OrderView,
    OrderViewer,
    PaymentView,
    get,
    list_orders,
    payment_view,
    view,
)
from boxoffice.vouchers import VoucherCheck, VoucherInvalid, VoucherReason, check_voucher

__all__ = [
    "OrderLineInput",
    "OrderLineView",
    "OrderPage",
    "OrderRequest",
    "OrderView",
    "OrderViewer",
    "PaymentView",
    "VoucherCheck",
    "VoucherInvalid",
    "VoucherReason",
    "announce_paid",
    "announce_unannounced",
    "cancel",
    "check_voucher",
    "checkout",
    "close_open_session",
    "create",
    "get",
    "holds_units",
    "list_orders",
    "on_payment_failed",
    "on_session_paid",
    "payment_view",
    "release_refunded_units",
    "retake_units",
    "sweep_expired_holds",
    "view",
]
