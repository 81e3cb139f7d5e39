"""Checkout: creates bulk purchases (and, with their issue, orders) and their Stripe Checkout Sessions."""

from boxoffice.api import lambda_handler, make_resolver
from boxoffice.api.routes import bulk_purchases

app = make_resolver(bulk_purchases.checkout_router)
handler = lambda_handler(app)
