"""Invoice Cloud's daily payment file as data: the layout read from a format file, its rows, its bytes.

Nobody has seen Invoice Cloud's real payment file (DESIGN.md §4a), so its layout lives in a format
file of the layer (``avocette/formats/<name>.json``): column names, CSV dialect, date format and
zone, the code of each kind of row. The simulator writes through that file and never names a
column itself, so that a new format file changes the backend's reader and this writer alike.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from avocette.formats import FormatNotFoundError, load_format

from sandbox.invoicecloud.amounts import money
from sandbox.invoicecloud.config import ControlError
from sandbox.invoicecloud.sessions import Attempt, PaidLine

__all__ = [
    "DEFAULT_PAYMENT_FORMAT",
    "GIVES_BACK",
    "REVERSAL_KINDS",
    "FileRow",
    "PaymentFileFormat",
    "PaymentFileSink",
    "Reversal",
    "StoredFile",
    "listed_lines",
    "payment_rows",
    "reversal_row",
]

DEFAULT_PAYMENT_FORMAT: Final = "invoicecloud-payments-v1"
REVERSAL_KINDS: Final = ("VOID", "REFUND", "ACH_RETURN", "CHARGEBACK", "CHARGEBACK_REVERSAL")
# The one reversal that gives money back: what chargebacks took, when the biller wins the dispute.
GIVES_BACK: Final = "CHARGEBACK_REVERSAL"

# Given the key and the file's bytes, store the file; answer (bucket, key) where it went.
PaymentFileSink = Callable[[str, bytes], tuple[str, str]]

# The format file names a key pattern (what the reader accepts), not a key to write: this is ours,
# unless the format gives a template, and it is checked against the pattern before use.
_DEFAULT_KEY_TEMPLATE: Final = "invoicecloud/{day}.csv"

# What the simulator knows how to fill, by the format's field name; a column for any other field
# is written blank (a reader may want it later), unless the format requires it.
_KNOWN_FIELDS: Final = frozenset(
    {
        "kind",
        "paymentGuid",
        "billerReference",
        "accountNumber",
        "invoiceNumber",
        "amount",
        "fee",
        "date",
        "paymentTypeId",
        "reasonCode",
    }
)


@dataclass(frozen=True)
class Reversal:
    """A void, ACH return or chargeback asked for, remembered until reset: it belongs to the file of ``day``."""

    day: date
    kind: str  # one of REVERSAL_KINDS
    payment_guid: str
    biller_reference: str
    line_key: str  # the invoice line of the payment's session, see ``InvoiceLine.key``
    account_number: str
    invoice_number: str
    payment_type_id: str
    amount: Decimal  # positive: what the reversal took back from the invoice
    at: datetime
    reason_code: str = ""


@dataclass(frozen=True)
class FileRow:
    """One row of the file, before the format turns it into text."""

    kind: str  # PAYMENT or one of REVERSAL_KINDS
    at: datetime
    payment_guid: str
    biller_reference: str
    account_number: str
    invoice_number: str
    amount: Decimal
    payment_type_id: str
    fee: Decimal | None = None  # on the first PAYMENT row of an attempt only
    reason_code: str = ""


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    charset: str


def listed_lines(attempt: Attempt) -> list[PaidLine]:
    """The invoices of an attempt that get a PAYMENT row, in file order.

    Invoices paid nothing (a zero balance) are left out: no money moved on them. An attempt paying
    nothing at all keeps its lines, so that its fee is still reported somewhere.
    """
    paid = [item for item in attempt.paid if item.amount] or list(attempt.paid)
    return sorted(paid, key=lambda item: (item.line.invoice_number, item.line.account_number, item.line.key))


def payment_rows(biller_reference: str, attempt: Attempt) -> list[FileRow]:
    """The PAYMENT rows of one approved attempt, in file order, the attempt's fee on the first."""
    return [
        FileRow(
            kind="PAYMENT",
            at=attempt.at,
            payment_guid=attempt.payment_guid,
            biller_reference=biller_reference,
            account_number=item.line.account_number,
            invoice_number=item.line.invoice_number,
            amount=item.amount,
            payment_type_id=attempt.payment_type_id,
            fee=attempt.fee if position == 0 else None,
        )
        for position, item in enumerate(listed_lines(attempt))
    ]


def reversal_row(reversal: Reversal) -> FileRow:
    return FileRow(
        kind=reversal.kind,
        at=reversal.at,
        payment_guid=reversal.payment_guid,
        biller_reference=reversal.biller_reference,
        account_number=reversal.account_number,
        invoice_number=reversal.invoice_number,
        amount=reversal.amount,
        payment_type_id=reversal.payment_type_id,
        reason_code=reversal.reason_code,
    )


