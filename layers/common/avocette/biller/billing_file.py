"""The biller's billing file: its key, its header and its rows, read into billing data (no I/O here).

A file is ``billing/<YYYYMMDDTHHMMSSZ>[-full].csv``: the timestamp is the file's as-of time (UTC),
``-full`` says the file lists every open invoice. One row per invoice; an account's profile columns
repeat on each of its rows. A bad row is described by its line, its column and a short reason, never
by the cell's value: cells are payer data (names, addresses, registration values).

Besides :data:`COLUMNS`, which every file has, a file may have the :data:`OPTIONAL_COLUMNS`:
``StatementFile`` names the bill's PDF under ``statements/`` in the inbound bucket (DESIGN §6g);
``PaymentsPostedThrough`` says up to when the billing system posted our exports (DESIGN §5, §6e).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Final

from pydantic import TypeAdapter, ValidationError

from avocette import clock, money
from avocette.domain.billing import Account, Invoice, PostedThrough
from avocette.domain.common import IDENTIFIER, IDENTIFIER_RULE
from avocette.domain.files import RowProblem
from avocette.domain.registration import normalise_registration_value, registration_hash
from avocette.domain.statements import statement_name

__all__ = [
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "PROFILE_COLUMNS",
    "WHOLE_ROW",
    "BillingKeyError",
    "HeaderError",
    "ParsedRow",
    "Profile",
    "RowProblem",
    "check_as_of",
    "check_header",
    "differing_columns",
    "parse_key",
    "parse_row",
    "row_ref",
    "shape_problem",
]

COLUMNS: Final = (
    "AccountNumber",
    "Name",
    "Address",
    "City",
    "State",
    "Zip",
    "EmailAddress",
    "RegistrationValue",
    "InvoiceNumber",
    "TypeID",
    "InvoiceDate",
    "DueDate",
    "BalanceDue",
    "MinimumAmountDue",
    "AllowPartialPayments",
    "CCServiceFee",
    "ACHServiceFee",
)
# Columns a file may have or leave out; a row's blank cell in one means "none" as well.
# PaymentsPostedThrough: the billing system posted every export of ours up to then (an RFC 3339 time:
# the exports written by then; a date: the exports of the days up to it), so that a credit stops
# reducing what is payable exactly when the bill shows it (DESIGN §5, §6e). Without it, the settlement
# lag decides. StatementFile: the bill's PDF under statements/ (DESIGN §6g).
OPTIONAL_COLUMNS: Final = ("PaymentsPostedThrough", "StatementFile")
PROFILE_COLUMNS: Final = ("Name", "Address", "City", "State", "Zip", "EmailAddress", "RegistrationValue")
# The "column" of a problem that concerns the row's shape rather than one cell.
WHOLE_ROW: Final = "*"

_KEY = re.compile(r"^billing/(?P<stamp>\d{8}T\d{6}Z)(?P<full>-full)?\.csv$")
_KEY_FORM = "billing/<YYYYMMDDTHHMMSSZ>[-full].csv, e.g. billing/20261101T060000Z-full.csv"
# A file stamped far ahead would make every later file look older and change nothing until then.
_FUTURE_TOLERANCE = timedelta(days=1)

_ACCOUNT_NUMBER: TypeAdapter[str] = TypeAdapter(Annotated[str, IDENTIFIER])
_INVOICE_NUMBER = _ACCOUNT_NUMBER
_IDENTIFIER_RULE = IDENTIFIER_RULE

_IC_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WHOLE_NUMBER = re.compile(r"^\d{1,9}$")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
# One address, plausibly deliverable: no lists, no display names, a dotted domain.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")
_EMAIL_MAX = 254


class BillingKeyError(ValueError):
    """The object key (or file name) does not carry a valid as-of time: the file is not imported."""


class HeaderError(ValueError):
    """The header row is not exactly the expected set of columns: the file is not imported."""

    def __init__(self, message: str, *, missing: Sequence[str] = (), unexpected: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = tuple(missing)
        self.unexpected = tuple(unexpected)


@dataclass(frozen=True, slots=True)
class Profile:
    """An account's profile columns, trimmed. Payer data: kept out of ``repr`` (and so of logs)."""

    name: str = field(repr=False)
    address: str = field(repr=False)
    city: str = field(repr=False)
    state: str = field(repr=False)
    zip: str = field(repr=False)
    email: str = field(repr=False)
    registration_value: str = field(repr=False)

    def fingerprint(self) -> bytes:
        """Eight bytes per column, in ``PROFILE_COLUMNS`` order: enough to tell later rows that differ
        without holding every account's payer data in memory for the whole file."""
        values = (
            self.name,
            self.address,
            self.city,
            self.state,
            self.zip,
            self.email,
            normalise_registration_value(self.registration_value),
        )
        return b"".join(hashlib.blake2b(value.encode(), digest_size=8).digest() for value in values)


