"""Capacity races on DynamoDB Local (AWS's engine really cancels conflicting transactions).

- Racers through the real checkout handler, each in a warm container of its own
  (``tests.support.containers``): exactly ``capacity`` orders win, the rest get 409 ``sold_out``.
- 400 racers as threads calling the order service (400 forked containers do not fit a 2-core CI
  box; the service keeps no per-request state, unlike the handler's resolver): exactly
  ``capacity`` units are sold, cancels mixed in give their unit back once.
- A cancel racing the hold's expiry (and repeated) frees the unit once.
- A sponsor block is honoured while the general sale sells out under the race.
"""

import random
import threading
from collections import Counter

import pytest

from boxoffice import orders
from boxoffice.store import capacity as counters
from tests.support import bulk_fixtures as bf
from tests.support.capacity import held, limit_general
from tests.support.containers import Invocation, race
from tests.support.http import ATTENDEE, ORDERS, api_event, reply_of
from tests.support.order_fixtures import GENERAL, cancel, create, create_ok, move_hold_into_past, order_call


def live_general_units() -> int:
    from boxoffice.books import run as checks

    run = checks.run_for("demo", with_stripe=False)
    return sum(
        int(line["quantity"])
        for order in run.all_orders()
        if order.status != "cancelled"
        for line in order.lines
        if line["ticket_type_id"] == "general"
    )


def test_thirty_containers_racing_for_ten_units_sell_exactly_ten(demo):
    limit_general(10)
    result = race([order_call(n) for n in range(30)])
    assert result.errors() == []
    assert result.statuses() == {201: 10, 409: 20}, [o.result for o in result.outcomes]
    refused = [reply_of(o.result).json["error"] for o in result.outcomes if o.status == 409]
    assert {e["code"] for e in refused} == {"sold_out"}
    assert all(e["details"][0]["ticket_type_id"] == "general" for e in refused)
    assert result.dynamodb["ConditionalCheckFailed"] >= 20, result.dynamodb
    assert held() == live_general_units() == 10


@pytest.fixture
def light_clients(monkeypatch):
    """Every thread's botocore session shares one data loader, so 400 threads do not each parse
    botocore's DynamoDB model again (the clients, connections and requests stay their own)."""
    import botocore.loaders
    import botocore.session
    from pynamodb.connection import base

    loader = botocore.loaders.create_loader()

    def session() -> botocore.session.Session:
        made = botocore.session.get_session()
        made.register_component("data_loader", loader)
        return made

    monkeypatch.setattr(base, "get_session", session)


def test_four_hundred_racers_with_cancels_sell_exactly_the_capacity(demo, light_clients):
    capacity, early = 40, 10
    limit_general(capacity)
    request = orders.OrderRequest.model_validate({"lines": [GENERAL]})
    early_ids = [orders.create("demo", f"early-{i}", request).id for i in range(early)]
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    cancels_done = threading.Event()
    start = threading.Barrier(400 + early)

    def buyer(n: int) -> None:
        start.wait()
        while True:
            try:
                orders.create("demo", f"racer-{n}", request)
                outcome = "ordered"
            except counters.SoldOut:
                with lock:
                    outcomes["sold_out"] += 1
                cancels_done.wait()  # refused: wait for news (the cancels), then look at what is left
                counter = counters.get("demo", counters.ticket_scope("general"))
                if counter is not None and counter.available == 0:
                    return
                continue
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            with lock:
                outcomes[outcome] += 1
            return

    def canceller(order_id: str) -> None:
        start.wait()
        threading.Event().wait(random.uniform(0, 0.5))
        orders.cancel("demo", order_id, None)
        with lock:
            outcomes["cancelled"] += 1

    buyers = [threading.Thread(target=buyer, args=(n,)) for n in range(400)]
    cancellers = [threading.Thread(target=canceller, args=(oid,)) for oid in early_ids]
    for t in buyers + cancellers:
        t.start()
    for t in cancellers:
        t.join()
    cancels_done.set()
    for t in buyers:
        t.join()
    assert set(outcomes) <= {"ordered", "sold_out", "cancelled"}, outcomes
    assert (outcomes["ordered"], outcomes["cancelled"]) == (capacity, early)
    assert outcomes["sold_out"] >= 400 - capacity
    assert held() == live_general_units() == capacity


def test_a_cancel_racing_the_expiry_sweep_frees_the_unit_once(demo):
    limit_general(1)
    order = create_ok([GENERAL])
    move_hold_into_past(order["id"])
    cancel_event = api_event("POST", f"{ORDERS}/{order['id']}/cancel", claims=ATTENDEE)
    result = race(
        [Invocation("checkout", cancel_event), Invocation("checkout", cancel_event)],
        # The expiry function's sweep, twice (a retried schedule), racing the two cancels.
        alongside=[lambda: orders.sweep_expired_holds("demo"), lambda: orders.sweep_expired_holds("demo")],
    )
    assert result.errors() == []
    assert held() == 0
    assert cancel(order["id"]).status == 409
    assert orders.sweep_expired_holds("demo") == 0
    assert held() == 0
    create_ok([GENERAL])
    assert create({"lines": [GENERAL]}).status == 409


def test_a_sponsor_block_is_honoured_while_the_general_sale_sells_out_under_a_race(demo):
    limit_general(10)
    purchase = bf.create_ok(bf.comp_body(quantity=3, ticket_type_id="general"))
    assert bf.approve(purchase["id"]).status == 200
    assert bf.fulfill(purchase["id"]).status == 200
    codes = sorted(v.code for v in bf.stored_vouchers())
    result = race(
        [order_call(n) for n in range(20)] + [order_call(100 + i, code) for i, code in enumerate(codes)]
    )
    assert result.errors() == []
    general, coded = result.outcomes[:20], result.outcomes[20:]
    assert Counter(o.status for o in general) == {201: 7, 409: 13}
    assert [o.status for o in coded] == [201, 201, 201]
    assert all(reply_of(o.result).json["total"] == 0 for o in coded)
    assert held() == live_general_units() == 10
    assert int(bf.stored(purchase["id"]).block_left_ticket) == 0
