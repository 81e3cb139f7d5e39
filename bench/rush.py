"""``make bench-rush``: a sale rush on DynamoDB Local: never oversold, and what a sold unit costs.

Two races, each with ``BUYERS`` threads released at once through a barrier, every thread one buyer
calling the real service (``orders.create``, ``orders.cancel``) on its own PynamoDB connection:

1. **The last units.** A ticket type with capacity ``UNITS``, ``EARLY`` of them held by early orders
   that are cancelled during the rush (their units come back, once). Every buyer wants one ticket;
   refused, it looks at what is left and tries again while units may come back. At the end exactly
   ``UNITS`` units must be held by the buyers' live orders, the counter must say so, and no buyer
   may get anything past capacity.
2. **A 10-use code.** An unlimited ticket type and one voucher code with ``CODE_USES`` uses. Every
   buyer orders one ticket with the code: exactly ``CODE_USES`` orders may carry the discount.

Printed per race: units sold, oversold, refused (``sold_out``, or the code used up), transaction
conflicts DynamoDB reported and retries the service made, failed conditional writes per refused
buyer, DynamoDB requests and capacity units per sold unit (``ReturnConsumedCapacity``, counted by
bench/dynamo_counts.py's botocore hooks), and p50/p99 latency of one order. Exits 1 when a unit is
oversold or a count is wrong.

The latencies are those of 400 Python threads sharing one interpreter (and its GIL) with DynamoDB
Local on the same machine: they measure this box's queueing, not DynamoDB's. In Lambda each buyer
is a container of its own. Requests, capacity units and conflicts do not depend on that.
"""

import os
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUYERS = 400
UNITS = 100
CODE_USES = 10
EARLY = 25
CONFERENCE = "rush"
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "TABLE_NAME": "boxoffice-rush",
    "EVENT_BUS_NAME": "boxoffice-rush",
    "SECRETS_PREFIX": "boxoffice/rush/",
    "STAGE": "bench",
    "POWERTOOLS_SERVICE_NAME": "boxoffice",
    "POWERTOOLS_METRICS_NAMESPACE": "BoxofficeBench",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "AWS_LAMBDA_FUNCTION_NAME": "boxoffice-bench",
}


# --- what DynamoDB said about cancelled transactions (a botocore hook, like dynamo_counts) ---------------------

_reasons: Counter[str] = Counter()
_reasons_lock = threading.Lock()


def _count_cancellations(parsed: dict[str, Any], **_: Any) -> None:
    """Tally each cancellation reason code of a cancelled TransactWriteItems (None reasons skipped)."""
    error = parsed.get("Error") or {}
    if error.get("Code") != "TransactionCanceledException":
        return
    with _reasons_lock:
        _reasons["cancelled"] += 1
        for reason in parsed.get("CancellationReasons") or []:
            if reason.get("Code") not in (None, "None"):
                _reasons[reason["Code"]] += 1


def install_cancellation_hook() -> None:
    from botocore import handlers

    spec = ("after-call.dynamodb.TransactWriteItems", _count_cancellations)
    if spec not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append(spec)


# --- one race ---------------------------------------------------------------------------------------------------


@dataclass
class Race:
    name: str
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, outcome: str, seconds: float) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            self.latencies.append(seconds)


def buy(
    race: Race, start: threading.Barrier, index: int, voucher: str | None, cancels_done: threading.Event
) -> None:
    """One buyer wanting one ticket (with the code, in the code race).

    Refused with ``sold_out``, the buyer waits for the cancels to land, looks at what is left (one
    read of the counter, as the catalog shows it) and tries again while units are left.
    """
    from boxoffice import orders, store
    from boxoffice.store import capacity as counters

    ticket = "code-ticket" if voucher else "general"
    request = orders.OrderRequest.model_validate(
        {"lines": [{"ticket_type_id": ticket, "quantity": 1}], "voucher_code": voucher}
    )
    store.get_conference(CONFERENCE)  # this thread's DynamoDB client exists before the clock starts
    start.wait()
    while True:
        started = time.perf_counter()
        try:
            view = orders.create(CONFERENCE, f"buyer-{index}", request)
        except counters.SoldOut:
            race.record("sold_out", time.perf_counter() - started)
            cancels_done.wait()  # refused: wait for news (the cancels), then look at what is left
            counter = counters.get(CONFERENCE, counters.ticket_scope(ticket))
            if counter is not None and counter.available == 0:
                race.record("left_without", 0.0)
                return
            continue
        except orders.VoucherInvalid as exc:
            race.record(f"code_{exc.reason}", time.perf_counter() - started)
            return
        except Exception as exc:  # a failure the service should not have: reported, and the run fails
            with race.lock:
                race.errors.append(f"{type(exc).__name__}: {exc}")
            return
        race.record("discounted" if view.discount_amount else "ordered", time.perf_counter() - started)
        return


