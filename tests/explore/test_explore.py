"""The exploration: Hypothesis runs the books machine, in CI (bounded) or for as long as asked.

- ``make test-explore``: ``EXPLORE_EXAMPLES`` examples of up to ``EXPLORE_STEPS`` steps, under a
  printed ``--hypothesis-seed`` so a failure replays; Hypothesis prints the failing sequence (the
  shortest one with ``EXPLORE_SHRINK=1``) and its ``@reproduce_failure`` blob.
- ``make explore``: batches of fresh seeds until ``EXPLORE_MINUTES`` have passed; every failure is
  printed when it is found and again at the end, with the examples, steps and rule pairs covered
  and the money reached (card and credit refunds, credit applied, crashes recovered, ...).
"""

import os
import random
import time

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from local.template import ROOT
from tests.explore.machine import BooksMachine
from tests.explore.world import STATS

CI_EXAMPLES = int(os.environ.get("EXPLORE_EXAMPLES", "25"))
CI_STEPS = int(os.environ.get("EXPLORE_STEPS", "20"))
DATABASE = DirectoryBasedExampleDatabase(str(ROOT / ".cache" / "hypothesis"))


SHRINK = os.environ.get("EXPLORE_SHRINK", "1") != "0"
"""Shrinking a sequence of real handler calls can take Hypothesis more than five minutes; a long
exploration turns it off (``EXPLORE_SHRINK=0``) and keeps the failing sequence as generated."""


def _run(examples: int, steps: int, seed: int | None = None, *, shrink: bool = SHRINK) -> None:
    from hypothesis import core

    case = BooksMachine.TestCase
    case.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        print_blob=True,
        database=DATABASE,
        suppress_health_check=list(HealthCheck),
        phases=list(Phase) if shrink else [p for p in Phase if p is not Phase.shrink],
    )
    if seed is not None:
        core.global_force_seed = seed  # what pytest's --hypothesis-seed sets; one per batch here
    case().runTest()


def _describe(exc: BaseException) -> str:
    """The failure and the steps Hypothesis attached to it, for each distinct failure it found."""
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(_describe(sub) for sub in exc.exceptions)
    notes = "\n".join(getattr(exc, "__notes__", []))
    return f"{type(exc).__name__}: {exc}\n{notes}"


def test_books_balance_whatever_users_staff_stripe_and_the_network_do(world: object) -> None:
    try:
        _run(CI_EXAMPLES, CI_STEPS)
    finally:
        print("\n" + STATS.report())


@pytest.mark.skipif(not os.environ.get("EXPLORE_MINUTES"), reason="make explore sets EXPLORE_MINUTES")
def test_explore_for_minutes(world: object) -> None:
    """Fresh seeds, batch after batch, until the time is up; failures are collected, not fatal."""
    deadline = time.monotonic() + float(os.environ["EXPLORE_MINUTES"]) * 60
    failures: list[str] = []
    while time.monotonic() < deadline:
        batch_seed = random.SystemRandom().randrange(2**32)
        try:
            _run(int(os.environ.get("EXPLORE_BATCH", "5")), CI_STEPS, batch_seed)
        except Exception as exc:
            text = f"seed {batch_seed}:\n{_describe(exc)}"
            print(f"\n=== BREAK FOUND ===\n{text}", flush=True)
            failures.append(text)
    print("\n" + STATS.report())
    print(f"breaks found: {len(failures)}")
    for text in failures:
        print("---\n" + text)
    assert not failures, f"{len(failures)} break(s) found; see the output above"
