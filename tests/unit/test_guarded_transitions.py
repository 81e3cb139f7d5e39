"""The one way to change state: a conditional write on the allowed from-states plus the version."""

import pytest
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError

from boxoffice import store
from boxoffice.errors import InvalidState
from boxoffice.store import Item, StateMachine, TransitionRejected, transaction, transition, transition_in

MACHINE = StateMachine.of(
    {
        "pending": {"approved", "processing", "failed"},
        "approved": {"paid"},
        "processing": {"paid", "failed"},
        "failed": {"paid"},
        "paid": {"refunded"},
    }
)


class Purchase(Item, discriminator="test_purchase"):
    """A record with a lifecycle, standing in for the domain records later issues add."""

    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)


def new_purchase(pid: str = "p1", status: str = "pending") -> Purchase:
    item = Purchase(f"TEST#{pid}", "PURCHASE", status=status)
    store.save(item)
    return item


def test_state_machine_sources_are_the_states_that_may_reach_a_target():
    assert MACHINE.sources("paid") == {"approved", "processing", "failed"}
    assert MACHINE.sources("approved") == {"pending"}
    assert MACHINE.allows("pending", "failed")
    assert not MACHINE.allows("paid", "pending")


def test_allowed_transition_applies_its_actions_and_bumps_the_version():
    item = new_purchase()
    transition(item, "processing", MACHINE, [Purchase.attempts.add(1)])
    stored = Purchase.get("TEST#p1", "PURCHASE", consistent_read=True)
    assert (stored.status, stored.attempts, stored.version) == ("processing", 1, 2)


def test_forbidden_transition_is_rejected_and_changes_nothing():
    item = new_purchase(status="paid")
    with pytest.raises(TransitionRejected) as rejected:
        transition(item, "failed", MACHINE)
    assert rejected.value.status == 409
    assert rejected.value.current.status == "paid"
    assert Purchase.get("TEST#p1", "PURCHASE").version == 1


def test_a_stale_copy_cannot_overwrite_a_newer_state():
    fresh = new_purchase()
    stale = Purchase.get("TEST#p1", "PURCHASE", consistent_read=True)
    transition(fresh, "processing", MACHINE)
    transition(fresh, "failed", MACHINE)
    with pytest.raises(TransitionRejected):
        transition(stale, "processing", MACHINE)
    assert Purchase.get("TEST#p1", "PURCHASE", consistent_read=True).status == "failed"


def test_a_target_no_state_can_reach_is_a_programming_error():
    with pytest.raises(ValueError, match="no state may move"):
        transition(new_purchase(), "pending", MACHINE)


def test_transition_in_a_transaction_commits_with_the_other_writes_or_not_at_all():
    a, b = new_purchase("a"), new_purchase("b", status="paid")

    def move_both() -> None:
        with transaction() as tx:
            transition_in(tx, a, "processing", MACHINE)
            transition_in(tx, b, "failed", MACHINE)  # paid may not fail: the whole transaction is cancelled

    with pytest.raises(TransactWriteError) as failed:
        move_both()
    assert store.is_condition_failure(failed.value)
    assert Purchase.get("TEST#a", "PURCHASE", consistent_read=True).status == "pending"

    a = Purchase.get("TEST#a", "PURCHASE", consistent_read=True)
    b = Purchase.get("TEST#b", "PURCHASE", consistent_read=True)
    with transaction() as tx:
        transition_in(tx, a, "processing", MACHINE)
        transition_in(tx, b, "refunded", MACHINE)
    assert Purchase.get("TEST#a", "PURCHASE", consistent_read=True).status == "processing"
    assert Purchase.get("TEST#b", "PURCHASE", consistent_read=True).status == "refunded"


def test_saving_a_record_twice_from_the_same_read_is_refused():
    new_purchase()
    one = Purchase.get("TEST#p1", "PURCHASE", consistent_read=True)
    two = Purchase.get("TEST#p1", "PURCHASE", consistent_read=True)
    one.attempts = 5
    store.save(one)
    two.attempts = 9
    with pytest.raises(InvalidState):
        store.save(two)
    assert Purchase.get("TEST#p1", "PURCHASE", consistent_read=True).attempts == 5


def test_creating_a_record_that_exists_is_refused():
    new_purchase()
    with pytest.raises(InvalidState):
        new_purchase()