def cancel_one(race: Race, start: threading.Barrier, order_id: str, delay: float) -> None:
    """An early buyer who changes their mind during the rush: the unit goes back, once."""
    from boxoffice import orders, store
    from boxoffice.errors import BoxofficeError

    store.get_conference(CONFERENCE)
    start.wait()
    time.sleep(delay)
    try:
        orders.cancel(CONFERENCE, order_id, None)
        race.record("cancelled", 0.0)
    except BoxofficeError as exc:
        with race.lock:
            race.errors.append(f"cancel: {exc}")


def run_race(name: str, voucher: str | None, early_orders: list[str]) -> dict[str, Any]:
    """Start every buyer (and canceller), let them warm up, then release them together and count."""
    import random

    from bench import dynamo_counts

    race = Race(name)
    cancels_done = threading.Event()
    released: list[float] = []
    start = threading.Barrier(
        BUYERS + len(early_orders) + 1, action=lambda: released.append(time.perf_counter())
    )
    buyers = [
        threading.Thread(target=buy, args=(race, start, i, voucher, cancels_done)) for i in range(BUYERS)
    ]
    cancellers = [
        threading.Thread(target=cancel_one, args=(race, start, oid, random.uniform(0, 2.0)))
        for oid in early_orders
    ]
    for t in buyers + cancellers:
        t.start()
    if not early_orders:
        cancels_done.set()
    with _reasons_lock:
        _reasons.clear()
    with dynamo_counts.measure() as tally:
        start.wait()
        for t in cancellers:
            t.join()
        cancels_done.set()
        for t in buyers:
            t.join()
        wall = time.perf_counter() - released[0]
    with _reasons_lock:
        reasons = dict(_reasons)
    return {"race": race, "tally": tally, "reasons": reasons, "wall": wall}


# --- set up, check, report ----------------------------------------------------------------------------------


def setup() -> None:
    from boxoffice import conferences
    from boxoffice.store import vouchers as voucher_store

    conferences.put_conference(
        CONFERENCE, conferences.ConferenceInput(name="Rush", currency="usd", is_active=True)
    )
    conferences.put_ticket_type(
        CONFERENCE, "general", conferences.TicketTypeInput(name="General", price=25_000, capacity=UNITS)
    )
    conferences.put_ticket_type(
        CONFERENCE, "code-ticket", conferences.TicketTypeInput(name="Coded", price=25_000)
    )
    voucher_store.Voucher(
        *voucher_store.Voucher.key(CONFERENCE, "RUSH10"),
        conference_id=CONFERENCE,
        code="RUSH10",
        voucher_type="percentage",
        discount_value=50,
        max_uses=CODE_USES,
        times_used=0,
        unlocks_hidden_tickets=False,
        is_active=True,
        ticket_type_ids=[],
        addon_ids=[],
    ).save()


