"""Reading the biller's file: its key, its header and each rule of its rows (pure, no AWS)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime

import pytest
from avocette.biller.billing_file import (
    COLUMNS,
    PROFILE_COLUMNS,
    WHOLE_ROW,
    BillingKeyError,
    HeaderError,
    ParsedRow,
    check_as_of,
    check_header,
    differing_columns,
    parse_key,
    parse_row,
    row_ref,
    shape_problem,
)
from avocette.domain.files import RowProblem
from avocette.domain.registration import registration_hash

HASH_KEY = b"k" * 32
AS_OF = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def cells(**overrides: str | None) -> dict[str, str | None]:
    """A valid row's cells, with some replaced."""
    row: dict[str, str | None] = {
        "AccountNumber": "ACCT-1001",
        "Name": "Pat Payer",
        "Address": "1 Main St",
        "City": "Tampa",
        "State": "FL",
        "Zip": "33601",
        "EmailAddress": "pat@example.com",
        "RegistrationValue": "1001-REG",
        "InvoiceNumber": "INV-1001-1",
        "TypeID": "6",
        "InvoiceDate": "10/28/2026",
        "DueDate": "2026-11-20",
        "BalanceDue": "125.50",
        "MinimumAmountDue": "25.00",
        "AllowPartialPayments": "true",
        "CCServiceFee": "1.00",
        "ACHServiceFee": "0.50",
    }
    row.update(overrides)
    return row


def parsed(**overrides: str | None) -> ParsedRow:
    result = parse_row(2, cells(**overrides))
    assert isinstance(result, ParsedRow), result
    return result


def problems(**overrides: str | None) -> list[tuple[str, str]]:
    result = parse_row(7, cells(**overrides))
    assert isinstance(result, list), f"expected a bad row, got {result!r}"
    assert all(problem.row == 7 for problem in result)
    return [(problem.column, problem.reason) for problem in result]


def columns(**overrides: str | None) -> list[str]:
    return [column for column, _ in problems(**overrides)]


# ---- the key ------------------------------------------------------------------------------------


def test_key_gives_the_as_of_time_and_full() -> None:
    assert parse_key("billing/20261101T060000Z-full.csv") == (AS_OF, True)
    assert parse_key("billing/20261101T060000Z.csv") == (AS_OF, False)


@pytest.mark.parametrize(
    "key",
    [
        "billing/latest.csv",
        "billing/2026-11-01.csv",
        "billing/20261101T060000.csv",  # no Z: not UTC
        "billing/20261101T060000Z-partial.csv",
        "billing/20261101T060000Z-full.CSV",
        "billing/20261101T060000Z.csv.report.json",
        "20261101T060000Z.csv",  # not under billing/
        "uploads/20261101T060000Z.csv",
        "billing/old/20261101T060000Z.csv",
        "billing/x20261101T060000Z.csv",
    ],
)
def test_keys_without_a_valid_timestamp_are_refused(key: str) -> None:
    with pytest.raises(BillingKeyError, match="billing/<YYYYMMDDTHHMMSSZ>"):
        parse_key(key)


@pytest.mark.parametrize("stamp", ["20261301T060000Z", "20260230T060000Z", "20261101T250000Z", "20261101T066000Z"])
def test_a_timestamp_that_is_no_real_time_is_refused(stamp: str) -> None:
    with pytest.raises(BillingKeyError, match="not a real date and time"):
        parse_key(f"billing/{stamp}.csv")


def test_a_file_stamped_more_than_a_day_ahead_is_refused() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    check_as_of(datetime(2026, 11, 26, 12, 0, tzinfo=UTC), now)  # clocks drift: a day is tolerated
    with pytest.raises(BillingKeyError, match="future"):
        check_as_of(datetime(2026, 11, 26, 12, 0, 1, tzinfo=UTC), now)


# ---- the header ---------------------------------------------------------------------------------


def test_the_header_may_come_in_any_order() -> None:
    check_header(list(COLUMNS))
    check_header(list(reversed(COLUMNS)))


def test_surrounding_spaces_in_header_names_are_ignored() -> None:
    check_header([f" {name} " for name in COLUMNS])


def test_a_missing_column_is_named() -> None:
    with pytest.raises(HeaderError, match="missing columns: DueDate") as caught:
        check_header([name for name in COLUMNS if name != "DueDate"])
    assert caught.value.missing == ("DueDate",)