def differing_columns(first: bytes, later: bytes) -> list[str]:
    """The profile columns whose values differ between two fingerprints (see :meth:`Profile.fingerprint`)."""
    return [
        column
        for position, column in enumerate(PROFILE_COLUMNS)
        if first[position * 8 : position * 8 + 8] != later[position * 8 : position * 8 + 8]
    ]


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """One valid row: an invoice, and the profile of its account."""

    line: int
    account_number: str
    invoice_number: str
    profile: Profile
    invoice_date: date | None
    due_date: date | None
    type_id: int | None
    billed_cents: int
    minimum_amount_due_cents: int | None
    allow_partial_payments: bool | None
    cc_service_fee_cents: int | None
    ach_service_fee_cents: int | None
    posted_through: PostedThrough | None = None
    statement_file: str | None = None  # the bill's PDF, under statements/ (DESIGN §6g)

    @property
    def ref(self) -> tuple[str, str]:
        return (self.account_number, self.invoice_number)

    def posted_through_as_of(self, as_of: datetime) -> PostedThrough | None:
        """The row's mark, never later than the file itself: a file cannot know of exports written
        after it was made."""
        mark = self.posted_through
        if mark is None:
            return None
        if mark.at is not None and mark.at > as_of:
            return PostedThrough(at=as_of)
        if mark.day is not None and mark.day > as_of.date():
            return PostedThrough(day=as_of.date())
        return mark

    def invoice(self, as_of: datetime) -> Invoice:
        """The billed values of the invoice as of the file's time (a negative balance is a credit)."""
        return Invoice(
            account_number=self.account_number,
            invoice_number=self.invoice_number,
            invoice_date=self.invoice_date,
            due_date=self.due_date,
            type_id=self.type_id,
            cc_service_fee_cents=self.cc_service_fee_cents,
            ach_service_fee_cents=self.ach_service_fee_cents,
            minimum_amount_due_cents=self.minimum_amount_due_cents,
            allow_partial_payments=self.allow_partial_payments,
            billed_cents=self.billed_cents,
            billed_as_of=as_of,
            statement_file=self.statement_file,
        )

    def account(self, as_of: datetime, hash_key: bytes) -> Account:
        """The account's profile; the registration value only as its keyed hash (blank: no hash)."""
        value = self.profile.registration_value
        return Account(
            account_number=self.account_number,
            name=self.profile.name,
            address=self.profile.address,
            city=self.profile.city,
            state=self.profile.state,
            zip=self.profile.zip,
            email=self.profile.email,
            registration_hash=registration_hash(hash_key, value) if normalise_registration_value(value) else "",
            billed_as_of=as_of,
        )


# ---- the key ------------------------------------------------------------------------------------


