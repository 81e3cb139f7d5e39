"""What DynamoDB itself enforces, checked on AWS's own engine rather than moto."""

import threading

import pytest
from botocore.exceptions import ClientError
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError

from boxoffice import store
from boxoffice.errors import InvalidState
from boxoffice.store import Item, StateMachine, TransitionRejected, transaction, transition, transition_in

MACHINE = StateMachine.of({"pending": {"processing", "failed"}, "processing": {"paid", "failed"}})


class Job(Item, discriminator="it_job"):
    status = UnicodeAttribute()
    runs = NumberAttribute(default=0)


def test_dynamodb_refuses_a_26_item_batch_write(ddb):
    items = [{"PutRequest": {"Item": {"PK": {"S": f"B#{i}"}, "SK": {"S": "X"}}}} for i in range(26)]
    with pytest.raises(ClientError) as refused:
        ddb.batch_write_item(RequestItems={"boxoffice-test": items})
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    ok = ddb.batch_write_item(RequestItems={"boxoffice-test": items[:25]})
    assert ok["UnprocessedItems"] == {}


def test_the_table_has_the_templates_indexes(ddb):
    table = ddb.describe_table(TableName="boxoffice-test")["Table"]
    assert {k["AttributeName"] for k in table["KeySchema"]} == {"PK", "SK"}
    assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2"}


def test_twenty_racing_transitions_to_either_target_let_exactly_one_win(ddb):
    store.save(Job("JOB#1", "JOB", status="pending"))
    copies = [Job.get("JOB#1", "JOB", consistent_read=True) for _ in range(20)]
    barrier = threading.Barrier(len(copies))
    won: list[str] = []
    lost: list[str] = []

    def race(copy: Job, target: str) -> None:
        barrier.wait()
        try:
            transition(copy, target, MACHINE, [Job.runs.add(1)])
            won.append(target)
        except TransitionRejected:
            lost.append(target)

    threads = [
        threading.Thread(target=race, args=(c, "processing" if i % 2 else "failed"))
        for i, c in enumerate(copies)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 19
    stored = Job.get("JOB#1", "JOB", consistent_read=True)
    assert (stored.status, stored.runs, stored.version) == (won[0], 1, 2)


def test_a_forbidden_move_in_a_transaction_cancels_every_write(ddb):
    a = store.save(Job("JOB#a", "JOB", status="pending"))
    b = store.save(Job("JOB#b", "JOB", status="paid"))

    def move_both() -> None:
        with transaction() as tx:
            transition_in(tx, a, "processing", MACHINE)
            transition_in(tx, b, "failed", MACHINE)

    with pytest.raises(TransactWriteError) as cancelled:
        move_both()
    assert store.is_condition_failure(cancelled.value)
    assert Job.get("JOB#a", "JOB", consistent_read=True).status == "pending"


def test_a_retried_transaction_with_the_same_token_applies_once(ddb):
    """DynamoDB honours ClientRequestToken (moto ignores it): a retried commit is a no-op."""
    store.save(Job("JOB#t", "JOB", status="pending"))
    first = Job.get("JOB#t", "JOB", consistent_read=True)
    with transaction(client_request_token="retry-token-1") as tx:
        tx.update(first, actions=[Job.runs.add(1)], add_version_condition=False)
    again = Job.get("JOB#t", "JOB", consistent_read=True)
    with transaction(client_request_token="retry-token-1") as tx:
        tx.update(again, actions=[Job.runs.add(1)], add_version_condition=False)
    assert Job.get("JOB#t", "JOB", consistent_read=True).runs == 1


def test_conference_store_round_trips_on_dynamodb_local(ddb):
    conf = store.Conference.new("it-conf")
    conf.name, conf.currency = "IT", "eur"
    conf.checkout_expiry_minutes, conf.order_hold_minutes, conf.max_bulk_quantity = 60, 60, 500
    conf.set_active(True)
    store.save_conference(conf)
    ticket = store.TicketType.new("it-conf", "ga")
    ticket.name, ticket.price = "GA", 1000
    store.put_catalog_entry(ticket)
    kinds = sorted(type(i).__name__ for i in store.catalog_items("it-conf"))
    assert kinds == ["Conference", "TicketType"]
    assert store.list_active_conference_ids() == ["it-conf"]
    stale = store.get_conference("it-conf")
    conf.name = "Renamed"
    store.save_conference(conf)
    stale.name = "Lost update"
    with pytest.raises(InvalidState):
        store.save_conference(stale)
