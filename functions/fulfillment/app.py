"""Fulfillment: checkout.session.* and payment_intent.payment_failed from the bus, and staff fulfil."""

from boxoffice import snapstart
from boxoffice.api import lambda_handler, make_resolver
from boxoffice.api.routes import bulk_fulfillment
from boxoffice.processors import fulfillment_registry, processor_handler

handler = processor_handler(
    fulfillment_registry(), http=lambda_handler(make_resolver(bulk_fulfillment.fulfillment_router))
)
snapstart.register()  # SnapStart hooks; nothing outside Lambda
