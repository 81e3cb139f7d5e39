"""The yardstick of ``make bench-imports`` (issue #12): the handler nobody tuned for cold starts.

It imports what a first version of any function here would: boto3, stripe, PynamoDB's models,
Powertools' HTTP resolver and Logger, and creates one boto3 DynamoDB client at import. Each
function's cold import is measured against this one's, in the same run. Nothing deploys it.
"""

from typing import Any

import boto3
import pynamodb.models  # noqa: F401 - imported for its cost, as a naive store module would
import stripe  # noqa: F401 - imported for its cost, as a naive payment module would
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
app = APIGatewayHttpResolver()
dynamodb = boto3.client("dynamodb")


@app.get("/v1/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
