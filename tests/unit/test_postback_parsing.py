"""Reading a postback: kept fields only, identity and digest, what makes it invalid."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from avocette.domain.postbacks import ReceivedPostback
from avocette.invoicecloud.postback import KEPT_FIELDS, read_postback_fields
from avocette.invoicecloud.postback import parse_postback as parse_fields


def parse_postback(fields: Mapping[str, str], *, includes_fee: bool = False) -> ReceivedPostback:
    return parse_fields(fields, amount_includes_fee=includes_fee, payment_type_ids={"1": "CARD", "2": "ACH"})


FULL_BODY = (
    "BillerGUID=abc&PaymentDate=11%2F25%2F2026+07%3A15%3A02+PM&InvoiceNumber=INV-1&Approved=True"
    "&CustomerName=Alice+Payer&CustomerAddress=1+Main+St&CustomerCity=Tampa&CustomerState=FL&CustomerZip=33601"
    "&PaymentGUID=g-1&PaymentAmount=%241%2C000.00&PaymentDescription=Utility&PaymentTypeID=1&CardType=Visa"
    "&PaymentMessage=Approved&BillerReference=pay-1&ConvenienceFee=1.00&RemoteIP=203.0.113.9"
)


def test_only_kept_fields_are_read_and_pii_is_dropped() -> None:
    fields = read_postback_fields(FULL_BODY, {})
    assert set(fields) == set(KEPT_FIELDS)
    assert "CustomerName" not in fields and "RemoteIP" not in fields and "PaymentDescription" not in fields
    assert fields["PaymentMessage"] == "Approved"  # the approval code: kept for disputes
    assert fields["PaymentAmount"] == "$1,000.00"


def test_body_wins_over_the_query_string() -> None:
    fields = read_postback_fields("PaymentGUID=from-body&Approved=True", {"PaymentGUID": "from-query", "token": "t"})
    assert fields == {"PaymentGUID": "from-body", "Approved": "True"}


def test_query_string_is_used_when_the_body_is_empty_and_the_token_is_not_a_field() -> None:
    fields = read_postback_fields("  ", {"token": "v1.abc", "PaymentGUID": "g", "Approved": "False"})
    assert fields == {"PaymentGUID": "g", "Approved": "False"}


def test_field_names_match_case_insensitively_and_first_value_wins() -> None:
    fields = read_postback_fields("paymentguid=g1&PAYMENTGUID=g2&approved=true", {})
    assert fields == {"PaymentGUID": "g1", "Approved": "true"}


def test_parsed_values() -> None:
    pb = parse_postback(read_postback_fields(FULL_BODY, {}))
    assert pb.problem is None
    assert (pb.approved, pb.values.amount_cents, pb.fee_cents, pb.invoice_number) == (True, 100000, 100, "INV-1")
    assert (pb.credit_cents, pb.payment_method, pb.authorization, pb.values.biller_guid) == (
        100000,
        "CARD",
        "Approved",
        "abc",
    )
    assert parse_postback(read_postback_fields(FULL_BODY, {}), includes_fee=True).credit_cents == 99900


def test_identity_is_guid_invoice_and_approved() -> None:
    approved = parse_postback({"PaymentGUID": "g", "InvoiceNumber": "I", "Approved": "True", "PaymentAmount": "1"})
    again = parse_postback({"PaymentGUID": "g", "InvoiceNumber": "I", "Approved": "true", "PaymentAmount": "2"})
    declined = parse_postback({"PaymentGUID": "g", "InvoiceNumber": "I", "Approved": "False", "PaymentAmount": "1"})
    other_invoice = parse_postback({"PaymentGUID": "g", "InvoiceNumber": "J", "Approved": "True", "PaymentAmount": "1"})
    assert approved.identity == again.identity
    assert approved.values != again.values
    assert len({approved.identity, declined.identity, other_invoice.identity}) == 3


def test_invalid_postbacks() -> None:
    assert parse_postback({"Approved": "True", "PaymentAmount": "1"}).problem == "missing_payment_guid"
    assert parse_postback({"PaymentGUID": "g", "PaymentAmount": "1"}).problem == "missing_approved"
    assert parse_postback({"PaymentGUID": "g", "Approved": "maybe"}).problem == "missing_approved"
    assert parse_postback({"PaymentGUID": "g", "Approved": "True"}).problem == "amount_unreadable"
    assert (
        parse_postback({"PaymentGUID": "g", "Approved": "True", "PaymentAmount": "1.234"}).problem
        == "amount_unreadable"
    )
    assert (
        parse_postback({"PaymentGUID": "g", "Approved": "True", "PaymentAmount": "1", "ConvenienceFee": "x"}).problem
        == "fee_unreadable"
    )
    assert parse_postback({"PaymentGUID": "g", "Approved": "False"}).problem is None


# Invoice Cloud's PaymentGUID travels into storage and the biller's export: 1 to 64 printable ASCII
# characters without spaces, or the postback cannot be read (a formula may be one: the export quotes it).
BAD_PAYMENT_GUIDS = {
    "nul": "G-1\x00",
    "crlf": "G-1\r\nX-Injected: 1",
    "tab": "G\t1",
    "space": "G 1",
    "delete": "G-1\x7f",
    "non-ascii": "G-\u00fc",
    "65-characters": "G" * 65,
}


@pytest.mark.parametrize("name", sorted(BAD_PAYMENT_GUIDS))
def test_a_payment_guid_that_is_not_1_to_64_printable_ascii_characters_is_unreadable(name: str) -> None:
    read = parse_postback({"PaymentGUID": BAD_PAYMENT_GUIDS[name], "Approved": "True", "PaymentAmount": "1"})
    assert read.problem == "invalid_payment_guid"
    assert read.identity.startswith("invalid-") and read.payment_guid == ""


@pytest.mark.parametrize("guid", ["G", "~" * 64, "0f5e7c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b", '=HYPERLINK("http://x","y")'])
def test_a_payment_guid_of_1_to_64_printable_ascii_characters_is_read(guid: str) -> None:
    read = parse_postback({"PaymentGUID": guid, "Approved": "True", "PaymentAmount": "1"})
    assert (read.problem, read.payment_guid) == (None, guid)


@pytest.mark.parametrize(
    ("amount", "fee", "problem"),
    [
        ("10.00", "9" * 60, "fee_unreadable"),
        ("10.00", "-1.00", "fee_unreadable"),
        ("10.00", "10.01", "fee_unreadable"),
        ("-10.00", "", "amount_unreadable"),
        ("1000000.01", "", "amount_unreadable"),
        ("9" * 60, "", "amount_unreadable"),
        ("\u0661\u0660.00", "", "amount_unreadable"),  # Arabic-Indic digits
        ("\uff11\uff10.00", "", "amount_unreadable"),  # full-width digits
        ("1000000.00", "", None),
        ("10.00", "10.00", None),
    ],
)
def test_amounts_and_fees_must_be_money(amount: str, fee: str, problem: str | None) -> None:
    fields = {"PaymentGUID": "g", "Approved": "True", "PaymentAmount": amount, "ConvenienceFee": fee}
    assert parse_postback(fields).problem == problem


def test_the_method_is_never_guessed_from_the_card_type() -> None:
    ach = parse_postback(
        {"PaymentGUID": "g", "Approved": "True", "PaymentAmount": "1", "PaymentTypeID": "2", "CardType": "Checking"}
    )
    unmapped = parse_postback(
        {"PaymentGUID": "g", "Approved": "True", "PaymentAmount": "1", "PaymentTypeID": "9", "CardType": "Visa"}
    )
    assert (ach.payment_method, unmapped.payment_method) == ("ACH", None)


def test_invalid_postbacks_have_an_identity_of_their_contents() -> None:
    first = parse_postback({"Approved": "True"})
    assert first.identity.startswith("invalid-")
    assert first.identity == parse_postback({"Approved": "True"}).identity
    assert first.identity != parse_postback({"Approved": "False"}).identity


def test_overlong_values_are_cut() -> None:
    fields = read_postback_fields("PaymentGUID=" + "x" * 5000, {})
    assert len(fields["PaymentGUID"]) == 256


@pytest.mark.parametrize(
    ("amount", "fee"),
    [("thirty", ""), ("-10.00", ""), ("9" * 60, ""), ("10.00", "x"), ("10.00", "11.00"), ("", "-1.00")],
)
def test_a_declines_amount_and_fee_never_make_it_unreadable(amount: str, fee: str) -> None:
    """A decline moves no money: whatever it says of amounts is recorded, never a reason for review."""
    fields = {"PaymentGUID": "g", "Approved": "False", "PaymentAmount": amount, "ConvenienceFee": fee}
    assert parse_postback(fields).problem is None
