"""What a reconciliation of Invoice Cloud's payment file found (DESIGN §6d): the counts and each
discrepancy by identifiers only, written beside the file as ``<key>.report.json``."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from pydantic import Field

from avocette.api.common import CamelModel, optional
from avocette.service.rowstream.report import ImportStatus, Problem, ReportProblems, Timestamp

__all__ = ["Discrepancy", "ReconcileCounts", "ReconcileReport", "Tallies"]


class Discrepancy(CamelModel):
    """One thing ops must look at, by identifiers only."""

    reason: str
    line: int | None = optional()
    payment_id: str | None = optional()
    payment_guid: str | None = optional()
    invoice: str | None = optional("ACCOUNT/INVOICE")
    at: Timestamp | None = optional()


class ReconcileCounts(CamelModel):
    matched: int = 0
    recovered: int = Field(0, description="PAYMENT rows whose postback never arrived, applied now.")
    mismatched: int = Field(0, description="Rows that put their payment under review.")
    under_review: int = Field(0, description="PAYMENT rows of payments already under review: recorded.")
    reversed: int = 0
    reversals_recorded: int = Field(0, description="Reversals of payments under review, reversed or closed.")
    seen_before: int = Field(0, description="Reversals an earlier file already listed: nothing changed.")
    unknown_payment: int = 0
    missing_from_invoice_cloud: int = 0


class ReconcileReport(ReportProblems, CamelModel):
    """What a reconciliation did, written beside the file as ``<key>.report.json``."""

    key: str
    day: date | None
    format: str
    status: ImportStatus
    reason: str | None = optional()
    rows: int = 0
    counts: ReconcileCounts = Field(default_factory=ReconcileCounts)
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    discrepancies_omitted: int = 0
    bad_rows: list[Problem] = Field(default_factory=list)
    bad_rows_omitted: int = 0
    warnings: list[Problem] = Field(default_factory=list)
    warnings_omitted: int = 0
    started_at: Timestamp
    finished_at: Timestamp

    def summary(self) -> str:
        counts = self.counts
        return (
            f"{self.status.value}: {self.rows} rows; matched {counts.matched}, recovered {counts.recovered}, "
            f"mismatched {counts.mismatched}, reversed {counts.reversed}, unknown payments {counts.unknown_payment}, "
            f"missing from Invoice Cloud {counts.missing_from_invoice_cloud}, bad rows {self.bad_row_count}"
            + (f" ({self.reason})" if self.reason else "")
        )


@dataclass
class Tallies:
    """The counts and discrepancies, from the pool's threads."""

    counts: Counter[str] = field(default_factory=Counter)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    omitted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str, discrepancy: Discrepancy | None = None) -> None:
        with self.lock:
            self.counts[name] += 1
            if discrepancy is not None:
                if len(self.discrepancies) < 1000:
                    self.discrepancies.append(discrepancy)
                else:
                    self.omitted += 1
