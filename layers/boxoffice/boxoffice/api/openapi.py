"""The whole API's OpenAPI 3 document, generated from every router's own models.

Each function serves only its own routes, so the document is built from a resolver that
includes all routers. It is built on first request and kept for the container's life.
"""

from functools import cache

from boxoffice.api import make_resolver
from boxoffice.api.routes import ALL_ROUTERS


@cache
def openapi_json() -> str:
    app = make_resolver(*ALL_ROUTERS())
    return app.get_openapi_json_schema(
        title="Boxoffice",
        version="1.0.0",
        summary="Conference voucher sales, orders, refunds and store credit",
        description='Errors have the shape {"error": {"code", "message", "details"}}; see API.md.',
    )
