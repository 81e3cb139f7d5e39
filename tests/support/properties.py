"""Hypothesis settings for property tests of pure rules (no I/O, so examples are cheap)."""

from hypothesis import settings

rules = settings(max_examples=200, deadline=None)
"""Two hundred examples per property; no deadline, since a loaded CI box may pause any example."""
