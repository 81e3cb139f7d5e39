"""What each function loads at cold start (issue #12).

A cold import holds a function's routes and models; the store (PynamoDB, botocore's clients),
boto3, the Stripe SDK and the idempotency utility load on the first request that uses them.
These tests pin that per function in a fresh interpreter, so a later import cannot slip back.
``make bench-imports`` measures what it costs.
"""

import pytest

from tests.support.functions import FUNCTIONS, cold_modules

FIRST_USE = (
    "boto3",
    "botocore.client",
    "botocore.session",
    "pynamodb",
    "stripe",
    "boxoffice.store.base",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parameters",
)
"""Loaded by the first request that needs them, never by the import (Powertools' own import
brings botocore's top package for its user agent; that alone loads no client code)."""

DOCUMENT_ONLY = ("aws_lambda_powertools.event_handler.openapi.models", "boxoffice.api.openapi")
"""What only ``GET /v1/openapi.json`` needs."""

NOT_SERVED = {
    "api": ("boxoffice.books", "boxoffice.bulk_purchases"),
    "checkout": (
        "boxoffice.conferences",
        "boxoffice.bulk_purchases",
        "boxoffice.owners",
        "boxoffice.refunds",
        "boxoffice.credits",
        "boxoffice.books",
        "boxoffice.stripe_events",
    ),
    "expiry": ("boxoffice.api",),
    "fulfillment": ("boxoffice.conferences", "boxoffice.refunds", "boxoffice.credits", "boxoffice.books"),
    "refunds": ("boxoffice.conferences",),
    "webhook": (
        "pydantic",
        "boxoffice.conferences",
        "boxoffice.orders",
        "boxoffice.bulk_purchases",
        "boxoffice.refunds",
        "boxoffice.stripe_events",
    ),
}
"""Services (and their models) of routes and processors a function does not serve."""


def loaded(modules: frozenset[str], names: tuple[str, ...]) -> list[str]:
    """The modules of ``names`` (each with its submodules) present in ``modules``."""
    return sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in names))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_loads_an_sdk_the_store_or_the_idempotency_utility_at_import(function: str) -> None:
    assert loaded(cold_modules(function), FIRST_USE) == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_loads_the_openapi_document_models_at_import(function: str) -> None:
    assert loaded(cold_modules(function), DOCUMENT_ONLY) == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_loads_no_service_of_routes_it_does_not_serve(function: str) -> None:
    assert loaded(cold_modules(function), NOT_SERVED[function]) == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_imports_the_emulator_the_local_runner_or_the_test_helpers(function: str) -> None:
    """The probe leaves the repository off ``sys.path``: such an import would fail it outright."""
    assert loaded(cold_modules(function), ("local", "tests", "moto")) == []


def test_the_webhook_function_loads_neither_pydantic_nor_stripe_nor_boto3() -> None:
    modules = cold_modules("webhook")
    assert loaded(modules, ("pydantic", "pydantic_core", "stripe", "boto3")) == []
    assert "aws_lambda_powertools.event_handler.middlewares.openapi_validation" not in modules
