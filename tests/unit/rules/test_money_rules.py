"""Money in integer minor units, as Stripe counts it: decimals and the grid per currency, formatting.

Three-decimal currencies are charged in multiples of 10 minor units; zero-decimal ones in whole
units; every other supported currency has two decimals. ``format_amount`` is for messages only,
and says exactly the amount it was given.
"""

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boxoffice import money
from boxoffice.errors import ValidationFailed
from tests.support.properties import rules

CURRENCIES = st.sampled_from(sorted(money.SUPPORTED))
AMOUNTS = st.integers(-money.MAX_AMOUNT, money.MAX_AMOUNT)


def test_every_special_currency_is_one_stripe_charges_and_none_is_both():
    assert money.ZERO_DECIMAL <= money.SUPPORTED
    assert money.THREE_DECIMAL <= money.SUPPORTED
    assert not money.ZERO_DECIMAL & money.THREE_DECIMAL


@rules
@given(CURRENCIES)
def test_a_currency_has_the_decimals_and_the_grid_of_its_kind(currency):
    if currency in money.THREE_DECIMAL:
        assert (money.decimals(currency), money.grid(currency)) == (3, 10)
    elif currency in money.ZERO_DECIMAL:
        assert (money.decimals(currency), money.grid(currency)) == (0, 1)
    else:
        assert (money.decimals(currency), money.grid(currency)) == (2, 1)


@rules
@given(AMOUNTS, CURRENCIES)
def test_an_amount_is_on_the_grid_exactly_when_it_is_a_multiple_of_the_grid(amount, currency):
    assert money.on_grid(amount, currency) == (amount % money.grid(currency) == 0)


@rules
@given(AMOUNTS, CURRENCIES)
def test_an_amount_off_the_grid_is_refused_naming_the_field_and_one_on_it_passes(amount, currency):
    loc = ["body", "amount"]
    if money.on_grid(amount, currency):
        money.require_on_grid(amount, currency, loc)
        return
    with pytest.raises(ValidationFailed) as refused:
        money.require_on_grid(amount, currency, loc)
    assert refused.value.details[0]["loc"] == loc
    assert str(money.grid(currency)) in str(refused.value)


@rules
@given(AMOUNTS, CURRENCIES)
def test_a_formatted_amount_reads_back_as_the_same_amount_in_its_currency(amount, currency):
    text = money.format_amount(amount, currency)
    number, code = text.split(" ")
    assert code == currency.upper()
    places = money.decimals(currency)
    assert re.fullmatch(rf"-?\d+\.\d{{{places}}}" if places else r"-?\d+", number), text
    assert Decimal(number).scaleb(places) == amount


def test_three_decimal_amounts_end_in_zero_and_format_with_three_places():
    assert money.on_grid(1230, "kwd") and not money.on_grid(1234, "kwd")
    assert money.format_amount(1230, "kwd") == "1.230 KWD"
    assert money.format_amount(1500, "jpy") == "1500 JPY"
    assert money.format_amount(-1250, "usd") == "-12.50 USD"
