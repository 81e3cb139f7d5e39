"""Read and admin API: health, OpenAPI, conference setup and catalog (later: the GET routes)."""

from boxoffice.api import lambda_handler, make_resolver
from boxoffice.api.routes import conferences, health

app = make_resolver(health.router, conferences.router)
handler = lambda_handler(app)
