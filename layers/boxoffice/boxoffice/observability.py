"""Logger, Tracer and Metrics shared by every function, with secrets kept out of logs.

Powertools reads service name, log level and metrics namespace from the environment that
template.yaml sets. A logging filter masks anything shaped like a Stripe key or signing
secret, so a careless ``logger.info(obj)`` cannot leak one.
"""

import logging
import re

from aws_lambda_powertools import Logger

SECRET_PATTERN = re.compile(r"\b(sk|rk)_(test|live)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9+/=]+")
"""Stripe secret keys, restricted keys and webhook signing secrets."""

REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    """Mask every Stripe secret in ``text``."""
    return SECRET_PATTERN.sub(REDACTED, text)


class SecretRedactingFilter(logging.Filter):
    """Rewrites each record's message and arguments with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        else:
            record.msg = redact(str(record.msg)) if SECRET_PATTERN.search(str(record.msg)) else record.msg
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        for key, value in list(vars(record).items()):
            if isinstance(value, str) and key not in ("msg", "message") and SECRET_PATTERN.search(value):
                setattr(record, key, redact(value))
        return True


logger = Logger()
logger.addFilter(SecretRedactingFilter())
