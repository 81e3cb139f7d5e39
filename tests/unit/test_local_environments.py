"""The runner's Lambda model: each function's reserved concurrency, and a context that counts down."""

import time

import pytest

from local.environments import reserved_concurrency
from local.lambda_runtime import LambdaContext
from local.template import load


def test_each_function_may_have_as_many_environments_as_the_template_reserves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    template = load()
    assert {reserved_concurrency(template, f) for f in template.functions} == {50}
    monkeypatch.setenv("BOXOFFICE_FunctionConcurrencyLimit", "5")
    assert reserved_concurrency(template, "WebhookFunction") == 5
    monkeypatch.setenv("BOXOFFICE_FunctionConcurrencyLimit", "0")
    assert reserved_concurrency(template, "WebhookFunction") is None, "0 reserves nothing"


def test_the_context_counts_down_to_its_deadline_and_stops_at_zero() -> None:
    context = LambdaContext(timeout_seconds=15)
    first = context.get_remaining_time_in_millis()
    assert 14_000 < first <= 15_000
    time.sleep(0.05)
    assert context.get_remaining_time_in_millis() < first
    assert LambdaContext(deadline=time.time() - 1).get_remaining_time_in_millis() == 0