def test_an_extra_column_is_named() -> None:
    with pytest.raises(HeaderError, match="unexpected columns: 'Phone'") as caught:
        check_header([*COLUMNS, "Phone"])
    assert caught.value.unexpected == ("Phone",)


def test_a_misspelled_column_is_missing_and_unexpected() -> None:
    header = ["AcountNumber" if name == "AccountNumber" else name for name in COLUMNS]
    with pytest.raises(HeaderError) as caught:
        check_header(header)
    assert (caught.value.missing, caught.value.unexpected) == (("AccountNumber",), ("AcountNumber",))
    assert "missing columns: AccountNumber" in str(caught.value)
    assert "unexpected columns: 'AcountNumber'" in str(caught.value)


def test_names_are_case_sensitive() -> None:
    header = ["TypeId" if name == "TypeID" else name for name in COLUMNS]
    with pytest.raises(HeaderError, match="missing columns: TypeID; unexpected columns: 'TypeId'"):
        check_header(header)


def test_a_repeated_column_is_refused() -> None:
    with pytest.raises(HeaderError, match="repeated columns: Name"):
        check_header([*COLUMNS, "Name"])


@pytest.mark.parametrize("header", [None, [], [""], ["  ", ""]])
def test_an_empty_file_has_no_header(header: list[str] | None) -> None:
    with pytest.raises(HeaderError, match="no header row"):
        check_header(header)


def test_a_data_row_in_place_of_the_header_is_not_quoted() -> None:
    first_line = [value or "" for value in cells().values()]
    with pytest.raises(HeaderError) as caught:
        check_header(first_line)
    message = str(caught.value)
    assert "not the header" in message
    assert not [value for value in first_line if value and value in message]


# ---- a good row ---------------------------------------------------------------------------------


def test_a_good_row_is_read_into_billing_data() -> None:
    row = parsed()
    assert (row.line, row.ref) == (2, ("ACCT-1001", "INV-1001-1"))
    invoice = row.invoice(AS_OF)
    assert invoice.invoice_date == date(2026, 10, 28)
    assert invoice.due_date == date(2026, 11, 20)
    assert (invoice.type_id, invoice.billed_cents, invoice.minimum_amount_due_cents) == (6, 12550, 2500)
    assert (invoice.cc_service_fee_cents, invoice.ach_service_fee_cents) == (100, 50)
    assert invoice.allow_partial_payments is True
    assert invoice.billed_as_of == AS_OF
    assert invoice.credits == {}
    account = row.account(AS_OF, HASH_KEY)
    assert (account.name, account.address, account.city, account.state, account.zip) == (
        "Pat Payer",
        "1 Main St",
        "Tampa",
        "FL",
        "33601",
    )
    assert account.email == "pat@example.com"
    assert account.billed_as_of == AS_OF


def test_cells_are_trimmed() -> None:
    row = parsed(AccountNumber="  ACCT-1001 ", Name="  Pat Payer ", BalanceDue=" 10 ", InvoiceNumber=" INV 7 ")
    assert row.ref == ("ACCT-1001", "INV 7")
    assert row.profile.name == "Pat Payer"
    assert row.billed_cents == 1000


def test_optional_cells_may_be_blank() -> None:
    row = parsed(
        TypeID="",
        InvoiceDate="",
        DueDate=" ",
        MinimumAmountDue="",
        AllowPartialPayments="",
        CCServiceFee="",
        ACHServiceFee="",
        EmailAddress="",
        RegistrationValue="",
        Name="",
    )
    invoice = row.invoice(AS_OF)
    assert invoice.type_id is None and invoice.invoice_date is None and invoice.due_date is None
    assert invoice.minimum_amount_due_cents is None and invoice.allow_partial_payments is None
    assert invoice.cc_service_fee_cents is None and invoice.ach_service_fee_cents is None
    assert row.account(AS_OF, HASH_KEY).email == ""


def test_a_missing_cell_reads_as_blank() -> None:
    row = parsed(TypeID=None, EmailAddress=None)
    assert row.type_id is None and row.profile.email == ""


# ---- identifiers --------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["AccountNumber", "InvoiceNumber"])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_account_and_invoice_numbers_are_required(column: str, value: str | None) -> None:
    assert problems(**{column: value}) == [(column, "required")]


