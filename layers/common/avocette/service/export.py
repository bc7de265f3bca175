"""The biller's daily export (DESIGN §6e): yesterday's credits and reversals, per invoice, as the
file the billing system imports, to the exports bucket as ``exports/<day>.csv``.

Deterministic: the file of a day is made from that day's ledger alone, in a fixed order, so a
re-run writes the same bytes. Each credit it carried gets ``exportedAt`` (once; a re-run moves
nothing), which is what lets a later billing file account for it (DESIGN §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock
from avocette.biller.export_file import get_export_format
from avocette.domain.billing import InvoiceRef
from avocette.domain.export import export_rows
from avocette.settings.ledger import LedgerSettings
from avocette.store import billing as billing_store
from avocette.store import files, jobs
from avocette.store import ledger as ledger_store

__all__ = ["ExportResult", "export_day"]

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


def export_day(day: date | None = None, *, ledger: LedgerSettings, bucket: str) -> ExportResult:
    """Write the export of ``day`` (default: yesterday, UTC) to ``bucket`` and mark what it carried."""
    settings = ledger
    export_format = get_export_format(settings.biller_export_format)
    now = clock.utc_now()
    day = day or (now - timedelta(days=1)).date()
    entries = list(ledger_store.list_day(day.isoformat()))
    rows = export_rows(entries)
    key = export_format.key(day)
    files.put_bytes(bucket, key, export_format.render(rows), content_type="text/csv; charset=utf-8")
    newly = 0
    for entry in entries:
        if entry.exported_at is not None:
            continue
        # The invoices first: should this stop half-way, a re-run finds the entry not marked yet.
        for ref in entry.invoices:
            account, invoice = ref.split("/", 1)
            billing_store.mark_credit_exported(
                InvoiceRef(account_number=account, invoice_number=invoice), entry.credit_key, now
            )
        newly += ledger_store.mark_exported(entry, now)
    result = ExportResult(day.isoformat(), bucket, key, len(rows), len(entries), newly)
    metrics.add_metric(name="ExportRows", unit=MetricUnit.Count, value=len(rows))
    metrics.add_metric(name="ExportRun", unit=MetricUnit.Count, value=1)
    logger.info("Biller export written", extra={"day": result.day, "key": key, "rows": len(rows), "newly": newly})
    jobs.record_run("export_payments", now, {"day": result.day, "rows": len(rows)})  # as a re-run would
    return result
