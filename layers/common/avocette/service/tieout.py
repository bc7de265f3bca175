"""The daily tie-out (DESIGN §6f): for a day of the biller's zone, Invoice Cloud's payment files against
our ledger against the export, written beside the export as ``tieout/<day>.json``.

``export_payments`` runs it after each export: for the day it exported, and again for the
``TIEOUT_GRACE_DAYS`` days before, whose Invoice Cloud files (and the postbacks they recover) may
have come late. A day that still does not tie out when its grace has passed counts in the
``TieOutUnbalanced`` metric (alarmed). What "ties out" means is :mod:`avocette.domain.tieout`'s.

What it reads for a day D: the Invoice Cloud files reconciled under the days D-1 to D+2 (their rows
of D, once each however many files list them: a file of a UTC day holds rows of two days of the
biller's); the ledger partitions from D-1 (UTC) to today (the entries whose money Invoice Cloud dates
on D, however late we recorded them, and those recorded on D); the export of D; the status of each
payment named. Nothing but identifiers and amounts goes into the file.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta, tzinfo

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock
from avocette.biller.export_file import ExportFormat, get_export_format
from avocette.domain.export import ExportedRow
from avocette.domain.ledger import LedgerEntry, day_bounds
from avocette.domain.postbacks import PaymentMethod
from avocette.domain.reconciliation import PaymentFileRow, RowKind, reversal_identity, row_identity
from avocette.domain.tieout import TieOut, payments_to_ask, tie_out
from avocette.invoicecloud.payment_file import PaymentFileFormat, get_payment_file_format
from avocette.settings.ledger import LedgerSettings, get_ledger_settings
from avocette.settings.portal import get_biller_time_zone
from avocette.settings.postbacks import get_postback_settings
from avocette.settings.resources import get_exports_bucket, get_inbound_bucket
from avocette.store import files, reconciliations
from avocette.store import ledger as ledger_store
from avocette.store import payments as payments_store

__all__ = ["TieOutReads", "TieOutRules", "tie_out_day", "tie_out_days", "tieout_key", "write_tie_out"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

# Invoice Cloud's files whose key names a day from this many days before to this many after D hold
# D's rows (a file of a UTC day, or one listing the day before's late payments).
_FILES_BEFORE, _FILES_AFTER = 1, 2


def tieout_key(day: date) -> str:
    """Where the tie-out of ``day`` goes in the exports bucket, beside ``exports/<day>.csv``."""
    return f"tieout/{day.isoformat()}.json"


@dataclass(frozen=True)
class TieOutRules:
    """What the tie-out reads, as its caller loaded it: the money rules' settings (the formats of
    Invoice Cloud's file and of the export, TIEOUT_GRACE_DAYS), the biller's zone, the buckets, and
    how PaymentTypeIDs read (the totals by method)."""

    ledger: LedgerSettings
    zone: tzinfo
    exports_bucket: str
    inbound_bucket: str
    payment_type_ids: Mapping[str, PaymentMethod]

    @classmethod
    def from_environment(cls) -> TieOutRules:
        return cls(
            ledger=get_ledger_settings(),
            zone=get_biller_time_zone(),
            exports_bucket=get_exports_bucket(),
            inbound_bucket=get_inbound_bucket(),
            payment_type_ids=get_postback_settings().ic_payment_type_ids,
        )


@dataclass
class _File:
    rows: list[PaymentFileRow]
    unreadable: list[str]


@dataclass
class TieOutReads:
    """What a run reads, each once however many days it ties out: ledger partitions and Invoice
    Cloud's files."""

    rules: TieOutRules
    partitions: dict[str, list[LedgerEntry]] = field(default_factory=dict)
    payment_files: dict[str, _File] = field(default_factory=dict)
    reconciled: dict[date, list[str]] = field(default_factory=dict)

    def entries(self, first: date, last: date) -> list[LedgerEntry]:
        """The ledger entries recorded on the UTC days ``first`` to ``last``."""
        found: list[LedgerEntry] = []
        day = first
        while day <= last:
            key = day.isoformat()
            if key not in self.partitions:
                self.partitions[key] = list(ledger_store.list_day(key))
            found.extend(self.partitions[key])
            day += timedelta(days=1)
        return found

    def files_of(self, day: date) -> list[str]:
        if day not in self.reconciled:
            self.reconciled[day] = reconciliations.list_reconciled_files(day)
        return self.reconciled[day]

    def payment_file(self, key: str, file_format: PaymentFileFormat) -> _File:
        if key not in self.payment_files:
            self.payment_files[key] = self._read_file(key, file_format)
        return self.payment_files[key]

    def _read_file(self, key: str, file_format: PaymentFileFormat) -> _File:
        """A file's rows as reconciliation read them (the n-th of identical rows numbered so), and its
        rows that cannot be read, by line. A file that is gone is one unreadable row (line 0)."""
        read = _File([], [])
        seen: Counter[tuple[str, ...]] = Counter()
        try:
            with files.open_text(self.rules.inbound_bucket, key, encoding=file_format.encoding) as lines:
                reader = csv.reader(lines, delimiter=file_format.delimiter, quotechar=file_format.quotechar)
                header = [name.strip().removeprefix("\ufeff") for name in next(reader, [])]
                for values in reader:
                    row = (
                        file_format.read_row(reader.line_num, dict(zip(header, values, strict=True)))
                        if len(values) == len(header)
                        else None
                    )
                    if not isinstance(row, PaymentFileRow):
                        read.unreadable.append(f"{key} line {reader.line_num}")
                        continue
                    seen[row.sameness] += 1
                    read.rows.append(replace(row, ordinal=seen[row.sameness]))
        except (files.ObjectNotFoundError, csv.Error, UnicodeDecodeError):
            read.unreadable.append(f"{key} line 0 (the file cannot be read)")
        return read


