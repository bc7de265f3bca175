"""The balance refresh's pure parts: what is due on each invoice (§5's payable rule, without our holds),
the credential checks of each scheme, and the settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta

import pytest
from avocette.domain.billing import Credit, Invoice
from avocette.domain.refresh import account_balances
from avocette.errors import ConfigurationError
from avocette.security import (
    basic_credential_matches,
    refresh_key_matches,
    refresh_signature,
    refresh_signature_matches,
)
from avocette.settings.refresh import RefreshCredential, RefreshSettings
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 11, 25, 19, 11, tzinfo=UTC)
AS_OF = datetime(2026, 11, 1, 6, tzinfo=UTC)
SECRET = b"s" * 40


def bill(number: str, cents: int, **fields: object) -> Invoice:
    values: dict[str, object] = {
        "account_number": "A-1",
        "invoice_number": number,
        "due_date": date(2026, 12, 15),
        "billed_cents": cents,
        "billed_as_of": AS_OF,
        **fields,
    }
    return Invoice(**values)  # type: ignore[arg-type]


def credit(cents: int, **fields: object) -> Credit:
    return Credit(**{"payment_id": "p", "cents": cents, "approved_at": AS_OF, **fields})  # type: ignore[arg-type]


# ---- what is due -----------------------------------------------------------------------------------


def test_what_is_due_is_the_payable_rule_and_holds_do_not_count() -> None:
    invoices = [
        bill("I-3", 5000, due_date=date(2026, 12, 20), credits={"a": credit(1000)}),
        bill("I-1", 8420, open_payment_id="p-9", open_until=NOW + timedelta(minutes=20)),
        bill("I-2", 4000, credits={"b": credit(4000), "c": credit(1500, reflected_as_of=AS_OF)}),
        bill("I-0", 3000, closed_at=AS_OF),
    ]
    balances = account_balances("A-1", invoices, NOW)
    assert [(row.invoice_number, row.balance_due_cents) for row in balances.invoices] == [
        ("I-1", 8420),  # held by a session of ours: still due
        ("I-2", 0),  # paid by a credit the bill does not show yet (the reflected one is in the bill)
        ("I-3", 4000),
    ]
    assert balances.total_due_cents == 12420 and balances.as_of == NOW
    assert [row.paid_in_full for row in balances.invoices] == [False, True, False]


def test_a_reversal_makes_an_invoice_due_again() -> None:
    paid = bill("I-1", 2000, credits={"a": credit(2000, reversed_cents=2000), "r": credit(-2000, kind="ACH_RETURN")})
    assert account_balances("A-1", [paid], NOW).invoices[0].balance_due_cents == 2000


def test_a_credit_invoice_is_due_0_its_credit_lowers_the_oldest_bills_and_no_minimum_exceeds_what_is_due() -> None:
    invoices = [
        bill("C-1", -2500),
        bill("I-1", 4000, minimum_amount_due_cents=1000, credits={"a": credit(3500)}),
        bill("I-2", 4000, minimum_amount_due_cents=1000, allow_partial_payments=True),
    ]
    balances = {row.invoice_number: row for row in account_balances("A-1", invoices, NOW).invoices}
    assert balances["C-1"].balance_due_cents == 0 and balances["C-1"].billed_cents == -2500
    # The credit of 25.00 pays what I-1 has left (5.00) and 20.00 of I-2, as GET /accounts and a payment do.
    assert balances["I-1"].balance_due_cents == 0 and balances["I-1"].minimum_amount_due_cents == 0
    assert balances["I-2"].balance_due_cents == 2000
    assert balances["I-2"].minimum_amount_due_cents == 1000 and balances["I-2"].allow_partial_payments
    assert account_balances("A-1", invoices, NOW).total_due_cents == 500 + 4000 - 2500


@given(
    st.lists(
        st.tuples(st.integers(-10_000, 100_000), st.lists(st.integers(1, 50_000), max_size=3), st.booleans()),
        max_size=5,
    )
)
def test_nothing_is_ever_due_below_zero_nor_more_than_billed(rows: list[tuple[int, list[int], bool]]) -> None:
    invoices = [
        bill(f"I-{index}", billed, credits={f"c{n}": credit(cents) for n, cents in enumerate(paid)},
             open_payment_id="p" if held else None, open_until=NOW + timedelta(minutes=5) if held else None)
        for index, (billed, paid, held) in enumerate(rows)
    ]  # fmt: skip
    balances = account_balances("A-1", invoices, NOW)
    own = [max(0, invoice.billed_cents - sum(c.cents for c in invoice.credits.values())) for invoice in invoices]
    credit_balance = sum(-invoice.billed_cents for invoice in invoices if invoice.billed_cents < 0)
    for row, owed in zip(balances.invoices, own, strict=True):
        assert 0 <= row.balance_due_cents <= owed  # the account's credit only ever lowers a bill
    assert sum(row.balance_due_cents for row in balances.invoices) == balances.total_due_cents
    assert balances.total_due_cents == max(0, sum(own) - credit_balance)  # the credit is used, never twice


# ---- the credential -----------------------------------------------------------------------------------


def basic(pair: bytes) -> str:
    return "Basic " + base64.b64encode(pair).decode()


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (basic(b"invoicecloud:" + SECRET), True),
        ("basic " + base64.b64encode(b"invoicecloud:" + SECRET).decode(), True),  # the scheme has no case
        (basic(b"invoicecloud:" + SECRET + b"x"), False),
        (basic(b"invoicecloud:" + SECRET[:-1]), False),
        (basic(b"InvoiceCloud:" + SECRET), False),
        (basic(b"invoicecloud" + SECRET), False),
        (basic(b":" + SECRET), False),
        (basic(SECRET), False),
        ("Bearer " + SECRET.decode(), False),
        ("Basic", False),
        ("Basic ====", False),
        ("Basic " + "A" * 2000, False),
        (None, False),
    ],
)
def test_basic_needs_our_username_and_secret(header: str | None, accepted: bool) -> None:
    assert basic_credential_matches(header, "invoicecloud", (SECRET,)) is accepted


def test_basic_and_the_header_accept_the_previous_secret_during_a_rotation() -> None:
    old = b"o" * 40
    assert basic_credential_matches(basic(b"invoicecloud:" + old), "invoicecloud", (SECRET, old))
    assert refresh_key_matches(old.decode(), (SECRET, old))
    assert not refresh_key_matches(old.decode(), (SECRET,))
    assert refresh_key_matches(f"  {SECRET.decode()} ", (SECRET,))  # the header's own spaces are not part
    assert not refresh_key_matches("", (SECRET,)) and not refresh_key_matches(None, (SECRET,))


def test_the_signature_is_the_documented_hmac() -> None:
    """docs/refresh.md: base64url(HMAC-SHA256(secret, "invoicecloud-refresh\\n" + account + "\\n" +
    timestamp + "\\n" + nonce)), no padding; Invoice Cloud must be able to write it from the text alone."""
    message = b"invoicecloud-refresh\nA-1\n1795633860\nnonce-0123456789ab"
    expected = base64.urlsafe_b64encode(hmac.new(SECRET, message, hashlib.sha256).digest()).rstrip(b"=").decode()
    assert refresh_signature(SECRET, "A-1", "1795633860", "nonce-0123456789ab") == expected
    signed = {"account_number": "A-1", "timestamp": "1795633860", "nonce": "nonce-0123456789ab"}
    assert refresh_signature_matches(expected, (b"o" * 40, SECRET), **signed)
    assert not refresh_signature_matches(expected, (b"o" * 40,), **signed)
    for changed in ({"account_number": "A-2"}, {"timestamp": "1795633861"}, {"nonce": "nonce-0123456789ac"}):
        assert not refresh_signature_matches(expected, (SECRET,), **{**signed, **changed})
    assert not refresh_signature_matches(expected + "=", (SECRET,), **signed)
    assert not refresh_signature_matches(None, (SECRET,), **signed)


# ---- settings -----------------------------------------------------------------------------------------


def test_the_defaults_are_basic_the_shipped_format_and_any_source() -> None:
    settings = RefreshSettings.from_environment({})
    assert settings.ic_refresh_auth == "basic" and settings.ic_refresh_format == "invoicecloud-refresh-v1"
    assert settings.ic_refresh_header == "X-Api-Key" and settings.ic_refresh_max_skew_seconds == 300
    assert settings.source_allowed(None) and settings.source_allowed("198.51.100.7")


def test_source_cidrs_allow_only_their_addresses() -> None:
    settings = RefreshSettings.from_environment({"IC_REFRESH_SOURCE_CIDRS": "203.0.113.0/24,2001:db8::/32"})
    assert settings.source_allowed("203.0.113.200") and settings.source_allowed("2001:db8::5")
    assert not settings.source_allowed("203.0.114.1")
    assert not settings.source_allowed(None) and not settings.source_allowed("not an address")


@pytest.mark.parametrize(
    "environment",
    [
        {"IC_REFRESH_AUTH": "none"},
        {"IC_REFRESH_HEADER": "Authorization"},
        {"IC_REFRESH_HEADER": "X Api Key"},
        {"IC_REFRESH_SOURCE_CIDRS": "203.0.113.0/33"},
        {"IC_REFRESH_MAX_SKEW_SECONDS": "86400"},
    ],
)
def test_a_bad_setting_is_named_and_never_its_value(environment: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as raised:
        RefreshSettings.from_environment(environment)
    (name,) = environment
    assert name in raised.value.reason and environment[name] not in raised.value.reason


@pytest.mark.parametrize(
    "secret",
    [
        {"username": "invoicecloud", "secret": "short"},
        {"username": "invoicecloud"},
        {"username": "invoice:cloud", "secret": "s" * 40},
        {"username": "invoicecloud", "secret": "s" * 40, "previousSecret": "old"},
        {"secret": "s" * 40},
    ],
)
def test_a_weak_or_malformed_credential_is_refused(secret: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        RefreshCredential.from_secret(secret)


def test_the_credential_lists_the_previous_secret_after_the_current_one_and_never_prints_them() -> None:
    credential = RefreshCredential.from_secret(
        {"username": "invoicecloud", "secret": "n" * 40, "previousSecret": "o" * 40}
    )
    assert credential.secrets() == (b"n" * 40, b"o" * 40)
    assert "nnnn" not in repr(credential) and "oooo" not in str(credential)
