"""``store.retry_on_conflict``: the one retry of a write DynamoDB cancelled for a concurrent one."""

from typing import Any

import pytest
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from boxoffice import store


def _cancelled(code: str) -> TransactWriteError:
    """A transaction cancelled as PynamoDB reports it: its second item failed with ``code``."""
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=[None, CancellationReason(code=code)],
    )
    return TransactWriteError("cancelled", cause=cause)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("boxoffice.store.base.time.sleep", lambda _seconds: None)


def _attempts(*outcomes: Any) -> tuple[list[int], Any]:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return calls, attempt


def test_a_transaction_conflict_is_tried_again_until_it_commits() -> None:
    calls, attempt = _attempts(_cancelled("TransactionConflict"), store.StaleRead(), "done")
    assert store.retry_on_conflict(attempt) == "done"
    assert len(calls) == 3


def test_a_failed_guard_is_not_retried() -> None:
    calls, attempt = _attempts(_cancelled("ConditionalCheckFailed"), "never")
    with pytest.raises(TransactWriteError):
        store.retry_on_conflict(attempt)
    assert len(calls) == 1


def test_the_last_conflict_is_raised_as_it_is() -> None:
    calls, attempt = _attempts(*[_cancelled("TransactionConflict")] * 3)
    with pytest.raises(TransactWriteError):
        store.retry_on_conflict(attempt, attempts=3)
    assert len(calls) == 3
