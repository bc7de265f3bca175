"""The biller's payment import, written by a format that is data (``BILLER_EXPORT_FORMAT``).

The billing system's real import layout is not known yet, so it lives in a format file of
``avocette/formats``: the key, the CSV dialect, the columns in order (each a header and one of our
fields), the date formats and time zone, and the words for kinds and methods. The payer's payment
date and the date of a row's money are days in the biller's zone (``BILLER_TIME_ZONE``), given to
:meth:`ExportFormat.render`: late fees are judged by them. The daily tie-out reads a written file back
(:meth:`ExportFormat.read`) to total what the biller was handed (DESIGN §6f).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from avocette import money
from avocette.biller.cells import FORMULA_STARTS, formula_safe
from avocette.domain.export import ExportedRow, ExportRow
from avocette.formats import FormatNotFoundError, load_format

__all__ = ["ExportFormat", "ExportFormatError", "get_export_format"]

ExportField = Literal[
    "accountNumber",
    "invoiceNumber",
    "amount",
    "at",
    "paymentGuid",
    "method",
    "kind",
    "paymentId",
    "paymentDate",
    "transactionDate",
    "fee",
    "cardType",
    "reasonCode",
]

# A cell a spreadsheet would run as a formula gets a leading quote (biller.cells): the file may be
# opened in one, and Invoice Cloud's payment id, among others, is not ours to trust. Not the amount: it
# is ours, and a reversal's -10.00 must stay a number.
_NUMBER_FIELDS: frozenset[ExportField] = frozenset({"amount", "fee"})


def _formula_safe(field: ExportField, value: str) -> str:
    return value if field in _NUMBER_FIELDS else formula_safe(value)


def _unquoted(field: ExportField, value: str) -> str:
    """A cell as we meant it: the leading quote :func:`_formula_safe` added taken off."""
    if field not in _NUMBER_FIELDS and value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


class ExportFormatError(ValueError):
    """The format file is unusable (the setting names a bad file)."""


class ExportFormat(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    format: str
    describes: str = ""
    key_template: str = Field(alias="keyTemplate")
    encoding: str = "utf-8"
    delimiter: str = Field(",", min_length=1, max_length=1)
    quotechar: str = Field('"', min_length=1, max_length=1)
    line_terminator: str = Field("\r\n", alias="lineTerminator")
    columns: list[tuple[str, ExportField]] = Field(min_length=1)
    date_format: str = Field(alias="dateFormat")
    time_zone: str = Field("UTC", alias="timeZone")
    # The payer's payment date and the date of a row's money: days, in the biller's zone.
    payment_date_format: str = Field("%Y-%m-%d", alias="paymentDateFormat")
    kinds: dict[str, str] = Field(default_factory=dict)
    methods: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_the_amount(self) -> ExportFormat:
        fields = [field for _, field in self.columns]
        if "amount" not in fields:
            raise ValueError("columns must include the amount")
        if len(set(fields)) != len(fields):
            raise ValueError("a field may have one column only")
        return self

    @field_validator("key_template")
    @classmethod
    def _key_has_the_day(cls, template: str) -> str:
        if "{day}" not in template:
            raise ValueError("keyTemplate must contain {day}")
        return template

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    def key(self, day: date) -> str:
        return self.key_template.format(day=day.isoformat())

    def render(self, rows: Sequence[ExportRow], biller_zone: tzinfo) -> bytes:
        """The file's bytes: a header, then one line per row, in the rows' order; every cell but the
        amounts that starts like a formula (``=``, ``+``, ``-``, ``@``, tab, CR) with a leading ``'``.
        Payment and transaction dates are days in ``biller_zone``."""
        buffer = io.StringIO()
        writer = csv.writer(
            buffer, delimiter=self.delimiter, quotechar=self.quotechar, lineterminator=self.line_terminator
        )
        writer.writerow([header for header, _ in self.columns])
        zone = ZoneInfo(self.time_zone)
        for row in rows:
            values = {
                "accountNumber": row.account_number,
                "invoiceNumber": row.invoice_number,
                "amount": money.cents_to_text(row.cents),
                "at": row.at.astimezone(zone).strftime(self.date_format),
                "paymentGuid": row.payment_guid,
                "method": self.methods.get(row.method, row.method),
                "kind": self.kinds.get(row.kind, row.kind),
                "paymentId": row.payment_id,
                "paymentDate": row.paid_at.astimezone(biller_zone).strftime(self.payment_date_format),
                "transactionDate": row.occurred_at.astimezone(biller_zone).strftime(self.payment_date_format),
                "fee": money.cents_to_text(row.fee_cents),
                "cardType": row.card_type,
                "reasonCode": row.reason_code,
            }
            writer.writerow([_formula_safe(field, values[field]) for _, field in self.columns])
        return buffer.getvalue().encode(self.encoding)

    def read(self, data: bytes) -> list[ExportedRow]:
        """A written file read back (the tie-out's totals of what the biller was handed): each row's
        amount and fee in cents, and our kind, payment id, Invoice Cloud payment id and method where the
        format has their columns. ``ValueError`` when the bytes are not a file of this format."""
        reader = csv.reader(io.StringIO(data.decode(self.encoding)), delimiter=self.delimiter, quotechar=self.quotechar)
        header = next(reader, None)
        if header != [name for name, _ in self.columns]:
            raise ValueError(f"the header is not the format {self.format}'s")
        kinds = {word: kind for kind, word in self.kinds.items()}
        methods = {word: method for method, word in self.methods.items()}
        found = []
        for line, cells in enumerate(reader, start=2):
            if len(cells) != len(self.columns):
                raise ValueError(f"line {line} has {len(cells)} cells, the header {len(self.columns)}")
            values = {field: _unquoted(field, cell) for (_, field), cell in zip(self.columns, cells, strict=True)}
            try:
                cents = money.parse_cents(values["amount"])
                fee = money.parse_cents(values["fee"]) if values.get("fee") else 0
            except money.MoneyError:
                raise ValueError(f"line {line}: an amount that is not one") from None
            found.append(
                ExportedRow(
                    cents=cents,
                    fee_cents=fee,
                    kind=kinds.get(values.get("kind", ""), values.get("kind", "")),
                    payment_id=values.get("paymentId", ""),
                    payment_guid=values.get("paymentGuid", ""),
                    method=methods.get(values.get("method", ""), values.get("method", "")),
                )
            )
        return found


@lru_cache(maxsize=4)
def get_export_format(name: str) -> ExportFormat:
    try:
        return ExportFormat.model_validate(load_format(name))
    except FormatNotFoundError as exc:
        raise ExportFormatError(str(exc)) from None
    except ValidationError as exc:
        raise ExportFormatError(f"the format {name!r} is not valid: {exc.errors()[0]['msg']}") from None
