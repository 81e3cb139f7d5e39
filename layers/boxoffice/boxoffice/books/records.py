"""The store modules the audit reads, named once for every ``books`` module and loaded on first
use (``boxoffice.lazy``): importing the audit loads no PynamoDB."""

from typing import TYPE_CHECKING

from boxoffice import lazy

if TYPE_CHECKING:
    from boxoffice.store import books as book_records
    from boxoffice.store import bulk_purchases as purchases
    from boxoffice.store import credits as credit_records
    from boxoffice.store import orders as order_records
    from boxoffice.store import refunds as refund_records
    from boxoffice.store import stripe_events as event_records
    from boxoffice.store import vouchers as voucher_store
else:
    book_records = lazy.module("boxoffice.store.books")
    purchases = lazy.module("boxoffice.store.bulk_purchases")
    credit_records = lazy.module("boxoffice.store.credits")
    order_records = lazy.module("boxoffice.store.orders")
    refund_records = lazy.module("boxoffice.store.refunds")
    event_records = lazy.module("boxoffice.store.stripe_events")
    voucher_store = lazy.module("boxoffice.store.vouchers")

__all__ = [
    "book_records",
    "credit_records",
    "event_records",
    "order_records",
    "purchases",
    "refund_records",
    "voucher_store",
]
