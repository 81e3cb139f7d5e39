"""SnapStart (issue #12): the hooks each function registers, what they load and drop, the template.

Before the snapshot the hooks load what a cold import leaves to first use; after each restore
they drop clients, cached secrets and the random state, which environments must not share.
"""

import random
import sys
from types import ModuleType

import pytest

from local.template import load as load_template
from tests.support.functions import FUNCTIONS, cold_modules
from tests.support.http import ATTENDEE, call


def test_every_function_registers_its_snapstart_hooks() -> None:
    for function in FUNCTIONS:
        assert "boxoffice.snapstart" in cold_modules(function), function


def test_snapstart_registers_nothing_outside_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    from boxoffice import snapstart

    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    assert snapstart.register() is False


def test_snapstart_registers_preload_before_the_snapshot_and_forgetting_after_restore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from boxoffice import snapstart

    runtime = ModuleType("snapshot_restore_py")
    before: list[object] = []
    after: list[object] = []
    runtime.register_before_snapshot = before.append  # type: ignore[attr-defined]
    runtime.register_after_restore = after.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    assert snapstart.register() is True
    assert (before, after) == ([snapstart.preload], [snapstart.forget_unique_state])


def test_preload_loads_what_a_cold_import_leaves_to_first_use_builds_shapes_and_makes_clients(api) -> None:
    from boxoffice import bus, orders, snapstart
    from boxoffice.store.base import Item

    loaded_names = snapstart.preload()
    assert {"boxoffice.store.orders", "boxoffice.store.capacity"} <= set(loaded_names)
    assert {"boto3", "stripe", "pynamodb.models", "pynamodb.exceptions"} <= set(sys.modules)
    assert Item._get_connection().connection._client is not None
    assert bus._client.cache_info().currsize == 1
    assert orders.OrderView.__pydantic_complete__, "the shapes are built"


def test_after_restore_clients_and_cached_secrets_are_made_anew(api, demo: str, emulator) -> None:
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    from boxoffice import bus, secrets, snapstart, stripe_gateway
    from boxoffice.store.base import Item

    snapstart.preload()
    stripe_gateway.client_for(secrets.secret_name_for(demo))  # reads (and caches) the secret
    assert DEFAULT_PROVIDERS and stripe_gateway._client.cache_info().currsize == 1

    snapstart.forget_unique_state()

    assert Item._get_connection().connection._client is None
    assert bus._client.cache_info().currsize == 0
    assert stripe_gateway._client.cache_info().currsize == 0
    assert DEFAULT_PROVIDERS == {}
    reply = call(api, "GET", f"/v1/conferences/{demo}/catalog", claims=ATTENDEE)
    assert reply.status == 200, "the clients are made again"


def test_after_restore_random_draws_differ_from_the_snapshot_s() -> None:
    from boxoffice import snapstart

    random.seed(12)
    snapshot_draws = [random.random() for _ in range(3)]
    random.seed(12)  # every environment restored from one snapshot starts with this state
    snapstart.forget_unique_state()
    assert [random.random() for _ in range(3)] != snapshot_draws


def test_snapstart_is_off_by_default_and_every_event_source_invokes_the_published_alias() -> None:
    raw = load_template().raw
    parameter = raw["Parameters"]["SnapStart"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("None", ["None", "PublishedVersions"])
    globals_ = raw["Globals"]["Function"]
    assert globals_["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
    assert globals_["AutoPublishAlias"] == "live"
    functions = {k: v for k, v in raw["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert len(functions) == len(FUNCTIONS)
    # A new layer alone must publish a version: the functions' code is all in the layer.
    assert all(f["Properties"]["AutoPublishAliasAllProperties"] is True for f in functions.values())
    for rule in ("PartnerCheckoutEventsRule", "PartnerRefundEventsRule"):
        (target,) = raw["Resources"][rule]["Properties"]["Targets"]
        assert target["Arn"]["Ref"].endswith(".Alias"), rule
