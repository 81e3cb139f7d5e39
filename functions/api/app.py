"""Read and admin API: health, OpenAPI, conference setup and catalog, reads, Stripe event operations."""

from boxoffice import snapstart
from boxoffice.api import lambda_handler, make_resolver
from boxoffice.api.routes import bulk_purchases, conferences, health, orders, refunds, stripe_events

app = make_resolver(
    health.router,
    conferences.router,
    stripe_events.router,
    bulk_purchases.router,
    orders.router,
    refunds.router,
)
handler = lambda_handler(app)
snapstart.register()  # SnapStart hooks; nothing outside Lambda
