"""Loading a function's ``app.py`` the way Lambda does: its folder, with the layer importable."""

from functools import cache
from types import ModuleType
from typing import Any

from local.lambda_runtime import load_handler_module
from local.template import ROOT

FUNCTIONS = tuple(sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").is_file()))
"""Every function's folder name: api, checkout, expiry, fulfillment, refunds, webhook."""
EVENTS = ROOT / "events"
"""The sample events a function is invoked with (``sam local invoke -e``)."""


def sample_event(name: str) -> dict[str, Any]:
    """The sample event ``events/<name>``."""
    import json

    return json.loads((EVENTS / name).read_text())


@cache
def load_function(name: str) -> ModuleType:
    """``functions/<name>/app.py`` as a module; loaded once, as a warm container would be."""
    return load_handler_module(ROOT / "functions" / name, name)


def api_fn() -> Any:
    """The api function's real handler (reads, listings, catalog, admin)."""
    return load_function("api").handler


def checkout_fn() -> Any:
    """The checkout function's real handler (orders and bulk purchases: create, check out, cancel)."""
    return load_function("checkout").handler


def fulfillment_fn() -> Any:
    """The fulfillment function's real handler (staff fulfilment of comp deals, checkout events)."""
    return load_function("fulfillment").handler


def refunds_fn() -> Any:
    """The refunds function's real handler (refunds, store credit, refund and dispute events)."""
    return load_function("refunds").handler


COLD_PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
print(json.dumps(sorted(sys.modules)))
"""
COLD_ENV = {
    "TABLE_NAME": "cold",
    "EVENT_BUS_NAME": "cold",
    "SECRETS_PREFIX": "boxoffice/cold/",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "boxoffice",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@cache
def cold_modules(name: str) -> frozenset[str]:
    """Every module loaded once ``functions/<name>/app.py`` is imported in a fresh interpreter.

    Run as Lambda lays a function out: the function's folder and the layer's, nothing of the
    repository, and ``-I`` so no ``PYTHONPATH`` adds it (a function reaching for ``local`` or
    ``tests`` fails to import). Only the venv's packages stand in for the built layer's.
    """
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            COLD_PROBE,
            str(ROOT / "functions" / name),
            str(ROOT / "layers" / "boxoffice"),
        ],
        env=COLD_ENV,
        cwd=ROOT / "functions" / name,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"{name} does not import on its own:\n{done.stderr[-3000:]}"
    return frozenset(json.loads(done.stdout.splitlines()[-1]))


def forget_cached_state() -> None:
    """A fresh container's caches: no secret read yet, no forced secret read yet."""
    from aws_lambda_powertools.utilities import parameters

    from boxoffice import stripe_intake

    parameters.clear_caches()
    stripe_intake._FORCED_READS.clear()