def parse_key(key: str) -> tuple[datetime, bool]:
    """``billing/20261101T060000Z-full.csv`` -> (2026-11-01 06:00 UTC, True). Raises :class:`BillingKeyError`."""
    match = _KEY.match(key)
    if match is None:
        raise BillingKeyError(f"the key must be {_KEY_FORM}")
    try:
        as_of = datetime.strptime(match.group("stamp"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise BillingKeyError("the key's timestamp is not a real date and time (YYYYMMDDTHHMMSSZ, UTC)") from None
    return as_of, match.group("full") is not None


def check_as_of(as_of: datetime, now: datetime) -> None:
    """Refuse a file stamped more than a day ahead of ``now``: it would shadow every later file."""
    if as_of > now + _FUTURE_TOLERANCE:
        raise BillingKeyError("the key's timestamp is in the future")


# ---- the header ---------------------------------------------------------------------------------


def check_header(names: Sequence[str] | None) -> None:
    """The header must name exactly ``COLUMNS``, in any order, case-sensitively, each once, and may
    name any of ``OPTIONAL_COLUMNS`` once.

    A header naming none of the columns is most likely a data row (the header was left out): its
    cells are payer data, so the message does not repeat them."""
    if not names or all(not name.strip() for name in names):
        raise HeaderError("the file is empty: no header row")
    cleaned = [name.strip() for name in names]
    expected = {*COLUMNS, *OPTIONAL_COLUMNS}
    missing = [column for column in COLUMNS if column not in cleaned]
    if len(missing) == len(COLUMNS):
        raise HeaderError("the first line is not the header: it names none of the expected columns", missing=missing)
    unexpected = [name for name in dict.fromkeys(cleaned) if name not in expected]
    repeated = [name for name in dict.fromkeys(cleaned) if name in expected and cleaned.count(name) > 1]
    if not missing and not unexpected and not repeated:
        return
    parts = []
    if missing:
        parts.append("missing columns: " + ", ".join(missing))
    if unexpected:
        parts.append("unexpected columns: " + ", ".join(_shown(name) for name in unexpected))
    if repeated:
        parts.append("repeated columns: " + ", ".join(repeated))
    raise HeaderError("wrong header: " + "; ".join(parts), missing=missing, unexpected=unexpected + repeated)


def _shown(name: str) -> str:
    return repr(name if len(name) <= 40 else name[:40] + "...")


# ---- rows ---------------------------------------------------------------------------------------


def shape_problem(line: int, cell_count: int, header_count: int = len(COLUMNS)) -> RowProblem | None:
    """A row whose cell count differs from the header's: most often an unquoted comma, which shifts
    every later cell into the wrong column, so none of the row can be trusted."""
    """A row whose cell count differs from the header's (``header_count`` names, optional columns
    included): most often an unquoted comma, which shifts every later cell into the wrong column, so
    none of the row can be trusted."""
    if cell_count == header_count:
        return None
    return RowProblem(line, WHOLE_ROW, f"the row has {cell_count} cells; the header has {header_count}")


def row_ref(cells: Mapping[str, str | None]) -> tuple[str, str] | None:
    """(account, invoice) of a row when both numbers are readable, even if the row is otherwise bad:
    such an invoice still appears in the file (a full file does not close it)."""
    try:
        account = _ACCOUNT_NUMBER.validate_python(cells.get("AccountNumber") or "")
        invoice = _INVOICE_NUMBER.validate_python(cells.get("InvoiceNumber") or "")
    except ValidationError:
        return None
    return (account, invoice)


class _Row:
    """Reads the cells of one row, collecting one problem per bad column."""

    def __init__(self, line: int, cells: Mapping[str, str | None]) -> None:
        self.line = line
        self.cells = cells
        self.problems: list[RowProblem] = []

    def text(self, column: str) -> str:
        return (self.cells.get(column) or "").strip()

    def bad(self, column: str, reason: str) -> None:
        self.problems.append(RowProblem(self.line, column, reason))

    def identifier(self, column: str, adapter: TypeAdapter[str]) -> str:
        if not self.text(column):
            self.bad(column, "required")
            return ""
        try:
            return adapter.validate_python(self.text(column))
        except ValidationError:
            self.bad(column, f"not a valid identifier ({_IDENTIFIER_RULE})")
            return ""

    def amount(self, column: str, *, required: bool = False, negative: bool = False) -> int | None:
        text = self.text(column)
        if not text:
            if required:
                self.bad(column, "required")
            return None
        try:
            cents = money.parse_cents(text)
        except money.MoneyError as exc:
            self.bad(column, str(exc))  # the money module's reasons never quote the text
            return None
        if cents < 0 and not negative:
            self.bad(column, "must not be negative")
            return None
        return cents

    def day(self, column: str) -> date | None:
        text = self.text(column)
        if not text:
            return None
        try:
            if _IC_DATE.match(text):
                return clock.from_ic_date(text)
            if _ISO_DATE.match(text):
                return date.fromisoformat(text)
        except ValueError:
            pass
        self.bad(column, "not a real date as MM/DD/YYYY or YYYY-MM-DD")
        return None

    def posted_through(self, column: str) -> PostedThrough | None:
        """A "payments posted through" mark: ``YYYY-MM-DD`` (the exports of the days up to it) or an
        RFC 3339 time with its offset (the exports written by then)."""
        text = self.text(column)
        if not text:
            return None
        try:
            if _ISO_DATE.match(text):
                return PostedThrough(day=date.fromisoformat(text))
            moment = datetime.fromisoformat(text.replace("z", "Z"))
            if "T" in text.upper() and moment.tzinfo is not None:
                return PostedThrough(at=moment.astimezone(UTC))
        except (ValueError, OverflowError):
            pass
        self.bad(column, "not a date as YYYY-MM-DD or an RFC 3339 time with its offset")
        return None

    def whole_number(self, column: str) -> int | None:
        text = self.text(column)
        if not text:
            return None
        if not _WHOLE_NUMBER.match(text):
            self.bad(column, "not a whole number")
            return None
        return int(text)

    def flag(self, column: str) -> bool | None:
        text = self.text(column).lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.bad(column, "not one of true/false, yes/no, y/n, 1/0")
        return None

    def statement(self, column: str) -> str | None:
        text = self.text(column)
        if not text:
            return None
        try:
            return statement_name(text)
        except ValueError as exc:
            self.bad(column, str(exc))  # the rule, never the text
            return None

    def email(self, column: str) -> str:
        text = self.text(column)
        if text and (len(text) > _EMAIL_MAX or not _EMAIL.match(text)):
            self.bad(column, "not one plausible email address")
            return ""
        return text


def parse_row(line: int, cells: Mapping[str, str | None]) -> ParsedRow | list[RowProblem]:
    """One data row (``line`` is its 1-based line in the file, the header being line 1).

    ``cells`` maps column names to text; a cell the row lacks is ``None``. Answers the parsed row,
    or every problem found (one per column), never quoting a value."""
    row = _Row(line, cells)
    account_number = row.identifier("AccountNumber", _ACCOUNT_NUMBER)
    invoice_number = row.identifier("InvoiceNumber", _INVOICE_NUMBER)
    profile = Profile(
        name=row.text("Name"),
        address=row.text("Address"),
        city=row.text("City"),
        state=row.text("State"),
        zip=row.text("Zip"),
        email=row.email("EmailAddress"),
        registration_value=row.text("RegistrationValue"),
    )
    type_id = row.whole_number("TypeID")
    invoice_date = row.day("InvoiceDate")
    due_date = row.day("DueDate")
    billed_cents = row.amount("BalanceDue", required=True, negative=True)
    minimum = row.amount("MinimumAmountDue")
    allow_partial = row.flag("AllowPartialPayments")
    cc_fee = row.amount("CCServiceFee")
    ach_fee = row.amount("ACHServiceFee")
    posted_through = row.posted_through("PaymentsPostedThrough")
    statement_file = row.statement("StatementFile")
    if row.problems or billed_cents is None:
        return row.problems
    return ParsedRow(
        line=line,
        account_number=account_number,
        invoice_number=invoice_number,
        profile=profile,
        invoice_date=invoice_date,
        due_date=due_date,
        type_id=type_id,
        billed_cents=billed_cents,
        minimum_amount_due_cents=minimum,
        allow_partial_payments=allow_partial,
        cc_service_fee_cents=cc_fee,
        ach_service_fee_cents=ach_fee,
        posted_through=posted_through,
        statement_file=statement_file,
    )
