"""The biller's daily export (DESIGN §6e): the credits and reversals recorded on a day of the biller's
zone (``BILLER_TIME_ZONE``), per invoice, as the file the billing system imports, to the exports
bucket as ``exports/<day>.csv``.

Deterministic: the file of a day is made from the entries recorded in that day alone (from the two
UTC ledger partitions it overlaps; 23 or 25 hours on the days the clocks change), in a fixed order,
so a re-run writes the same bytes. Each credit it carried gets ``exportedAt`` and the export's day
(once; a re-run moves nothing), which is what lets a later billing file account for it (DESIGN §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock
from avocette.biller.export_file import get_export_format
from avocette.domain.billing import InvoiceRef
from avocette.domain.export import export_rows
from avocette.service.tieout import TieOutRules, tie_out_days
from avocette.settings.ledger import LedgerSettings
from avocette.store import billing as billing_store
from avocette.store import files, jobs
from avocette.store import ledger as ledger_store

__all__ = ["ExportResult", "close_day", "export_day", "local_yesterday"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()


@dataclass(frozen=True)
class ExportResult:
    day: str
    bucket: str
    key: str
    rows: int
    entries: int
    newly_exported: int  # entries this run marked exported (0 on a re-run)

    def as_dict(self) -> dict[str, str | int]:
        return {
            "day": self.day,
            "bucket": self.bucket,
            "key": self.key,
            "rows": self.rows,
            "entries": self.entries,
            "newlyExported": self.newly_exported,
        }


def local_yesterday(zone: tzinfo) -> date:
    """The day before today in ``zone``: the day the export runs for, just after the biller's midnight."""
    return clock.utc_now().astimezone(zone).date() - timedelta(days=1)


def export_day(day: date | None = None, *, ledger: LedgerSettings, bucket: str, zone: tzinfo) -> ExportResult:
    """Write the export of ``day`` (a day of ``zone``, the biller's; default: yesterday there) to
    ``bucket`` and mark what it carried."""
    export_format = get_export_format(ledger.biller_export_format)
    now = clock.utc_now()
    day = day or local_yesterday(zone)
    entries = ledger_store.list_local_day(day, zone)
    rows = export_rows(entries)
    key = export_format.key(day)
    files.put_bytes(bucket, key, export_format.render(rows, zone), content_type="text/csv; charset=utf-8")
    newly = 0
    for entry in entries:
        if entry.exported_at is not None:
            continue
        # The invoices first: should this stop half-way, a re-run finds the entry not marked yet.
        for ref in entry.invoices:
            billing_store.mark_credit_exported(InvoiceRef.from_key(ref), entry.credit_key, now, day)
        newly += ledger_store.mark_exported(entry, now)
    result = ExportResult(day.isoformat(), bucket, key, len(rows), len(entries), newly)
    metrics.add_metric(name="ExportRows", unit=MetricUnit.Count, value=len(rows))
    metrics.add_metric(name="ExportRun", unit=MetricUnit.Count, value=1)
    logger.info("Biller export written", extra={"day": result.day, "key": key, "rows": len(rows), "newly": newly})
    jobs.record_run("export_payments", now, {"day": result.day, "rows": len(rows)})  # as a re-run would
    return result


def close_day(day: date | None, *, rules: TieOutRules) -> dict[str, Any]:
    """What ``export_payments`` does each night, just after the biller's midnight: the export of
    ``day`` (default: yesterday in the biller's zone), then the tie-out of that day and of the
    ``TIEOUT_GRACE_DAYS`` days before it (DESIGN §6f)."""
    result = export_day(day, ledger=rules.ledger, bucket=rules.exports_bucket, zone=rules.zone)
    tied = tie_out_days(date.fromisoformat(result.day), rules)
    return result.as_dict() | {
        "tieOut": [
            {
                "day": done.day.isoformat(),
                "tiesOut": done.ties_out,
                "final": done.final,
                "differences": len(done.differences),
            }
            for done in tied
        ]
    }
