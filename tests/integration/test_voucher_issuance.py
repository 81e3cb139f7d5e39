"""Bulk voucher issuance on DynamoDB Local: the request and capacity budget, racing triggers, unique codes.

The budget (the issue): fulfilling N codes takes at most ceil(N/25) + 6 DynamoDB requests and
N + 5 WCU. Requests and capacity are counted with the bench's botocore hooks. DynamoDB goes to
DynamoDB Local (the lane's conftest); the ``bulk_purchase.fulfilled`` publish goes to the lane's moto
server (its ``aws`` fixture).
"""

import math
import threading

import pytest

from bench import dynamo_counts
from bench.vouchers import (
    CONFERENCE,
    comp_purchase,
    paid_purchase,
    request_budget,
    setup_conference,
    verify,
    wcu_budget,
)

dynamo_counts.install()  # at collection, before any test makes a DynamoDB client

N = 500


@pytest.fixture
def conference(aws) -> str:
    """The bench's conference (bulk-enabled ticket ``general``, sponsor ``acme``) in a fresh table."""
    setup_conference()
    return CONFERENCE


def _fulfil(path: str, conference_id: str, n: int) -> tuple[str, str | None, dynamo_counts.Tally]:
    """Create a purchase of ``n`` codes for ``path``, then fulfil it while counting."""
    from boxoffice import bulk_purchases

    session = None
    if path == "comp":
        purchase_id = comp_purchase(conference_id, n)
    else:
        purchase_id, session = paid_purchase(conference_id, n)
    with dynamo_counts.measure() as tally:
        if session is None:
            assert bulk_purchases.fulfill_comp(conference_id, purchase_id).vouchers_created == n
        else:
            bulk_purchases.on_session_paid(conference_id, session)
    return purchase_id, session and session["payment_intent"], tally


@pytest.mark.parametrize("path", ["comp", "paid"])
def test_fulfilling_500_codes_stays_within_the_request_and_capacity_budget(conference, path):
    purchase_id, payment_intent, tally = _fulfil(path, conference, N)

    assert verify(conference, purchase_id, N, payment_intent) == []
    assert tally.calls["BatchWriteItem"] == math.ceil(N / 25), tally.breakdown()
    assert tally.attempts == tally.requests, "botocore retried a request"
    assert tally.index_units == 0, "a voucher or purchase write also wrote an index"
    assert tally.requests <= request_budget(N), tally.breakdown()
    assert tally.wcu <= wcu_budget(N), tally.breakdown()


@pytest.mark.parametrize("path", ["comp", "paid"])
def test_concurrent_fulfilment_triggers_issue_exactly_quantity_codes_on_dynamodb_local(conference, path):
    from boxoffice import bulk_purchase_views, bulk_purchases

    if path == "comp":
        purchase_id, session = comp_purchase(conference, N), None
    else:
        purchase_id, session = paid_purchase(conference, N)
    barrier = threading.Barrier(10)
    created: list[int] = []
    busy: list[Exception] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def trigger() -> None:
        barrier.wait()
        try:
            if session is None:
                count = bulk_purchases.fulfill_comp(conference, purchase_id).vouchers_created
            else:
                bulk_purchases.on_session_paid(conference, session)
                count = 0
            with lock:
                created.append(count)
        except bulk_purchase_views.FulfillmentBusy as exc:
            with lock:
                busy.append(exc)
        except BaseException as exc:  # reported by the assertion below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=trigger) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(created) + len(busy) == 10 and created, "no trigger finished the fulfilment"
    if session is None:
        assert sorted(created)[-1] == N and sum(created) == N, created
    assert verify(conference, purchase_id, N, session and session["payment_intent"]) == []
    scan = ddb_items_for(purchase_id)
    assert scan == N, "the table holds other vouchers of this purchase than its derived codes"


def ddb_items_for(purchase_id: str) -> int:
    """Every voucher item in the table that names the purchase, found by a scan (no derivation)."""
    from boxoffice.store import vouchers as voucher_store

    return sum(1 for _ in voucher_store.Voucher.scan(voucher_store.Voucher.bulk_purchase_id == purchase_id))


def test_codes_of_two_purchases_never_collide(conference, monkeypatch):
    from boxoffice import bulk_purchases, store, voucher_codes, vouchers
    from boxoffice.store import bulk_purchases as records

    first_id, second_id = comp_purchase(conference, N), comp_purchase(conference, N)
    for purchase_id in (first_id, second_id):
        bulk_purchases.fulfill_comp(conference, purchase_id)
        assert verify(conference, purchase_id, N, None) == []
    first, second = records.get(conference, first_id), records.get(conference, second_id)
    assert first is not None and second is not None
    assert first.code_segment != second.code_segment
    first_codes, second_codes = set(vouchers.codes_of(first)), set(vouchers.codes_of(second))
    assert len(first_codes) == len(second_codes) == N
    assert not first_codes & second_codes

    # The store refuses a second purchase of the conference holding a taken segment, atomically.
    at = store.now()
    forced = records.BulkPurchase(
        *records.BulkPurchase.key(conference, "bp_forced"),
        conference_id=conference,
        purchase_id="bp_forced",
        quantity=N,
        unit_price=0,
        total_amount=0,
        currency="usd",
        status=records.PENDING,
        voucher_config=first.voucher_config,
        code_prefix=first.code_prefix,
        code_segment=first.code_segment,
        code_key=voucher_codes.new_key(),
        requested_by="staff-test",
        created_at=at,
        updated_at=at,
    )
    with pytest.raises(records.SegmentTaken):
        records.create(forced, records.PurchaseDetails(*records.PurchaseDetails.key(conference, "bp_forced")))
    assert records.get(conference, "bp_forced") is None
    entries, _ = records.list_entries(conference, None, limit=100, cursor=None)
    assert {e.purchase_id for e in entries} == {first_id, second_id}

    # The service draws again when the segment it drew is taken.
    draws = iter([first.code_segment, second.code_segment, "ZZZZ"])
    monkeypatch.setattr(voucher_codes, "new_segment", lambda: next(draws))
    third = records.get(conference, comp_purchase(conference, 25))
    assert third is not None and third.code_segment == "ZZZZ"
