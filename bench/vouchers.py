"""``make bench-vouchers``: what issuing bulk voucher codes costs in DynamoDB requests, WCU and time.

For N in 25, 500 and 10,000 a comp purchase is created and approved, then fulfilled by staff
(``fulfill_comp``); for 500 a paid purchase is also moved to processing and fulfilled by its
``checkout.session.completed`` (``on_session_paid``). Only the fulfilment call is measured.

The issue's budget: at most N + 5 WCU and ceil(N/25) + 6 DynamoDB requests, and 10,000 codes inside
the fulfillment function's 120 s timeout. Requests and capacity are counted with botocore's event
hooks (bench/dynamo_counts.py). After each run, a BatchGet of the purchase's derived codes must
find exactly N vouchers.

Each engine runs in a fresh interpreter, because the package reads its endpoints once per process:
DynamoDB Local (AWS's engine: requests and billed capacity) and moto (requests only; moto reports a
flat 1.0 unit per call, whatever it writes). EventBridge is a moto server in both. Exits 1 when a
budget is exceeded or a run issued the wrong codes.
"""

import json
import math
import os
import resource
import secrets
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("dynamodb-local", "moto")
SIZES = (25, 500, 10_000)
PAID_SIZE = 500
TIMEOUT_SECONDS = 120  # template.yaml: FulfillmentFunction Timeout
LAMBDA_VCPU = 512 / 1769  # template.yaml Globals MemorySize 512; Lambda gives 1 vCPU at 1,769 MB
CONFERENCE = "bench"
TICKET_PRICE = 25_000
RESULT = "BENCH-VOUCHERS-RESULT "
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "TABLE_NAME": "boxoffice-bench",
    "EVENT_BUS_NAME": "boxoffice-bench",
    "SECRETS_PREFIX": "boxoffice/bench/",
    "STAGE": "bench",
    "POWERTOOLS_SERVICE_NAME": "boxoffice",
    "POWERTOOLS_METRICS_NAMESPACE": "BoxofficeBench",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "AWS_LAMBDA_FUNCTION_NAME": "boxoffice-bench",
}


def request_budget(n: int) -> int:
    return math.ceil(n / 25) + 6


def wcu_budget(n: int) -> int:
    return n + 5


# --- the app, set up and measured (inside one engine's interpreter) ------------------------------


def setup_conference() -> None:
    from boxoffice import conferences

    conferences.put_conference(
        CONFERENCE,
        conferences.ConferenceInput(name="Bench", currency="usd", is_active=True, max_bulk_quantity=10_000),
    )
    conferences.put_ticket_type(
        CONFERENCE,
        "general",
        conferences.TicketTypeInput(name="General", price=TICKET_PRICE, bulk_enabled=True),
    )
    conferences.put_sponsor(
        CONFERENCE,
        "acme",
        conferences.SponsorInput(name="ACME", slug="acme", contact_email="ops@acme.example"),
    )


def comp_purchase(conference_id: str, n: int) -> str:
    """A staff comp deal for ``n`` codes, approved: ready for ``fulfill_comp``."""
    from boxoffice import bulk_checkout, bulk_purchase_views

    created = bulk_checkout.create(
        conference_id,
        bulk_purchase_views.BulkPurchaseRequest(
            quantity=n,
            sponsor_id="acme",
            ticket_type_id="general",
            unit_price=0,
            voucher_config=bulk_purchase_views.VoucherConfig(voucher_type="comp", max_uses=1),
        ),
        requested_by="staff-bench",
        as_sponsor=None,
    )
    bulk_checkout.approve(conference_id, created.id, staff_user="staff-bench")
    return created.id


def paid_purchase(conference_id: str, n: int) -> tuple[str, dict[str, Any]]:
    """A sponsor's paid purchase moved to processing as checkout would, and its paid session."""
    from boxoffice import bulk_checkout, bulk_purchase_views, store
    from boxoffice.store import bulk_purchases as records

    created = bulk_checkout.create(
        conference_id,
        bulk_purchase_views.BulkPurchaseRequest(quantity=n, ticket_type_id="general"),
        requested_by="sponsor-bench",
        as_sponsor="acme",
    )
    purchase = records.get(conference_id, created.id)
    assert purchase is not None
    store.transition(purchase, records.PROCESSING, records.MACHINE)
    # A real Checkout Session id and URL are about this long; the URL lives in the purchase's
    # details item, which fulfilment never touches.
    session_id = "cs_test_a1" + "".join(
        secrets.choice(string.ascii_letters + string.digits) for _ in range(56)
    )
    fragment = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(180))
    records.update_guarded(
        purchase,
        [
            records.BulkPurchase.checkout_session_id.set(session_id),
            records.BulkPurchase.checkout_expires_at.set(store.now().replace(microsecond=0)),
        ],
        records.BulkPurchase.status == records.PROCESSING,
    )
    records.set_checkout_url(
        conference_id, created.id, f"https://checkout.stripe.com/c/pay/{session_id}#{fragment}"
    )
    session = {
        "id": session_id,
        "object": "checkout.session",
        "payment_status": "paid",
        "amount_total": created.total_amount,
        "currency": "usd",
        "payment_intent": f"pi_{secrets.token_hex(12)}",
        "metadata": {"bulk_purchase_id": created.id, "conference_id": conference_id},
    }
    return created.id, session


