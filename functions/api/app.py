"""Read and admin API: health, OpenAPI, conference setup and catalog, reads, Stripe event operations,
and the web console's static files (``console/``, shipped with this function)."""

from pathlib import Path

from boxoffice import snapstart
from boxoffice.api import lambda_handler, make_resolver
from boxoffice.api.routes import bulk_purchases, conferences, health, orders, refunds, stripe_events
from boxoffice.api.routes.console import console_router

app = make_resolver(
    health.router,
    conferences.router,
    stripe_events.router,
    bulk_purchases.router,
    orders.router,
    refunds.router,
    console_router(Path(__file__).parent / "console"),
)
handler = lambda_handler(app)
snapstart.register()  # SnapStart hooks; nothing outside Lambda
