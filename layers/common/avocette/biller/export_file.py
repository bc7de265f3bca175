"""The biller's payment import, written by a format that is data (``BILLER_EXPORT_FORMAT``).

The billing system's real import layout is not known yet, so it lives in a format file of
``avocette/formats``: the key, the CSV dialect, the columns in order (each a header and one of our
fields), the date format and time zone, and the words for kinds and methods.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from avocette import money
from avocette.biller.cells import formula_safe
from avocette.domain.export import ExportRow
from avocette.formats import FormatNotFoundError, load_format

__all__ = ["ExportFormat", "ExportFormatError", "get_export_format"]

ExportField = Literal["accountNumber", "invoiceNumber", "amount", "at", "paymentGuid", "method", "kind", "paymentId"]

# A cell a spreadsheet would run as a formula gets a leading quote (biller.cells): the file may be
# opened in one, and Invoice Cloud's payment id, among others, is not ours to trust. Not the amount: it
# is ours, and a reversal's -10.00 must stay a number.
_NUMBER_FIELDS: frozenset[ExportField] = frozenset({"amount"})


def _formula_safe(field: ExportField, value: str) -> str:
    return value if field in _NUMBER_FIELDS else formula_safe(value)


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
    kinds: dict[str, str] = Field(default_factory=dict)
    methods: dict[str, str] = Field(default_factory=dict)

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

    def render(self, rows: Sequence[ExportRow]) -> bytes:
        """The file's bytes: a header, then one line per row, in the rows' order; every cell but the
        amount that starts like a formula (``=``, ``+``, ``-``, ``@``, tab, CR) with a leading ``'``."""
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
            }
            writer.writerow([_formula_safe(field, values[field]) for _, field in self.columns])
        return buffer.getvalue().encode(self.encoding)


@lru_cache(maxsize=4)
def get_export_format(name: str) -> ExportFormat:
    try:
        return ExportFormat.model_validate(load_format(name))
    except FormatNotFoundError as exc:
        raise ExportFormatError(str(exc)) from None
    except ValidationError as exc:
        raise ExportFormatError(f"the format {name!r} is not valid: {exc.errors()[0]['msg']}") from None