@pytest.mark.parametrize("column", ["AccountNumber", "InvoiceNumber"])
@pytest.mark.parametrize("value", ["-ACCT", "ACCT#1", "A" * 65, "ACCT;1", "Ä-1"])
def test_account_and_invoice_numbers_follow_the_identifier_rules(column: str, value: str) -> None:
    (problem,) = problems(**{column: value})
    assert problem[0] == column and problem[1].startswith("not a valid identifier")


def test_identifiers_allow_dots_dashes_slashes_underscores_and_spaces() -> None:
    assert parsed(AccountNumber="A1._-/ B", InvoiceNumber="9" * 64).ref == ("A1._-/ B", "9" * 64)


# ---- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"),
    [("10", 1000), ("10.00", 1000), ("10.5", 1050), ("$1,000.00", 100000), ("-5.00", -500), ("0", 0)],
)
def test_balance_due_is_read_as_money(text: str, cents: int) -> None:
    assert parsed(BalanceDue=text).billed_cents == cents


def test_a_negative_balance_is_a_credit_not_a_bad_row() -> None:
    invoice = parsed(BalanceDue="-12.34").invoice(AS_OF)
    assert invoice.billed_cents == -1234
    assert invoice.payable_cents() == 0


def test_balance_due_is_required() -> None:
    assert problems(BalanceDue="") == [("BalanceDue", "required")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ten", "amount is not a number with at most two decimals"),
        ("10.001", "amount has more than two decimals"),
        ("1e3", "amount is not a number with at most two decimals"),
        ("12,34", "amount is not a number with at most two decimals"),
    ],
)
def test_a_balance_that_is_not_money_is_a_bad_row(text: str, reason: str) -> None:
    assert problems(BalanceDue=text) == [("BalanceDue", reason)]


@pytest.mark.parametrize("column", ["MinimumAmountDue", "CCServiceFee", "ACHServiceFee"])
def test_optional_amounts_must_parse_and_not_be_negative(column: str) -> None:
    assert problems(**{column: "abc"}) == [(column, "amount is not a number with at most two decimals")]
    assert problems(**{column: "1.234"}) == [(column, "amount has more than two decimals")]
    assert problems(**{column: "-1.00"}) == [(column, "must not be negative")]
    assert getattr(parsed(**{column: "0"}).invoice(AS_OF), _field(column)) == 0


def _field(column: str) -> str:
    return {
        "MinimumAmountDue": "minimum_amount_due_cents",
        "CCServiceFee": "cc_service_fee_cents",
        "ACHServiceFee": "ach_service_fee_cents",
    }[column]


# ---- type, dates, flags, email ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["six", "6.0", "-1", "1 2"])
def test_type_id_is_blank_or_a_whole_number(text: str) -> None:
    assert problems(TypeID=text) == [("TypeID", "not a whole number")]
    assert parsed(TypeID=" 12 ").type_id == 12


@pytest.mark.parametrize(
    ("text", "day"),
    [("11/20/2026", date(2026, 11, 20)), ("1/5/2026", date(2026, 1, 5)), ("2026-11-20", date(2026, 11, 20))],
)
def test_dates_are_invoice_cloud_or_iso(text: str, day: date) -> None:
    row = parsed(InvoiceDate=text, DueDate=text)
    assert (row.invoice_date, row.due_date) == (day, day)


@pytest.mark.parametrize("column", ["InvoiceDate", "DueDate"])
@pytest.mark.parametrize("text", ["02/30/2026", "13/01/2026", "2026-02-30", "20/11/2026", "Nov 20 2026", "2026/11/20"])
def test_a_date_that_is_not_a_real_date_in_either_form_is_a_bad_row(column: str, text: str) -> None:
    assert problems(**{column: text}) == [(column, "not a real date as MM/DD/YYYY or YYYY-MM-DD")]


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        *[("true", True), ("TRUE", True), ("Yes", True), ("y", True), ("1", True)],
        *[("false", False), ("No", False), ("N", False), ("0", False), ("", None)],
    ],
)
def test_allow_partial_payments_reads_common_spellings(text: str, flag: bool | None) -> None:
    assert parsed(AllowPartialPayments=text).allow_partial_payments is flag


@pytest.mark.parametrize("text", ["maybe", "2", "t", "on"])
def test_allow_partial_payments_refuses_anything_else(text: str) -> None:
    assert problems(AllowPartialPayments=text) == [("AllowPartialPayments", "not one of true/false, yes/no, y/n, 1/0")]


