"""Voucher redemption races on AWS's own engine, where transactions really meet each other.

moto applies one request at a time; DynamoDB Local cancels transactions that touch the same item
concurrently (TransactionConflict), which the order service must retry rather than answer 500.
"""

import threading

from boxoffice import orders, store
from boxoffice.errors import ValidationFailed
from boxoffice.store.vouchers import Voucher


def seed(ddb) -> None:
    conference = store.Conference.new("it-orders")
    conference.name, conference.currency = "IT", "usd"
    conference.checkout_expiry_minutes, conference.order_hold_minutes, conference.max_bulk_quantity = (
        60,
        60,
        500,
    )
    conference.set_active(True)
    store.save_conference(conference)
    ticket = store.TicketType.new("it-orders", "ga")
    ticket.name, ticket.price = "GA", 10_000
    store.put_catalog_entry(ticket)
    Voucher(
        *Voucher.key("it-orders", "RACE10"),
        conference_id="it-orders",
        code="RACE10",
        voucher_type="percentage",
        discount_value=10,
        max_uses=10,
        times_used=0,
        ticket_type_ids=[],
        addon_ids=[],
        is_active=True,
    ).save()


def test_thirty_concurrent_orders_on_a_ten_use_voucher_redeem_exactly_ten(ddb):
    seed(ddb)
    request = orders.OrderRequest(
        lines=[orders.OrderLineInput(ticket_type_id="ga", quantity=1)], voucher_code="race10"
    )
    barrier = threading.Barrier(30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def order(n: int) -> None:
        barrier.wait()
        try:
            orders.create("it-orders", f"user-{n}", request)
            result = "ok"
        except ValidationFailed as exc:
            result = exc.details[0].get("reason", "invalid")
        except Exception as exc:
            result = f"error: {type(exc).__name__}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=order, args=(n,)) for n in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 10, outcomes
    assert set(outcomes) == {"ok", "used_up"}, outcomes
    assert Voucher.get(*Voucher.key("it-orders", "RACE10"), consistent_read=True).times_used == 10
