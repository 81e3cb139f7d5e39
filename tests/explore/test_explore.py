"""The CI lane of the exploration: a bounded number of examples of the books machine.

``make test-explore`` runs this with a printed ``--hypothesis-seed`` so a failure can be replayed;
Hypothesis prints the shortest failing sequence and its ``@reproduce_failure`` blob.
"""

import os

from hypothesis import HealthCheck, settings

from tests.explore.machine import BooksMachine
from tests.explore.world import STATS

CI_EXAMPLES = int(os.environ.get("EXPLORE_EXAMPLES", "12"))
CI_STEPS = int(os.environ.get("EXPLORE_STEPS", "15"))


def test_books_balance_whatever_users_staff_stripe_and_the_network_do(world: object) -> None:
    run = BooksMachine.TestCase
    run.settings = settings(
        max_examples=CI_EXAMPLES,
        stateful_step_count=CI_STEPS,
        deadline=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
    try:
        run().runTest()
    finally:
        print("\n" + STATS.report())
