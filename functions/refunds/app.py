"""Refunds: charge.refunded, refund.* and charge.dispute.* from the bus; refund and credit routes; the audit."""

from boxoffice import snapstart
from boxoffice.api import lambda_handler, make_resolver
from boxoffice.api.routes import books, refunds
from boxoffice.processors import processor_handler, refunds_registry

handler = processor_handler(
    refunds_registry(), http=lambda_handler(make_resolver(refunds.refunds_router, books.router))
)
snapstart.register()  # SnapStart hooks; nothing outside Lambda
