"""Stripe webhook intake: verify, record once, publish to the bus, answer 200 (5xx to be retried)."""

from boxoffice import snapstart
from boxoffice.api import lambda_handler, make_resolver
from boxoffice.api.routes.webhook import WEBHOOK_MAX_BODY_BYTES, webhook_router

app = make_resolver(webhook_router, validate=False)
handler = lambda_handler(app, max_body_bytes=WEBHOOK_MAX_BODY_BYTES, parse_body=False)
snapstart.register()  # SnapStart hooks; nothing outside Lambda