@dataclass(frozen=True)
class PaymentFileFormat:
    """A format file, checked once for what the simulator needs to write it."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (field, column name), in the file's column order
    kind_codes: Mapping[str, str]  # kind -> the code written for it (the format's first)
    date_format: str
    zone: tzinfo
    encoding: str
    delimiter: str
    quotechar: str
    line_terminator: str
    key_template: str
    key_pattern: re.Pattern[str]

    @classmethod
    def load(cls, name: str) -> PaymentFileFormat:
        """The format ``name`` from the layer; a ``ControlError`` when it is unknown or unusable."""
        try:
            spec = load_format(name)
        except FormatNotFoundError as error:
            raise ControlError(400, "unknown_format", f"No payment file format {name!r}") from error
        try:
            return cls._from_spec(name, spec)
        except (KeyError, TypeError, ValueError, re.error, LookupError) as error:
            raise ControlError(400, "invalid_format", f"Format {name!r} cannot be written: {error}") from error

    @classmethod
    def _from_spec(cls, name: str, spec: Mapping[str, Any]) -> PaymentFileFormat:
        columns = spec["columns"]
        if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
            raise TypeError("columns must map each field to its column name")
        missing = [field for field in spec.get("required", []) if field not in columns or field not in _KNOWN_FIELDS]
        if missing:
            raise ValueError(f"required fields the simulator cannot write: {', '.join(missing)}")
        codes = {}
        for kind, value in spec["kinds"].items():
            # A kind may be read under several codes; the first is the one written.
            code = value[0] if isinstance(value, list) else value
            if not isinstance(code, str) or not code:
                raise TypeError(f"kinds.{kind} must name at least one code")
            codes[kind] = code
        if "PAYMENT" not in codes:
            raise ValueError("kinds has no code for PAYMENT")
        encoding = str(spec.get("encoding", "utf-8"))
        "".encode(encoding)  # an unknown codec fails here (LookupError), not on the first file
        return cls(
            name=name,
            columns=tuple(columns.items()),
            kind_codes=codes,
            date_format=str(spec["dateFormat"]),
            zone=_zone(str(spec.get("timeZone", "UTC"))),
            encoding=encoding,
            delimiter=str(spec.get("delimiter", ",")),
            quotechar=str(spec.get("quotechar", '"')),
            line_terminator=str(spec.get("lineTerminator", "\r\n")),
            key_template=str(spec.get("keyTemplate", _DEFAULT_KEY_TEMPLATE)),
            key_pattern=re.compile(str(spec["keyPattern"])),
        )

    @property
    def charset(self) -> str:
        """The encoding as an HTTP charset: the BOM of ``utf-8-sig`` is part of the bytes, not the name."""
        return "utf-8" if self.encoding.lower().replace("_", "-") == "utf-8-sig" else self.encoding

    def day_of(self, moment: datetime) -> date:
        """The file a moment belongs to: its date in the format's time zone."""
        return moment.astimezone(self.zone).date()

    def key_for(self, day: date) -> str:
        key = self.key_template.format(day=day.isoformat())
        match = self.key_pattern.match(key)
        # The backend finds the day in the key with this pattern; a key it would misread is refused.
        if match is None or match.groupdict().get("day", day.isoformat()) != day.isoformat():
            raise ControlError(400, "invalid_format", f"Format {self.name!r}: its keyPattern does not accept {key}")
        return key

    def code_for(self, kind: str) -> str | None:
        return self.kind_codes.get(kind)

    def sorted_rows(self, rows: Iterable[FileRow]) -> list[FileRow]:
        """The file's order: by time, payment, invoice, kind (PAYMENT first), then whatever still differs."""
        kinds = ["PAYMENT", *(kind for kind in self.kind_codes if kind != "PAYMENT")]
        return sorted(
            rows,
            key=lambda row: (
                row.at,
                row.payment_guid,
                row.invoice_number,
                kinds.index(row.kind) if row.kind in kinds else len(kinds),
                row.account_number,
                row.amount,
                row.reason_code,
            ),
        )

    def render(self, rows: Sequence[FileRow]) -> bytes:
        """The file: a header of the format's column names, then ``rows`` as given."""
        buffer = io.StringIO()
        writer = csv.writer(
            buffer, delimiter=self.delimiter, quotechar=self.quotechar, lineterminator=self.line_terminator
        )
        writer.writerow([column for _, column in self.columns])
        for row in rows:
            values = self._values(row)
            writer.writerow([values.get(field, "") for field, _ in self.columns])
        return buffer.getvalue().encode(self.encoding)

    def _values(self, row: FileRow) -> dict[str, str]:
        return {
            "kind": self.kind_codes[row.kind],
            "paymentGuid": row.payment_guid,
            "billerReference": row.biller_reference,
            "accountNumber": row.account_number,
            "invoiceNumber": row.invoice_number,
            "amount": money(row.amount),
            "fee": money(row.fee) if row.fee is not None else "",
            "date": row.at.astimezone(self.zone).strftime(self.date_format),
            "paymentTypeId": row.payment_type_id,
            "reasonCode": row.reason_code,
        }


def _zone(name: str) -> tzinfo:
    if name.upper() in ("UTC", "Z"):  # without asking the tz database, which a machine may lack
        return UTC
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError as error:
        raise ValueError(f"unknown timeZone {name!r}") from error
