"""Checkout: bulk purchases, orders and their Stripe Checkout Sessions (routes arrive with those issues)."""

from boxoffice.api import lambda_handler, make_resolver

app = make_resolver()
handler = lambda_handler(app)
