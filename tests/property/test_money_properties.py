"""Properties of avocette.money over many amounts."""

from __future__ import annotations

from avocette import money
from hypothesis import given
from hypothesis import strategies as st

CENTS = st.integers(min_value=-(10**12), max_value=10**12)


@given(CENTS)
def test_text_round_trips(cents: int) -> None:
    assert money.parse_cents(money.cents_to_text(cents)) == cents


@given(CENTS)
def test_decimal_round_trips(cents: int) -> None:
    assert money.decimal_to_cents(money.cents_to_decimal(cents)) == cents


@given(st.integers(min_value=0, max_value=10**10))
def test_dollar_form_with_grouping_reads_the_same(cents: int) -> None:
    units, fraction = divmod(cents, 100)
    assert money.parse_cents(f"${units:,}.{fraction:02d}") == cents


@given(CENTS)
def test_text_has_exactly_two_decimals(cents: int) -> None:
    text = money.cents_to_text(cents)
    assert len(text.split(".")[1]) == 2
