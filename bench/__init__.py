"""Benchmarks: budgets measured in stable counts and medians, printed, never timed tests."""
