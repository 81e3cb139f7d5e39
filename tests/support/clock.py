"""The time tests set records by: aware UTC, as the app stores it."""

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, aware and in UTC."""
    return datetime.now(UTC)