def verify(conference_id: str, purchase_id: str, n: int, payment_intent: str | None) -> list[str]:
    """What is wrong with the fulfilled purchase: exactly ``n`` vouchers for its derived codes, paid."""
    from boxoffice import vouchers
    from boxoffice.store import bulk_purchases as records
    from boxoffice.store import vouchers as voucher_store

    problems = []
    purchase = records.get(conference_id, purchase_id)
    assert purchase is not None
    codes = vouchers.codes_of(purchase)
    found = voucher_store.get_vouchers(conference_id, codes)
    if len(set(codes)) != n or len(found) != n:
        problems.append(f"{len(found)} vouchers for {len(set(codes))} distinct codes, expected {n}")
    if any(v.bulk_purchase_id != purchase_id for v in found.values()):
        problems.append("a voucher names another purchase")
    if purchase.status != records.PAID or int(purchase.vouchers_generated) != n:
        problems.append(f"purchase is {purchase.status} with {purchase.vouchers_generated} generated")
    if not purchase.fulfilled_announced:
        problems.append("bulk_purchase.fulfilled was not announced")
    if payment_intent is not None:
        link = records.find_by_payment_intent(conference_id, payment_intent)
        if link is None or link.record_id != purchase_id:
            problems.append("the payment intent does not point at the purchase")
    return problems


def measure_case(engine: str, path: str, n: int) -> dict[str, Any]:
    from bench import dynamo_counts
    from boxoffice import bulk_purchases, vouchers
    from boxoffice.store import bulk_purchases as records
    from boxoffice.store import vouchers as voucher_store

    session = None
    if path == "comp":
        purchase_id = comp_purchase(CONFERENCE, n)
    else:
        purchase_id, session = paid_purchase(CONFERENCE, n)
    with dynamo_counts.measure() as tally:
        started, cpu_started = time.perf_counter(), time.process_time()
        if session is None:
            created = bulk_purchases.fulfill_comp(CONFERENCE, purchase_id).vouchers_created
        else:
            bulk_purchases.on_session_paid(CONFERENCE, session)
            created = None
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    problems = verify(CONFERENCE, purchase_id, n, session and session["payment_intent"])
    if created is not None and created != n:
        problems.append(f"fulfill_comp reported {created} vouchers created")
    purchase = records.get(CONFERENCE, purchase_id)
    assert purchase is not None
    voucher = voucher_store.get_voucher(CONFERENCE, vouchers.codes_of(purchase)[0])
    return {
        "engine": engine,
        "path": path,
        "n": n,
        "requests": tally.requests,
        "retries": tally.attempts - tally.requests,
        "wcu": tally.wcu if engine == "dynamodb-local" else None,
        "index_wcu": tally.index_units,
        "rcu": tally.rcu,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "breakdown": tally.breakdown(),
        "unreported": dict(tally.unreported),
        "problems": problems,
        "purchase_bytes": dynamo_counts.item_bytes(purchase.serialize()),
        "voucher_bytes": dynamo_counts.item_bytes(voucher.serialize()) if voucher else None,
    }


def run_engine(engine: str) -> list[dict[str, Any]]:
    """Start the engine, point the package at it, and measure every case."""
    from bench import dynamo_counts
    from local.dynamodb_local import DynamoDBLocal
    from local.moto_server import AtomicMotoServer

    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(ENVIRONMENT)
    dynamo_counts.install()  # before any botocore session exists
    moto = AtomicMotoServer()
    moto.start()
    local = None
    try:
        if engine == "dynamodb-local":
            local = DynamoDBLocal().start()
        os.environ["AWS_ENDPOINT_URL"] = moto.url
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = local.url if local else moto.url
        sys.path.insert(0, str(ROOT / "layers" / "boxoffice"))
        import boto3

        from local.aws import create_table

        create_table(boto3.client("dynamodb"), ENVIRONMENT["TABLE_NAME"])
        boto3.client("events").create_event_bus(Name=ENVIRONMENT["EVENT_BUS_NAME"])
        setup_conference()
        rows = [measure_case(engine, "comp", n) for n in SIZES]
        rows.append(measure_case(engine, "paid", PAID_SIZE))
        for row in rows:
            row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return rows
    finally:
        if local is not None:
            local.stop()
        moto.stop()


