"""Conference Stripe keys in Secrets Manager.

The table stores only a secret's *name*. Reads go through Powertools Parameters, cached per
container, so a warm function does not call Secrets Manager on every request.
"""

import json
import sys
from dataclasses import dataclass
from typing import Any

from boxoffice import snapstart
from boxoffice.config import settings

CACHE_SECONDS = 300
"""How long a warm container trusts its copy of a secret; a key rotation shows within this."""


@dataclass(frozen=True)
class StripeKeys:
    """A conference's Stripe API key and webhook signing secret. Never log or return one."""

    secret_key: str
    webhook_secret: str

    def __repr__(self) -> str:
        return "StripeKeys(secret_key=***, webhook_secret=***)"


@snapstart.after_restore
def _forget_cached_secrets() -> None:
    """Powertools Parameters caches secrets and a Secrets Manager client: none survive a restore."""
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()


def secret_name_for(conference_id: str) -> str:
    """Every conference's secret sits under the deployment's prefix, which IAM scopes to."""
    return f"{settings().secrets_prefix}conferences/{conference_id}/stripe"


def _client() -> Any:
    import boto3  # the Lambda runtime ships boto3; imported here to keep cold starts lean

    return boto3.client("secretsmanager")


def store_stripe_keys(conference_id: str, keys: StripeKeys) -> str:
    """Create or replace the conference's secret and return its name."""
    name = secret_name_for(conference_id)
    value = json.dumps({"secret_key": keys.secret_key, "webhook_secret": keys.webhook_secret})
    client = _client()
    try:
        client.put_secret_value(SecretId=name, SecretString=value)
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(
            Name=name,
            SecretString=value,
            Description=f"Stripe keys of boxoffice conference {conference_id}",
        )
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    return name


def get_stripe_keys(secret_name: str, *, force_fetch: bool = False) -> StripeKeys:
    """Read a conference's keys, cached for CACHE_SECONDS (Parameters is imported here: it loads boto3)."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(
        secret_name, transform="json", max_age=CACHE_SECONDS, force_fetch=force_fetch
    )
    return StripeKeys(secret_key=value["secret_key"], webhook_secret=value["webhook_secret"])
