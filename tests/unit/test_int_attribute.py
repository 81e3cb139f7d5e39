"""store.IntAttribute: whole numbers (amounts in minor units, counts) stored as DynamoDB numbers, read as int."""

import pytest
from pynamodb.attributes import NumberAttribute

from boxoffice import store
from boxoffice.store import Item
from boxoffice.store.base import IntAttribute


class Tally(Item, discriminator="test_tally"):
    """A record with an amount, a counter and an optional number, as the models have them."""

    amount = IntAttribute()
    uses = IntAttribute(default=0)
    left = IntAttribute(null=True)


def saved_tally(amount: int, **fields: object) -> Tally:
    item = Tally("TEST#t1", "TALLY", amount=amount, **fields)
    store.save(item)
    return item


def read_tally() -> Tally:
    return Tally.get("TEST#t1", "TALLY", consistent_read=True)


@pytest.mark.parametrize("amount", [0, 1, -250, 999_999_999, 2**53 + 1])
def test_an_amount_round_trips_through_the_table_as_the_same_int(amount: int):
    saved_tally(amount)
    stored = read_tally()
    assert stored.amount == amount and type(stored.amount) is int
    assert type(stored.uses) is int and stored.uses == 0
    assert stored.left is None


def test_counter_updates_and_conditions_on_an_int_attribute_read_back_as_int():
    item = saved_tally(500)
    assert store.update_if(item, [Tally.uses.add(3), Tally.left.set(7)], Tally.amount >= 500)
    assert not store.update_if(item, [Tally.uses.add(1)], Tally.amount > 500)
    stored = read_tally()
    assert (stored.uses, stored.left) == (3, 7)
    assert type(stored.uses) is int and type(stored.left) is int


@pytest.mark.parametrize("value", [0, 7, -31, 10**15])
def test_it_stores_the_text_number_attribute_stored_so_existing_items_read_unchanged(value: int):
    legacy, typed = NumberAttribute(), IntAttribute()
    assert typed.serialize(value) == legacy.serialize(value)
    assert typed.deserialize(legacy.serialize(value)) == value
    assert legacy.deserialize(typed.serialize(value)) == value


@pytest.mark.parametrize("text", ["5", "5.0", "5E+2", "-0"])
def test_whole_numbers_in_any_notation_read_as_int(text: str):
    read = IntAttribute().deserialize(text)
    assert type(read) is int and read == int(float(text))


@pytest.mark.parametrize("value", [2.5, 2.0, True, "5", None])
def test_writing_anything_but_an_int_raises_type_error(value: object):
    with pytest.raises(TypeError, match="takes an int"):
        IntAttribute().serialize(value)


def test_a_record_with_a_fractional_amount_is_refused_and_nothing_is_written():
    with pytest.raises(TypeError, match="takes an int"):
        saved_tally(12.5)
    with pytest.raises(Tally.DoesNotExist):
        read_tally()


@pytest.mark.parametrize("text", ["2.5", "NaN", "Infinity", "abc"])
def test_reading_a_stored_fraction_or_non_number_raises_value_error(text: str):
    with pytest.raises(ValueError, match=r"whole number|not a number"):
        IntAttribute().deserialize(text)
