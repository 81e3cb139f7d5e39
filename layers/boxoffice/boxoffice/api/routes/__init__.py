"""Routers by capability. A function's ``app.py`` includes the ones it serves."""

from aws_lambda_powertools.event_handler.api_gateway import Router


def ALL_ROUTERS() -> list[Router]:
    """Every router in the API, imported only when asked (the OpenAPI document needs them all)."""
    from boxoffice.api.routes import (
        books,
        bulk_fulfillment,
        bulk_purchases,
        conferences,
        health,
        orders,
        refunds,
        stripe_events,
        webhook,
    )

    return [
        health.router,
        conferences.router,
        stripe_events.router,
        webhook.webhook_router,
        bulk_purchases.router,
        bulk_purchases.checkout_router,
        bulk_fulfillment.fulfillment_router,
        orders.router,
        orders.checkout_router,
        refunds.router,
        refunds.refunds_router,
        books.router,
    ]
