"""AWS list prices ``make bench-cost`` uses: us-east-1, on-demand, no free tier, in US dollars.

Kept in this one place with the date they were taken, so a price change is one edit here and the
README's table is rerun, not recomputed by hand. Stripe's fees are not AWS's and are left out.
"""

AS_OF = "2026-11"
"""When these list prices were read (us-east-1 on-demand, as quoted in issue #12)."""

REGION = "us-east-1"

DYNAMODB_WRITE_REQUEST_UNIT = 0.625 / 1_000_000
"""DynamoDB on-demand, per write request unit (1 KB written; 2 per KB in a transaction)."""
DYNAMODB_READ_REQUEST_UNIT = 0.125 / 1_000_000
"""DynamoDB on-demand, per read request unit (4 KB strongly consistent, 8 KB eventually consistent)."""
LAMBDA_GB_SECOND = 0.0000133334
"""Lambda on arm64, per GB-second of billed duration."""
LAMBDA_REQUEST = 0.20 / 1_000_000
"""Lambda, per invocation."""
HTTP_API_REQUEST = 1.00 / 1_000_000
"""API Gateway HTTP API, per request (the first 300 million a month)."""
EVENTBRIDGE_EVENT = 1.00 / 1_000_000
"""EventBridge custom events put on a bus, per event (64 KB chunk)."""
SECRETS_MANAGER_CALL = 0.05 / 10_000
"""Secrets Manager, per API call."""
SQS_MESSAGE = 0.40 / 1_000_000
"""SQS standard queue, per request (a dead-lettered event is one message)."""
