"""The billing import: the biller's CSV file -> accounts and invoices, and a report beside the file.

The file is read a line at a time and each row is written as soon as it is read, by a small thread
pool with a bounded number of writes in flight, so memory stays flat whatever the file's size (what
grows is one (account, invoice) pair per row, which a full file needs to know what it left out).
Every write is conditional on the file being newer than what is stored (see
``avocette.store.billing``): importing a file twice, or an older file after a newer one, changes
nothing, so a failed import is retried by dropping the same file again.

This module says what a billing row means and which writes it makes; the reading, the pool and the
stops are :mod:`avocette.service.rowstream.stream`'s, the report's pieces
:mod:`avocette.service.rowstream.report`'s, S3 :mod:`avocette.store.files`'.

Logs and metrics carry counts, the key and the as-of time only: every cell is payer data.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError

from avocette import SERVICE_NAME, clock
from avocette.biller import billing_file
from avocette.biller.billing_file import BillingKeyError, HeaderError, ParsedRow
from avocette.domain.changes import ChangeEvent, ChangeKind, portal_user_ref
from avocette.domain.files import RowProblem
from avocette.errors import ConfigurationError, StoreUnavailableError
from avocette.service.rowstream.report import (
    MAX_LISTED,
    AccountCounts,
    Counts,
    ImportReport,
    ImportStatus,
    InvoiceCounts,
    Problem,
    report_key,
)
from avocette.service.rowstream.stream import (
    MAX_IN_FLIGHT,
    WORKERS,
    ImportStopped,
    Outcome,
    RowImporter,
    Run,
    Tally,
    stream_rows,
)
from avocette.settings.ledger import get_ledger_settings
from avocette.settings.portal import get_biller_time_zone
from avocette.settings.registration import get_registration_hash_key
from avocette.store import billing as billing_store
from avocette.store import files
from avocette.store.table import dynamodb, table_name

__all__ = [
    "MAX_IN_FLIGHT",
    "MAX_LISTED",
    "WORKERS",
    "Counts",
    "ImportReport",
    "ImportRules",
    "ImportStatus",
    "InvoiceCounts",
    "Problem",
    "import_billing",
    "import_s3_object",
    "report_key",
]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

# A byte order mark is tolerated (Excel writes one).
FILE_ENCODING = "utf-8-sig"


@dataclass(frozen=True)
class ImportRules:
    """What importing a billing file needs, as its caller loaded it: how long after the export a
    billing file reflects a credit (DESIGN §5), the registration values' hash key — read when the
    import starts, so that a key that cannot be read fails the import with its report — and the
    biller's zone, whose day a link removed by the file belongs to in the change log (DESIGN §6g)."""

    settlement_lag_hours: int
    hash_key: Callable[[], bytes]
    time_zone: Callable[[], tzinfo] = get_biller_time_zone

    @classmethod
    def from_environment(cls) -> ImportRules:
        """The settings an import reads (the hash key and the zone when it starts)."""
        return cls(
            settlement_lag_hours=get_ledger_settings().settlement_lag_hours,
            hash_key=get_registration_hash_key,
            time_zone=get_biller_time_zone,
        )


