"""The oracle: the project's audit of the books, less what it may rightly report.

``tests.support.books.silent_breaks`` runs ``boxoffice.books.audit_all`` and keeps every break
except an outside action already flagged for staff with ``attention`` (e.g. a dashboard refund of
money staff had already given back as store credit): told, not prevented, so acceptable. Anything
else it returns is a break of docs/domain.md "The books".
"""

from __future__ import annotations

from boxoffice.books import Break
from tests.support.books import silent_breaks


def audit(conference_id: str, *, with_stripe: bool = True) -> list[Break]:
    """Every break of ``conference_id``'s books that nobody has been told about."""
    return silent_breaks(conference_id, with_stripe=with_stripe)
