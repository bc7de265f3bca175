"""What an import did: the report written beside its file as ``<key>.report.json``. Never a cell's value.

The first part serves any file import (a status, problems by line, column and reason, listing caps
with "omitted" counters, timestamps, where the report goes); the second is the billing import's
report. Another import's report declares its own fields, in the order its JSON should show them,
and mixes :class:`ReportProblems` in for the counts and the JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Protocol

from pydantic import Field, PlainSerializer

from avocette import clock
from avocette.api.common import CamelModel, optional
from avocette.store.files import report_key

__all__ = [
    "MAX_LISTED",
    "AccountCounts",
    "Counts",
    "ImportReport",
    "ImportStatus",
    "InvoiceCounts",
    "Problem",
    "ProblemLike",
    "ProblemListing",
    "ReportProblems",
    "Timestamp",
    "report_key",
]

MAX_LISTED = 1000

Timestamp = Annotated[datetime, PlainSerializer(clock.timestamp, return_type=str)]


class ImportStatus(StrEnum):
    IMPORTED = "IMPORTED"  # every row was read; bad rows are listed, not fatal
    REJECTED = "REJECTED"  # the key, the header or the encoding is wrong: dropping it again will not help
    FAILED = "FAILED"  # DynamoDB or the file's storage kept failing: drop the same file again


class Counts(CamelModel):
    written: int = 0
    unchanged: int = Field(0, description="Unchanged: newer data already stored.")


class Problem(CamelModel):
    row: int
    column: str
    reason: str


class ProblemLike(Protocol):
    """A domain's own description of a problem (e.g. ``billing_file.RowProblem``): line, column, reason."""

    @property
    def row(self) -> int: ...

    @property
    def column(self) -> str: ...

    @property
    def reason(self) -> str: ...


class ProblemListing:
    """Problems listed for the first ``cap`` entries (a bad row, which may list several columns, or
    a warning), then only counted. Used from the thread that reads the file."""

    def __init__(self, cap: int = MAX_LISTED) -> None:
        self.cap = cap
        self.count = 0
        self.listed: list[Problem] = []

    def add(self, problems: Iterable[ProblemLike]) -> None:
        """One entry (a bad row, or one warning) and its problems."""
        self.count += 1
        if self.count <= self.cap:
            self.listed.extend(Problem(row=item.row, column=item.column, reason=item.reason) for item in problems)

    @property
    def omitted(self) -> int:
        return max(0, self.count - self.cap)


class _ListsProblems(Protocol):
    @property
    def bad_rows(self) -> list[Problem]: ...

    @property
    def bad_rows_omitted(self) -> int: ...

    @property
    def warnings(self) -> list[Problem]: ...

    @property
    def warnings_omitted(self) -> int: ...

    def model_dump_json(self, *, by_alias: bool | None = None, indent: int | None = None) -> str: ...


class ReportProblems:
    """For a report model with ``bad_rows``, ``bad_rows_omitted``, ``warnings`` and ``warnings_omitted``
    (mixed in before :class:`CamelModel`; it declares no field, so the model's own order holds)."""

    @property
    def bad_row_count(self: _ListsProblems) -> int:
        """Bad rows, listed or not (a bad row may list several columns)."""
        return len({problem.row for problem in self.bad_rows}) + self.bad_rows_omitted

    @property
    def warning_count(self: _ListsProblems) -> int:
        return len(self.warnings) + self.warnings_omitted

    def to_json(self: _ListsProblems) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


# ---- the billing import's report -----------------------------------------------------------------


class AccountCounts(Counts):
    links_removed: int = Field(
        0, description="Links removed because the account's registration value changed (it changed hands)."
    )


class InvoiceCounts(Counts):
    closed: int = 0


class ImportReport(ReportProblems, CamelModel):
    """What a billing import did, written beside the file as ``<key>.report.json``. Never a cell's value."""

    key: str
    as_of: Timestamp | None
    full: bool
    status: ImportStatus
    reason: str | None = optional()
    rows: int = 0
    accounts: AccountCounts = Field(default_factory=AccountCounts)
    invoices: InvoiceCounts = Field(default_factory=InvoiceCounts)
    bad_rows: list[Problem] = Field(default_factory=list)
    bad_rows_omitted: int = 0
    warnings: list[Problem] = Field(default_factory=list)
    warnings_omitted: int = 0
    started_at: Timestamp
    finished_at: Timestamp

    def summary(self) -> str:
        """A few lines for people (the command line): counts and reasons, no cell values."""
        lines = [
            f"{self.status.value}: {self.key} (as of {clock.timestamp(self.as_of) if self.as_of else '-'}"
            f"{', full' if self.full else ''})"
        ]
        if self.reason:
            lines.append(f"  reason: {self.reason}")
        lines.append(f"  rows read: {self.rows}, bad rows: {self.bad_row_count}, warnings: {self.warning_count}")
        lines.append(f"  accounts: {self.accounts.written} written, {self.accounts.unchanged} unchanged")
        lines.append(
            f"  invoices: {self.invoices.written} written, {self.invoices.unchanged} unchanged, "
            f"{self.invoices.closed} closed"
        )
        return "\n".join(lines)
