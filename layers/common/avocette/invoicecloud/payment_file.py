"""Invoice Cloud's daily payment file, read by a format that is data (DESIGN §6d).

The layout is unknown until Invoice Cloud sends a real file, so it lives in a format file of
``avocette/formats`` named by ``IC_PAYMENT_FILE_FORMAT``: CSV dialect, the header name of each of
our fields, the date format, the codes meaning each kind of row. This module turns the file's key,
header and rows into the domain's :class:`PaymentFileRow`; what a bad row is gets reported by line
and column with a reason, never with its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from avocette import money
from avocette.domain.files import RowProblem
from avocette.domain.reconciliation import PaymentFileRow, RowKind
from avocette.formats import FormatNotFoundError, load_format
from avocette.invoicecloud.postback import PAYMENT_GUID_RULE, is_payment_guid

__all__ = ["FileField", "FormatError", "PaymentFileFormat", "get_payment_file_format"]

FileField = Literal[
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
    "reference",
]
_MAX_CELL = 256
# A row's moment is shown in the biller's zone (the payer's email): a day inside the calendar's ends.
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


class FormatError(ValueError):
    """The format file itself is unusable (a deployment problem: the setting names a bad file)."""


class PaymentFileFormat(BaseModel):
    """A format file of Invoice Cloud's payment file (see docs/reconciliation.md)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    format: str
    describes: str = ""
    key_pattern: str = Field(alias="keyPattern")
    encoding: str = "utf-8-sig"
    delimiter: str = Field(",", min_length=1, max_length=1)
    quotechar: str = Field('"', min_length=1, max_length=1)
    columns: dict[FileField, str]
    required: list[FileField]
    date_format: str = Field(alias="dateFormat")
    time_zone: str = Field("UTC", alias="timeZone")
    kinds: dict[RowKind, list[str]]

    @field_validator("key_pattern")
    @classmethod
    def _pattern_names_the_day(cls, pattern: str) -> str:
        if "(?P<day>" not in pattern:
            raise ValueError("keyPattern must capture the file's day as (?P<day>YYYY-MM-DD)")
        re.compile(pattern)
        return pattern

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @model_validator(mode="after")
    def _complete(self) -> PaymentFileFormat:
        for needed in ("kind", "paymentGuid", "billerReference", "invoiceNumber", "amount", "date"):
            if needed not in self.columns:
                raise ValueError(f"columns must name the column of {needed}")
        missing = [name for name in self.required if name not in self.columns]
        if missing:
            raise ValueError(f"required fields without a column: {missing}")
        if set(self.kinds) != set(RowKind):
            raise ValueError(
                "kinds must give the codes of PAYMENT, VOID, REFUND, ACH_RETURN, CHARGEBACK and CHARGEBACK_REVERSAL"
            )
        return self

    @property
    def _codes(self) -> dict[str, RowKind]:
        return {code.strip().upper(): kind for kind, codes in self.kinds.items() for code in codes}

    def day_of(self, key: str) -> date | None:
        """The day a file covers, from its key; ``None`` when the key does not fit the format."""
        match = re.match(self.key_pattern, key)
        if match is None:
            return None
        try:
            return date.fromisoformat(match.group("day"))
        except ValueError:
            return None

    def header_problems(self, header: Sequence[str]) -> list[str]:
        """What is wrong with a header row: each column the format needs and the file lacks."""
        present = {name.strip() for name in header}
        return [
            f"no column {self.columns[name]!r} ({name})"
            for name in dict.fromkeys([*self.required, "kind", "amount"])
            if self.columns[name] not in present
        ]

    def read_row(self, line: int, cells: Mapping[str, str]) -> PaymentFileRow | list[RowProblem]:
        """A row (cells by header name) as the domain's row, or why it cannot be one."""
        problems: list[RowProblem] = []

        def cell(name: FileField) -> str:
            column = self.columns.get(name)
            value = (cells.get(column) or "").strip() if column else ""
            if len(value) > _MAX_CELL:
                problems.append(RowProblem(line, column or name, "longer than 256 characters"))
                return ""
            if not value and name in self.required:
                problems.append(RowProblem(line, column or name, "is required"))
            return value

        kind = self._codes.get(cell("kind").upper())
        if kind is None and not any(p.column == self.columns["kind"] for p in problems):
            problems.append(RowProblem(line, self.columns["kind"], "is not a kind this format knows"))
        cents = self._amount(line, "amount", cell("amount"), problems)
        fee = self._amount(line, "fee", cell("fee"), problems) if "fee" in self.columns else 0
        at = self._moment(line, cell("date"), problems)
        row = {name: cell(name) for name in ("paymentGuid", "billerReference", "accountNumber", "invoiceNumber")}
        extra = {name: cell(name) for name in ("paymentTypeId", "reasonCode", "reference") if name in self.columns}
        if cents is not None and cents <= 0 and not problems:
            problems.append(RowProblem(line, self.columns["amount"], "must be above zero"))
        if row["paymentGuid"] and not is_payment_guid(row["paymentGuid"]):
            problems.append(RowProblem(line, self.columns["paymentGuid"], f"is not {PAYMENT_GUID_RULE}"))
        if problems or kind is None or cents is None or at is None:
            return problems
        return PaymentFileRow(
            line=line,
            kind=kind,
            payment_guid=row["paymentGuid"],
            biller_reference=row["billerReference"],
            account_number=row["accountNumber"],
            invoice_number=row["invoiceNumber"],
            cents=cents,
            fee_cents=fee or 0,
            at=at,
            payment_type_id=extra.get("paymentTypeId", ""),
            reason_code=extra.get("reasonCode", ""),
            reference=extra.get("reference", ""),
        )

    def _amount(self, line: int, name: FileField, text: str, problems: list[RowProblem]) -> int | None:
        if not text:
            return 0 if name == "fee" else None
        try:
            cents = money.parse_cents(text)
        except money.MoneyError:
            problems.append(RowProblem(line, self.columns[name], "is not an amount with at most two decimals"))
            return None
        if cents < 0 or cents > 100_000_000:
            problems.append(RowProblem(line, self.columns[name], "must be between 0 and 1,000,000.00"))
            return None
        return cents

    def _moment(self, line: int, text: str, problems: list[RowProblem]) -> datetime | None:
        if not text:
            return None
        try:
            moment = datetime.strptime(text, self.date_format)
        except ValueError:
            problems.append(RowProblem(line, self.columns["date"], f"is not a date in the form {self.date_format}"))
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(self.time_zone))
        try:
            at: datetime | None = moment.astimezone(UTC)
        except OverflowError:  # the calendar's first or last day, in a zone away from UTC
            at = None
        if at is None or not _EARLIEST <= at <= _LATEST:
            problems.append(RowProblem(line, self.columns["date"], "is not a date between 0001-01-02 and 9999-12-30"))
            return None
        return at


@lru_cache(maxsize=4)
def get_payment_file_format(name: str) -> PaymentFileFormat:
    """The format file ``name`` (IC_PAYMENT_FILE_FORMAT), checked; :class:`FormatError` when unusable."""
    try:
        return PaymentFileFormat.model_validate(load_format(name))
    except FormatNotFoundError as exc:
        raise FormatError(str(exc)) from None
    except ValidationError as exc:
        raise FormatError(f"the format {name!r} is not valid: {exc.errors()[0]['msg']}") from None