class _BillingRows(RowImporter):
    """One billing file: what its rows mean, the writes they make, and what it named."""

    label = "Billing import"
    thread_name_prefix = "billing-import"
    left_undone = "no invoice was closed"

    def __init__(self, as_of: datetime, full: bool, rules: ImportRules) -> None:
        self.rules = rules
        self.as_of = as_of
        self.full = full
        self.header: list[str] = []
        self.hash_key = b""
        self.time_zone: tzinfo = UTC
        self.settlement_lag_hours = 0
        self.accounts = Tally()
        self.invoices = Tally()
        self.closed = 0
        self.links_removed = 0
        self._links_lock = threading.Lock()
        # (account, invoice) -> first line: finds repeated rows, and tells a full file what it lists.
        self.seen: dict[tuple[str, str], int] = {}
        # account -> (first line, profile fingerprint): the first row's profile wins.
        self.profiles: dict[str, tuple[int, bytes]] = {}

    def read_header(self, names: list[str] | None) -> None:
        try:
            billing_file.check_header(names)
        except HeaderError as exc:
            raise ImportStopped(ImportStatus.REJECTED, str(exc), "header") from None
        self.header = [name.strip() for name in names or ()]

    def prepare(self) -> None:
        """The hash key (read once per import), and the DynamoDB client made here: boto3 makes clients
        safely from one thread, not from the pool's."""
        try:
            self.hash_key = self.rules.hash_key()
            self.time_zone = self.rules.time_zone()
            dynamodb()
            table_name()
        except (ConfigurationError, GetParameterError, BotoCoreError) as exc:
            raise ImportStopped(ImportStatus.FAILED, f"configuration: {exc}", "configuration") from None
        self.settlement_lag_hours = self.rules.settlement_lag_hours

    def read_row(self, run: Run, line: int, values: list[str]) -> None:
        row = self._parsed(run, line, values)
        if row is None:
            return
        if self._first_of_account(run, row):
            account = row.account(self.as_of, self.hash_key)
            write_account = partial(
                billing_store.update_account_from_billing,
                account,
                removal_event=partial(self._removal_event, row.account_number),
                on_new_proof=self._unlinked,
            )
            run.submit(write_account, self.accounts, row=False)
        invoice = row.invoice(self.as_of)
        write = partial(
            billing_store.update_invoice_from_billing,
            invoice,
            settlement_lag_hours=self.settlement_lag_hours,
            posted_through=row.posted_through_as_of(self.as_of),
        )
        run.submit(write, self.invoices, row=True)

    def _removal_event(self, account_number: str, sub: str) -> ChangeEvent:
        """The change-log event of a link this file removes (the account changed hands), as of now."""
        return ChangeEvent.recorded(
            ChangeKind.LINK_REMOVED_OCCUPANT_CHANGE,
            account_number,
            at=clock.utc_now(),
            zone=self.time_zone,
            event_id=uuid.uuid4().hex,
            portal_user=portal_user_ref(self.hash_key, sub),
        )

    def _unlinked(self, removed: int) -> None:
        with self._links_lock:  # from the pool's threads
            self.links_removed += removed

    def _parsed(self, run: Run, line: int, values: list[str]) -> ParsedRow | None:
        """A row's cells checked; a bad row is recorded and answers ``None``.

        The (account, invoice) of every row whose numbers are readable is remembered, bad or not:
        the file lists that invoice, and a later row naming it again is a repeat."""
        shape = billing_file.shape_problem(line, len(values), len(self.header))
        cells = dict(zip(self.header, values, strict=False))
        ref = billing_file.row_ref(cells)
        first = self.seen.setdefault(ref, line) if ref else line
        parsed = billing_file.parse_row(line, cells) if shape is None else [shape]
        if isinstance(parsed, ParsedRow) and first == line:
            return parsed
        problems = [] if isinstance(parsed, ParsedRow) else parsed
        if first != line:
            problems.append(RowProblem(line, "InvoiceNumber", f"repeats the invoice of line {first}"))
        run.bad_row(problems)
        return None

    def _first_of_account(self, run: Run, row: ParsedRow) -> bool:
        """True for an account's first valid row; later rows whose profile differs are warned about."""
        fingerprint = row.profile.fingerprint()
        known = self.profiles.get(row.account_number)
        if known is None:
            self.profiles[row.account_number] = (row.line, fingerprint)
            return True
        first_line, first_fingerprint = known
        for column in billing_file.differing_columns(first_fingerprint, fingerprint):
            run.warn(RowProblem(row.line, column, f"differs from line {first_line}; the first row's value is kept"))
        return False

    def finish(self, run: Run) -> None:
        """A full file closes the open invoices it did not list (a bad row's invoice is listed)."""
        if not self.full:
            return
        try:
            self.closed = billing_store.close_absent_invoices(self.as_of, self.seen, executor=run.pool)
        except StoreUnavailableError:
            raise  # the run reports it as FAILED, with the reason of any unavailable store
        except Exception as exc:  # a bug or a misconfiguration: reported by its type, which quotes no data
            reason = f"closing absent invoices failed ({type(exc).__name__})"
            raise ImportStopped(ImportStatus.FAILED, reason, "close") from None

    def report(self, key: str, outcome: Outcome, *, started_at: datetime) -> ImportReport:
        run = outcome.run
        return ImportReport(
            key=key,
            as_of=self.as_of,
            full=self.full,
            status=outcome.status,
            reason=outcome.reason,
            rows=run.rows,
            accounts=AccountCounts(
                written=self.accounts.written, unchanged=self.accounts.unchanged, links_removed=self.links_removed
            ),
            invoices=InvoiceCounts(
                written=self.invoices.written, unchanged=self.invoices.unchanged, closed=self.closed
            ),
            bad_rows=run.bad_rows.listed,
            bad_rows_omitted=run.bad_rows.omitted,
            warnings=run.warnings.listed,
            warnings_omitted=run.warnings.omitted,
            started_at=started_at,
            finished_at=clock.utc_now(),
        )