@pytest.mark.parametrize(
    "text", ["pat", "pat@", "pat@example", "pat@example.com; kim@example.com", "Pat <pat@example.com>", "a b@c.com"]
)
def test_email_is_blank_or_one_plausible_address(text: str) -> None:
    assert problems(EmailAddress=text) == [("EmailAddress", "not one plausible email address")]
    assert parsed(EmailAddress=" pat.payer+bills@mail.example.co.uk ").profile.email == (
        "pat.payer+bills@mail.example.co.uk"
    )


# ---- bad rows -----------------------------------------------------------------------------------


def test_every_bad_column_of_a_row_is_listed() -> None:
    assert columns(AccountNumber="", BalanceDue="x", DueDate="someday", TypeID="z") == [
        "AccountNumber",
        "TypeID",
        "DueDate",
        "BalanceDue",
    ]


def test_a_problem_never_quotes_the_value() -> None:
    secretive = {
        "AccountNumber": "#Secret-Acct",
        "InvoiceNumber": "#Secret-Inv",
        "EmailAddress": "Secret Person <secret@example.com>",
        "BalanceDue": "Secret$",
        "MinimumAmountDue": "Secret1",
        "CCServiceFee": "Secret2",
        "ACHServiceFee": "Secret3",
        "TypeID": "Secret4",
        "InvoiceDate": "Secret5",
        "DueDate": "Secret6",
        "AllowPartialPayments": "Secret7",
    }
    result = parse_row(3, cells(**secretive))
    assert isinstance(result, list) and len(result) == len(secretive)
    assert not [problem for problem in result if "secret" in repr(problem).lower()]


def test_a_row_with_too_many_or_too_few_cells_is_a_bad_row() -> None:
    assert shape_problem(4, len(COLUMNS)) is None
    assert shape_problem(4, len(COLUMNS) + 1) == RowProblem(4, WHOLE_ROW, "the row has 18 cells; the header has 17")
    assert shape_problem(5, 3) == RowProblem(5, WHOLE_ROW, "the row has 3 cells; the header has 17")


def test_a_bad_rows_invoice_is_still_named_when_its_numbers_are_readable() -> None:
    assert row_ref(cells(BalanceDue="nope")) == ("ACCT-1001", "INV-1001-1")
    assert row_ref(cells(AccountNumber=" ACCT-1001 ")) == ("ACCT-1001", "INV-1001-1")
    assert row_ref(cells(InvoiceNumber="")) is None
    assert row_ref(cells(AccountNumber="#bad")) is None


def test_problems_report_as_row_column_reason() -> None:
    assert RowProblem(9, "DueDate", "x").as_dict() == {"row": 9, "column": "DueDate", "reason": "x"}


# ---- the profile and the registration value -----------------------------------------------------


def test_the_registration_value_is_kept_only_as_its_keyed_hash() -> None:
    account = parsed(RegistrationValue=" zq-77 ").account(AS_OF, HASH_KEY)
    assert account.registration_hash == registration_hash(HASH_KEY, "ZQ77")
    dumped = json.dumps(asdict(account), default=str).lower()
    assert "zq-77" not in dumped and "zq77" not in dumped


@pytest.mark.parametrize("value", ["", "  ", " - "])
def test_a_blank_registration_value_gives_no_hash(value: str) -> None:
    assert parsed(RegistrationValue=value).account(AS_OF, HASH_KEY).registration_hash == ""


def test_payer_data_stays_out_of_repr() -> None:
    text = repr(parsed())
    for secret in ("Pat Payer", "1 Main St", "pat@example.com", "1001-REG", "Tampa", "33601"):
        assert secret not in text


def test_profile_fingerprints_tell_which_columns_differ() -> None:
    first = parsed().profile.fingerprint()
    assert differing_columns(first, parsed().profile.fingerprint()) == []
    same_once_normalised = parsed(Name=" Pat Payer ", RegistrationValue="1001 reg").profile.fingerprint()
    assert differing_columns(first, same_once_normalised) == []
    later = parsed(Name="Kim Payer", Zip="33602", EmailAddress="", RegistrationValue="X").profile.fingerprint()
    assert differing_columns(first, later) == ["Name", "Zip", "EmailAddress", "RegistrationValue"]
    assert len(first) == 8 * len(PROFILE_COLUMNS)
