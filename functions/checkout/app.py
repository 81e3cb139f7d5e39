"""Checkout: creates bulk purchases and orders and their Stripe Checkout Sessions; cancels orders."""

from boxoffice import snapstart
from boxoffice.api import lambda_handler, make_resolver
from boxoffice.api.routes import bulk_purchases, orders

app = make_resolver(bulk_purchases.checkout_router, orders.checkout_router)
handler = lambda_handler(app)
snapstart.register()  # SnapStart hooks; nothing outside Lambda