def live_units(ticket: str) -> tuple[int, int]:
    """Units held by orders that are not cancelled, and units they got discounted, for ``ticket``."""
    from boxoffice.books import run as checks

    run = checks.run_for(CONFERENCE, with_stripe=False)
    units = discounted = 0
    for order in run.all_orders():
        if order.status == "cancelled":
            continue
        for line in order.lines:
            if line["ticket_type_id"] == ticket:
                units += int(line["quantity"])
                discounted += 1 if line["discount"] else 0
    return units, discounted


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(
    result: dict[str, Any], sold: int, expected: int, counter_held: int | None, counter: str
) -> list[str]:
    race, tally, reasons = result["race"], result["tally"], result["reasons"]
    out = race.outcomes
    # Refused attempts: a buyer may be refused, look at what is left, and try again.
    refused = sum(n for k, n in out.items() if k == "sold_out" or k.startswith("code_"))
    failed_conditions = reasons.get("ConditionalCheckFailed", 0)
    conflicts = reasons.get("TransactionConflict", 0)
    orders_made = out["ordered"] + out["discounted"]
    attempts = tally.calls["TransactWriteItems"]
    creates = orders_made + refused + out["cancelled"]
    latencies = [s for s in race.latencies if s > 0]
    oversold = max(sold - expected, 0)
    print(f"\n== {race.name}: {BUYERS} buyers, {result['wall']:.1f} s wall")
    print(f"  units sold {sold} (expected exactly {expected}); oversold {oversold}")
    if counter_held is not None:
        print(f"  {counter} {counter_held}")
    print(
        f"  orders created {orders_made}, early orders cancelled {out['cancelled']}, refused attempts {refused}, "
        f"buyers left without {out['left_without']} {dict(out)}"
    )
    print(
        f"  transactions {attempts} for {creates} creates/cancels: {reasons.get('cancelled', 0)} cancelled, "
        f"{conflicts} TransactionConflict (each retried), {failed_conditions} failed conditions"
    )
    print(
        f"  failed conditional writes per refused buyer: {failed_conditions / refused if refused else 0:.2f}"
    )
    print(
        f"  DynamoDB requests {tally.requests} ({tally.requests / max(sold, 1):.1f} per sold unit), "
        f"{tally.wcu:g} WCU ({tally.wcu / max(sold, 1):.1f} per sold unit), {tally.rcu:g} RCU"
    )
    print(f"  by operation: {tally.breakdown()}")
    print(
        f"  order latency p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms"
    )
    problems = [f"{race.name}: {e}" for e in race.errors[:5]]
    if sold != expected:
        problems.append(f"{race.name}: {sold} units sold, expected {expected}")
    if counter_held is not None and counter_held != sold:
        problems.append(f"{race.name}: the {counter} is {counter_held} but orders hold {sold}")
    return problems


def main() -> int:
    from bench import dynamo_counts
    from local.dynamodb_local import DynamoDBLocal
    from local.moto_server import AtomicMotoServer

    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(ENVIRONMENT)
    dynamo_counts.install()  # before any botocore session exists
    install_cancellation_hook()
    moto = AtomicMotoServer()
    moto.start()
    local = DynamoDBLocal().start()
    try:
        os.environ["AWS_ENDPOINT_URL"] = moto.url
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = local.url
        sys.path.insert(0, str(ROOT / "layers" / "boxoffice"))
        import boto3

        from boxoffice.store import capacity as counters
        from boxoffice.store import vouchers as voucher_store
        from local.aws import create_table

        create_table(boto3.client("dynamodb"), ENVIRONMENT["TABLE_NAME"])
        boto3.client("events").create_event_bus(Name=ENVIRONMENT["EVENT_BUS_NAME"])
        setup()

        from boxoffice import orders

        general = orders.OrderRequest.model_validate(
            {"lines": [{"ticket_type_id": "general", "quantity": 1}]}
        )
        early = [orders.create(CONFERENCE, f"early-{i}", general).id for i in range(EARLY)]
        rush = run_race(f"last {UNITS} units, {EARLY} of them cancelled during the rush", None, early)
        sold, _ = live_units("general")
        counter = counters.get(CONFERENCE, counters.ticket_scope("general"))
        problems = report(rush, sold, UNITS, int(counter.held) if counter else None, "counter held")

        code = run_race(f"one {CODE_USES}-use code", "RUSH10", [])
        _, discounted = live_units("code-ticket")
        voucher = voucher_store.get_voucher(CONFERENCE, "RUSH10")
        used = int(voucher.times_used) if voucher else -1
        problems += report(code, discounted, CODE_USES, used, "code times_used")
    finally:
        local.stop()
        moto.stop()
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
