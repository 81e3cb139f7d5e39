"""The scheduled sweep: reconcile Stripe events for every active conference (more sweeps follow)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from boxoffice import expiry, snapstart
from boxoffice.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return expiry.sweep().model_dump()


snapstart.register()  # SnapStart hooks; nothing outside Lambda