# --- the report (the parent interpreter) -----------------------------------------------------------


def verdict(row: dict[str, Any]) -> list[str]:
    """The budgets the row exceeds, or its wrong codes; empty when it passes."""
    n = row["n"]
    failures = list(row["problems"])
    if row["requests"] == 0:
        failures.append("no DynamoDB request was counted: the hooks are not installed")
    if row["requests"] > request_budget(n):
        failures.append(f"{row['requests']} requests > {request_budget(n)}")
    if row["wcu"] is not None and row["wcu"] > wcu_budget(n):
        failures.append(f"{row['wcu']:g} WCU > {wcu_budget(n)}")
    if row["seconds"] > TIMEOUT_SECONDS:
        failures.append(f"{row['seconds']:.1f} s > the {TIMEOUT_SECONDS} s timeout")
    return failures


def report(rows: list[dict[str, Any]]) -> bool:
    header = f"{'engine':<15} {'path':<5} {'N':>6} {'requests':>8} {'WCU':>7} {'budget req':>10} {'budget WCU':>10} {'seconds':>8}  result"
    print(header)
    print("-" * len(header))
    ok = True
    for row in rows:
        failures = verdict(row)
        ok = ok and not failures
        wcu = "n/a*" if row["wcu"] is None else f"{row['wcu']:g}"
        print(
            f"{row['engine']:<15} {row['path']:<5} {row['n']:>6} {row['requests']:>8} {wcu:>7} "
            f"{request_budget(row['n']):>10} {wcu_budget(row['n']):>10} {row['seconds']:>8.2f}  "
            + ("PASS" if not failures else "FAIL: " + "; ".join(failures))
        )
    print("\nper request type (capacity as the engine reports it):")
    for row in rows:
        notes = []
        if row["retries"]:
            notes.append(f"{row['retries']} HTTP retries")
        if row["index_wcu"]:
            notes.append(f"{row['index_wcu']:g} WCU of index writes")
        if row["unreported"]:
            notes.append(f"no capacity reported for {row['unreported']}")
        print(
            f"  {row['engine']:<15} {row['path']:<5} {row['n']:>6}  {row['breakdown']}"
            + (f"  [{'; '.join(notes)}]" if notes else "")
        )
    sizes = {(r["engine"], r["path"]): r for r in rows}
    print("\nitem sizes (billed per started 1 KB written):")
    for (engine, path), row in sizes.items():
        print(
            f"  {engine:<15} {path:<5} purchase ≈ {row['purchase_bytes']} B, voucher ≈ {row['voucher_bytes']} B"
        )
    for row in rows:
        if row["engine"] == "dynamodb-local" and row["n"] == max(SIZES):
            print(
                f"\n{row['n']:,} codes: {row['seconds']:.1f} s wall, {row['cpu_seconds']:.1f} s of client CPU; at "
                f"{LAMBDA_VCPU:.2f} vCPU (512 MB) the CPU alone is ≈ {row['cpu_seconds'] / LAMBDA_VCPU:.0f} s "
                f"of the {TIMEOUT_SECONDS} s timeout"
            )
    for engine in dict.fromkeys(r["engine"] for r in rows):
        rss = max(r["peak_rss_mb"] for r in rows if r["engine"] == engine)
        print(f"  {engine:<15} peak RSS of the process (incl. in-process moto) {rss:.0f} MB")
    print(
        "\n* moto reports a flat 1.0 capacity unit per call whatever it writes; WCU is judged on DynamoDB Local."
    )
    return ok


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--engine":
        print(RESULT + json.dumps(run_engine(argv[1])), flush=True)
        return 0
    rows: list[dict[str, Any]] = []
    for engine in ENGINES:
        child = subprocess.run(
            [sys.executable, "-m", "bench.vouchers", "--engine", engine],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        results = [line for line in child.stdout.splitlines() if line.startswith(RESULT)]
        if child.returncode != 0 or not results:
            print(child.stdout[-4000:], file=sys.stderr)
            print(f"FAILED: the {engine} run exited {child.returncode}", file=sys.stderr)
            return 1
        rows.extend(json.loads(results[-1][len(RESULT) :]))
    if not report(rows):
        print("FAILED: a voucher issuance budget was exceeded or the codes were wrong", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
