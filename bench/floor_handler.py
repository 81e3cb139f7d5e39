"""The floor of ``make bench-imports``: the architecture's validating resolver before any code of ours.

ARCHITECTURE.md chooses Powertools' ``APIGatewayHttpResolver`` with ``enable_validation`` (pydantic
models for requests and responses) and Powertools' ``Logger``. This handler imports exactly that,
with one route validating one model body, so the bench shows what every validating function pays
before its own routes, services and shapes. Nothing deploys it.
"""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)


class Greeting(BaseModel):
    """One request body, validated as every validating route's is."""

    name: str


@app.post("/v1/greetings")
def greet(greeting: Greeting) -> Greeting:
    return greeting


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