def import_billing(
    lines: Iterable[str], *, key: str, rules: ImportRules, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import a billing file given as lines of text (a BOM is tolerated) under its S3 key.

    ``progress`` is called, from this thread, with the number of data rows done so far. Answers the
    report; raises nothing for a bad file (REJECTED) or a failing DynamoDB (FAILED): the report says."""
    started_at = clock.utc_now()
    try:
        as_of, full = billing_file.parse_key(key)
        billing_file.check_as_of(as_of, started_at)
    except BillingKeyError as exc:
        report = ImportReport(
            key=key,
            as_of=None,
            full=False,
            status=ImportStatus.REJECTED,
            reason=str(exc),
            started_at=started_at,
            finished_at=clock.utc_now(),
        )
        return _finish(report, category="key")
    rows = _BillingRows(as_of, full, rules)
    logger.info("Billing import started", extra={"key": key, "as_of": clock.timestamp(as_of), "full": full})
    outcome = stream_rows(rows, lines, key=key, logger=logger, progress=progress)
    return _finish(rows.report(key, outcome, started_at=started_at), category=outcome.stopped_by)


def _finish(report: ImportReport, *, category: str | None) -> ImportReport:
    rejected = report.bad_row_count + (1 if report.status is ImportStatus.REJECTED else 0)
    metrics.add_metric(name="BillingRowsRejected", unit=MetricUnit.Count, value=rejected)
    metrics.add_metric(name="BillingRowsImported", unit=MetricUnit.Count, value=report.invoices.written)
    metrics.add_metric(name="BillingInvoicesClosed", unit=MetricUnit.Count, value=report.invoices.closed)
    fields = {
        "key": report.key,
        "as_of": clock.timestamp(report.as_of) if report.as_of else None,
        "status": report.status.value,
        "stopped_by": category,
        "rows": report.rows,
        "bad_rows": report.bad_row_count,
        "warnings": report.warning_count,
        "accounts_written": report.accounts.written,
        "accounts_unchanged": report.accounts.unchanged,
        "invoices_written": report.invoices.written,
        "invoices_unchanged": report.invoices.unchanged,
        "invoices_closed": report.invoices.closed,
    }
    if report.status is ImportStatus.IMPORTED:
        logger.info("Billing import finished", extra=fields)
    else:
        logger.warning("Billing import stopped", extra=fields)
    return report


# ---- S3 -----------------------------------------------------------------------------------------


def _object_lines(s3: Any, bucket: str, key: str, version_id: str | None) -> files.TextObject:
    """The object's lines as the import reads them, through ``s3`` (the client, or a stand-in):
    fetched only when the first is asked for (a rejected key reads nothing), a chunk at a time."""
    return files.open_text(bucket, key, encoding=FILE_ENCODING, version_id=version_id, client=s3)


def import_s3_object(bucket: str, key: str, *, rules: ImportRules, version_id: str | None = None) -> ImportReport:
    """Import ``s3://bucket/key`` (streamed) and write the report beside it, at :func:`report_key`."""
    lines = _object_lines(files.s3(), bucket, key, version_id)
    try:
        report = import_billing(lines, key=key, rules=rules)
    finally:
        lines.close()  # a file stopped early still lets go of its connection
    files.put_report(bucket, key, report.to_json())
    return report
