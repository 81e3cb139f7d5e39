"""Deployment settings read from the environment that template.yaml sets."""

import os
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Settings:
    """What every function needs to find its resources."""

    table_name: str
    event_bus_name: str
    secrets_prefix: str
    stage: str
    stripe_api_base: str | None


@cache
def settings() -> Settings:
    """Read once per container; the environment does not change under a running Lambda."""
    return Settings(
        table_name=os.environ.get("TABLE_NAME", "boxoffice"),
        event_bus_name=os.environ.get("EVENT_BUS_NAME", "boxoffice"),
        secrets_prefix=os.environ.get("SECRETS_PREFIX", "boxoffice/dev/"),
        stage=os.environ.get("STAGE", "dev"),
        # Only the local runner and the tests set this, to reach the Stripe emulator.
        stripe_api_base=os.environ.get("STRIPE_API_BASE") or None,
    )