def _rows_once(found: Iterable[PaymentFileRow]) -> list[PaymentFileRow]:
    """Each row once, however many files list it: a payment by its payment id and invoice, a reversal
    by its identity (DESIGN §5) — what reconciliation applies once."""
    rows: dict[str, PaymentFileRow] = {}
    for row in found:
        identity = row_identity(row) if row.kind is RowKind.PAYMENT else "R" + reversal_identity(row)
        rows.setdefault(identity, row)
    return list(rows.values())


def tie_out_day(day: date, rules: TieOutRules, reads: TieOutReads | None = None) -> TieOut:
    """Compute the tie-out of ``day`` (of the biller's zone) as things stand now; writes nothing."""
    reads = reads or TieOutReads(rules)
    now = clock.utc_now()
    zone = rules.zone
    file_format = get_payment_file_format(rules.ledger.ic_payment_file_format)
    keys = [
        key
        for offset in range(-_FILES_BEFORE, _FILES_AFTER + 1)
        for key in reads.files_of(day + timedelta(days=offset))
    ]
    found: list[PaymentFileRow] = []
    unreadable: list[str] = []
    for key in keys:
        read = reads.payment_file(key, file_format)
        found.extend(read.rows)
        if file_format.day_of(key) == day:
            unreadable.extend(read.unreadable)
    rows = _rows_once(found)
    start, end = day_bounds(day, zone)
    entries = reads.entries(start.date() - timedelta(days=1), max(now.date(), end.date()))
    recorded = [entry for entry in entries if start <= entry.at < end]
    export_format = get_export_format(rules.ledger.biller_export_format)
    export_key = export_format.key(day)
    exported = _read_export(rules.exports_bucket, export_key, export_format)
    # Only the payments Invoice Cloud and our ledger disagree on: a day that ties out reads none.
    asked = payments_to_ask(day, zone, rows=rows, dated=entries)
    payments = payments_store.get_payments(sorted(asked)) if asked else {}
    today = now.astimezone(zone).date()
    return tie_out(
        day,
        zone,
        rows=rows,
        files=[key for key in keys if key in reads.payment_files],
        unreadable=unreadable,
        dated=entries,
        recorded=recorded,
        exported=exported,
        export_key=export_key,
        export_fields=frozenset(field for _, field in export_format.columns),
        statuses={payment_id: payments[payment_id].status if payment_id in payments else None for payment_id in asked},
        methods=rules.payment_type_ids,
        computed_at=now,
        grace_days=rules.ledger.tieout_grace_days,
        final=(today - day).days > rules.ledger.tieout_grace_days,
    )


def _read_export(bucket: str, key: str, export_format: ExportFormat) -> list[ExportedRow] | None:
    """The export of the day read back; ``None`` when there is none, or it is not a file of its format
    (made by another format before a change: remake it with ``{"day": ...}``)."""
    try:
        return export_format.read(files.get_bytes(bucket, key))
    except files.ObjectNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        logger.warning("The export cannot be read back by its format", extra={"key": key})
        return None


def tie_out_days(day: date, rules: TieOutRules) -> list[TieOut]:
    """Tie out ``day`` and the ``TIEOUT_GRACE_DAYS`` days before it, write each beside its export
    (``tieout/<day>.json``), and count the days whose grace has passed and still do not tie out
    (``TieOutUnbalanced``, alarmed)."""
    reads = TieOutReads(rules)
    done = []
    unbalanced = 0
    for age in range(rules.ledger.tieout_grace_days + 1):
        result = tie_out_day(day - timedelta(days=age), rules, reads)
        write_tie_out(result, rules.exports_bucket)
        done.append(result)
        if not result.ties_out:
            unbalanced += result.final
            metrics.add_metric(name="TieOutPending", unit=MetricUnit.Count, value=int(not result.final))
            logger.warning(
                "The day does not tie out",
                extra={"day": result.day.isoformat(), "final": result.final, "differences": len(result.differences)},
            )
    metrics.add_metric(name="TieOutUnbalanced", unit=MetricUnit.Count, value=unbalanced)
    return done


def write_tie_out(result: TieOut, bucket: str) -> str:
    """The tie-out as ``tieout/<day>.json`` in the exports bucket (identifiers and amounts only)."""
    key = tieout_key(result.day)
    body = json.dumps(result.as_dict(), indent=2, sort_keys=False) + "\n"
    files.put_bytes(bucket, key, body.encode(), content_type="application/json")
    return key
