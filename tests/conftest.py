"""Settings every lane shares: the environment the functions expect, set before any import.

Each lane's own conftest points the AWS endpoint at its engine (moto or DynamoDB Local).
"""

import os

os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "TABLE_NAME": "boxoffice-test",
        "EVENT_BUS_NAME": "boxoffice-test",
        "SECRETS_PREFIX": "boxoffice/test/",
        "STAGE": "test",
        "POWERTOOLS_SERVICE_NAME": "boxoffice",
        "POWERTOOLS_METRICS_NAMESPACE": "BoxofficeTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_FUNCTION_NAME": "boxoffice-test",
    }
)
os.environ.pop("AWS_PROFILE", None)
