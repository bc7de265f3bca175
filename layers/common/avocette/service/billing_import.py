"""The billing import: the biller's CSV file -> accounts and invoices, and a report beside the file.

The file is read a line at a time and each row is written as soon as it is read, by a small thread
pool with a bounded number of writes in flight, so memory stays flat whatever the file's size (what
grows is one (account, invoice) pair per row, which a full file needs to know what it left out).
Every write is conditional on the file being newer than what is stored (see
``avocette.store.billing``): importing a file twice, or an older file after a newer one, changes
nothing, so a failed import is retried by dropping the same file again.

Logs and metrics carry counts, the key and the as-of time only: every cell is payer data.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError
from pydantic import Field, PlainSerializer

from avocette import SERVICE_NAME, clock
from avocette.config import ConfigurationError, get_ledger_settings, get_registration_hash_key
from avocette.domain import billing_file
from avocette.domain.billing_file import BillingKeyError, HeaderError, ParsedRow, RowProblem
from avocette.domain.common import CamelModel, optional
from avocette.store import billing as billing_store
from avocette.store.table import StoreUnavailableError, dynamodb, table_name

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

__all__ = [
    "MAX_IN_FLIGHT",
    "MAX_LISTED",
    "WORKERS",
    "Counts",
    "ImportReport",
    "ImportStatus",
    "InvoiceCounts",
    "Problem",
    "import_billing",
    "import_s3_object",
    "report_key",
]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

WORKERS = 8
# Writes submitted but not finished; the reader waits for a free slot, so memory does not grow with
# the file. A few times the pool's size keeps every worker busy.
MAX_IN_FLIGHT = 256
MAX_LISTED = 1000
_PROGRESS_LOG_EVERY = 10_000
_READ_CHUNK = 64 * 1024

Timestamp = Annotated[datetime, PlainSerializer(clock.timestamp, return_type=str)]


class ImportStatus(StrEnum):
    IMPORTED = "IMPORTED"  # every row was read; bad rows are listed, not fatal
    REJECTED = "REJECTED"  # the key, the header or the encoding is wrong: dropping it again will not help
    FAILED = "FAILED"  # DynamoDB or the file's storage kept failing: drop the same file again


class Counts(CamelModel):
    written: int = 0
    unchanged: int = Field(0, description="Unchanged: newer data already stored.")


class InvoiceCounts(Counts):
    closed: int = 0


class Problem(CamelModel):
    row: int
    column: str
    reason: str


class ImportReport(CamelModel):
    """What an import did, written beside the file as ``<key>.report.json``. Never a cell's value."""

    key: str
    as_of: Timestamp | None
    full: bool
    status: ImportStatus
    reason: str | None = optional()
    rows: int = 0
    accounts: Counts = Field(default_factory=Counts)
    invoices: InvoiceCounts = Field(default_factory=InvoiceCounts)
    bad_rows: list[Problem] = Field(default_factory=list)
    bad_rows_omitted: int = 0
    warnings: list[Problem] = Field(default_factory=list)
    warnings_omitted: int = 0
    started_at: Timestamp
    finished_at: Timestamp

    @property
    def bad_row_count(self) -> int:
        """Bad rows, listed or not (a bad row may list several columns)."""
        return len({problem.row for problem in self.bad_rows}) + self.bad_rows_omitted

    @property
    def warning_count(self) -> int:
        return len(self.warnings) + self.warnings_omitted

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)

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


def report_key(key: str) -> str:
    """Where the report of ``key`` goes: beside it (the S3 trigger's ``.csv`` suffix skips it)."""
    return f"{key}.report.json"


class _ImportStopped(Exception):
    """The import cannot go on: the report says why, with this status."""

    def __init__(self, status: ImportStatus, reason: str, category: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.category = category  # for the log line: never the reason, which may name header cells


@dataclass
class _Tally:
    written: int = 0
    unchanged: int = 0


class _Run:
    """The state of one import: counts, listed problems, and what the file named."""

    def __init__(self, key: str, as_of: datetime, full: bool, started_at: datetime) -> None:
        self.key = key
        self.as_of = as_of
        self.full = full
        self.started_at = started_at
        self.rows = 0
        self.done_rows = 0
        self.accounts = _Tally()
        self.invoices = _Tally()
        self.closed = 0
        self.bad_rows: list[Problem] = []
        self.bad_row_count = 0
        self.warnings: list[Problem] = []
        self.warning_count = 0
        # (account, invoice) -> first line: finds repeated rows, and tells a full file what it lists.
        self.seen: dict[tuple[str, str], int] = {}
        # account -> (first line, profile fingerprint): the first row's profile wins.
        self.profiles: dict[str, tuple[int, bytes]] = {}
        self.failure: BaseException | None = None
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)

    # ---- problems ---------------------------------------------------------------------------

    def bad_row(self, problems: list[RowProblem]) -> None:
        """Skip a row: its problems are listed for the first ``MAX_LISTED`` bad rows, then counted."""
        self.bad_row_count += 1
        with self.lock:  # the pool's threads count finished rows too
            self.done_rows += 1
        if self.bad_row_count <= MAX_LISTED:
            self.bad_rows.extend(Problem(row=item.row, column=item.column, reason=item.reason) for item in problems)

    def warn(self, problem: RowProblem) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_LISTED:
            self.warnings.append(Problem(row=problem.row, column=problem.column, reason=problem.reason))

    # ---- rows -------------------------------------------------------------------------------

    def read_row(self, line: int, header: list[str], values: list[str]) -> ParsedRow | None:
        """A row's cells checked; a bad row is recorded and answers ``None``.

        The (account, invoice) of every row whose numbers are readable is remembered, bad or not:
        the file lists that invoice, and a later row naming it again is a repeat."""
        shape = billing_file.shape_problem(line, len(values))
        cells = dict(zip(header, values, strict=False))
        ref = billing_file.row_ref(cells)
        first = self.seen.setdefault(ref, line) if ref else line
        parsed = billing_file.parse_row(line, cells) if shape is None else [shape]
        if isinstance(parsed, ParsedRow) and first == line:
            return parsed
        problems = [] if isinstance(parsed, ParsedRow) else parsed
        if first != line:
            problems.append(RowProblem(line, "InvoiceNumber", f"repeats the invoice of line {first}"))
        self.bad_row(problems)
        return None

    def first_of_account(self, row: ParsedRow) -> bool:
        """True for an account's first valid row; later rows whose profile differs are warned about."""
        fingerprint = row.profile.fingerprint()
        known = self.profiles.get(row.account_number)
        if known is None:
            self.profiles[row.account_number] = (row.line, fingerprint)
            return True
        first_line, first_fingerprint = known
        for column in billing_file.differing_columns(first_fingerprint, fingerprint):
            self.warn(RowProblem(row.line, column, f"differs from line {first_line}; the first row's value is kept"))
        return False

    # ---- writes -----------------------------------------------------------------------------

    def submit(self, pool: ThreadPoolExecutor, write: Callable[[], bool], tally: _Tally, *, row: bool) -> None:
        """Run a write in the pool once a slot is free; its result is counted in ``tally``."""
        self.slots.acquire()
        try:
            future = pool.submit(write)
        except BaseException:
            self.slots.release()
            raise
        future.add_done_callback(partial(self._finished, tally=tally, row=row))

    def _finished(self, future: Future[bool], *, tally: _Tally, row: bool) -> None:
        # Runs in a worker thread, and must never raise; the slot is freed once the result is counted.
        try:
            error = future.exception()
            with self.lock:
                if error is not None:
                    self.failure = self.failure or error
                elif future.result():
                    tally.written += 1
                else:
                    tally.unchanged += 1
                if row and error is None:
                    self.done_rows += 1
        finally:
            self.slots.release()

    def drain(self) -> None:
        """Wait until every write in flight is finished and counted."""
        for _ in range(MAX_IN_FLIGHT):
            self.slots.acquire()
        for _ in range(MAX_IN_FLIGHT):
            self.slots.release()

    # ---- the report -------------------------------------------------------------------------

    def report(self, status: ImportStatus, reason: str | None = None) -> ImportReport:
        return ImportReport(
            key=self.key,
            as_of=self.as_of,
            full=self.full,
            status=status,
            reason=reason,
            rows=self.rows,
            accounts=Counts(written=self.accounts.written, unchanged=self.accounts.unchanged),
            invoices=InvoiceCounts(
                written=self.invoices.written, unchanged=self.invoices.unchanged, closed=self.closed
            ),
            bad_rows=self.bad_rows,
            bad_rows_omitted=max(0, self.bad_row_count - MAX_LISTED),
            warnings=self.warnings,
            warnings_omitted=self.warning_count - len(self.warnings),
            started_at=self.started_at,
            finished_at=clock.utc_now(),
        )


def import_billing(lines: Iterable[str], *, key: str, progress: Callable[[int], None] | None = None) -> ImportReport:
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
    run = _Run(key, as_of, full, started_at)
    logger.info("Billing import started", extra={"key": key, "as_of": clock.timestamp(as_of), "full": full})
    try:
        _import_rows(run, csv.reader(lines), progress)
    except _ImportStopped as stop:
        return _finish(run.report(stop.status, stop.reason), category=stop.category)
    return _finish(run.report(ImportStatus.IMPORTED), category=None)


def _import_rows(run: _Run, reader: CsvReader, progress: Callable[[int], None] | None) -> None:
    header = _read_header(reader)
    hash_key = _prepare()
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="billing-import") as pool:
        try:
            _write_rows(run, reader, header=header, pool=pool, hash_key=hash_key, progress=progress)
        finally:
            run.drain()  # every write in flight is counted before the report is made
        _stop_on_failure(run)
        if run.full:
            try:
                run.closed = billing_store.close_absent_invoices(run.as_of, run.seen, executor=pool)
            except StoreUnavailableError:
                raise _ImportStopped(ImportStatus.FAILED, _UNAVAILABLE, "store") from None
            except Exception as exc:  # a bug or a misconfiguration: reported by its type, which quotes no data
                reason = f"closing absent invoices failed ({type(exc).__name__})"
                raise _ImportStopped(ImportStatus.FAILED, reason, "close") from None
    if progress is not None:
        progress(run.done_rows)


_UNAVAILABLE = "DynamoDB kept failing; drop the same file again (its writes are conditional, so that is safe)"


def _read_header(reader: CsvReader) -> list[str]:
    with _reading(line=1):
        header = next(reader, None)
    if header:
        header = [header[0].removeprefix(codecs.BOM_UTF8.decode()), *header[1:]]
    try:
        billing_file.check_header(header)
    except HeaderError as exc:
        raise _ImportStopped(ImportStatus.REJECTED, str(exc), "header") from None
    return [name.strip() for name in header or ()]


def _prepare() -> bytes:
    """The hash key (read once per import), and the DynamoDB client made here: boto3 makes clients
    safely from one thread, not from the pool's."""
    try:
        hash_key = get_registration_hash_key()
        dynamodb()
        table_name()
    except (ConfigurationError, GetParameterError, BotoCoreError) as exc:
        raise _ImportStopped(ImportStatus.FAILED, f"configuration: {exc}", "configuration") from None
    return hash_key


def _write_rows(
    run: _Run,
    reader: CsvReader,
    *,
    header: list[str],
    pool: ThreadPoolExecutor,
    hash_key: bytes,
    progress: Callable[[int], None] | None,
) -> None:
    """Read rows until the end (or a failed write) and hand each good one to the pool."""
    lag_hours = get_ledger_settings().settlement_lag_hours
    line = reader.line_num
    while run.failure is None:
        with _reading(line=line + 1):
            values = next(reader, None)
        if values is None:
            return
        # A record starts on the line after the previous one ended (a quoted cell may span lines).
        first_line, line = line + 1, reader.line_num
        if not values:  # a blank line
            continue
        run.rows += 1
        row = run.read_row(first_line, header, values)
        if row is not None:
            if run.first_of_account(row):
                account = row.account(run.as_of, hash_key)
                run.submit(pool, partial(billing_store.update_account_from_billing, account), run.accounts, row=False)
            invoice = row.invoice(run.as_of)
            write = partial(billing_store.update_invoice_from_billing, invoice, settlement_lag_hours=lag_hours)
            run.submit(pool, write, run.invoices, row=True)
        if progress is not None:
            progress(run.done_rows)
        if run.rows % _PROGRESS_LOG_EVERY == 0:
            logger.info("Billing import progress", extra={"key": run.key, "rows": run.rows})


@contextlib.contextmanager
def _reading(*, line: int) -> Iterator[None]:
    """What can go wrong while reading the file, as a stop: not UTF-8 or not CSV is REJECTED
    (dropping it again will not help); a read that fails (S3, network) is FAILED."""
    where = f"at or after line {line}"
    try:
        yield
    except UnicodeDecodeError:
        reason = f"the file is not UTF-8 text ({where}); rows before it were imported, no invoice was closed"
        raise _ImportStopped(ImportStatus.REJECTED, reason, "encoding") from None
    except csv.Error:
        reason = f"the file is not valid CSV ({where}); rows before it were imported, no invoice was closed"
        raise _ImportStopped(ImportStatus.REJECTED, reason, "csv") from None
    except (BotoCoreError, OSError):
        reason = f"the file could not be read to the end ({where}); drop it again"
        raise _ImportStopped(ImportStatus.FAILED, reason, "read") from None


def _stop_on_failure(run: _Run) -> None:
    if run.failure is None:
        return
    if isinstance(run.failure, StoreUnavailableError):
        raise _ImportStopped(ImportStatus.FAILED, _UNAVAILABLE, "store")
    # Not a transient fault: a bug or a misconfiguration. Its message may quote data; its type does not.
    reason = f"a write failed ({type(run.failure).__name__}); no invoice was closed"
    raise _ImportStopped(ImportStatus.FAILED, reason, "write")


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


class _BodyReader(io.RawIOBase):
    """An S3 ``StreamingBody`` as a raw stream, read a chunk at a time (never all of it)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._body.read(min(len(buffer), _READ_CHUNK))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        self._body.close()
        super().close()


def _object_lines(s3: Any, bucket: str, key: str, version_id: str | None) -> Generator[str, None, None]:
    """The object's lines, fetched only when the first is asked for (a rejected key reads nothing).
    ``newline=""`` leaves line ends to the csv module, so a quoted field may hold a line break."""
    request = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    body = s3.get_object(**request)["Body"]
    raw = io.BufferedReader(_BodyReader(body), buffer_size=_READ_CHUNK)
    with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        yield from text


def import_s3_object(bucket: str, key: str, *, version_id: str | None = None) -> ImportReport:
    """Import ``s3://bucket/key`` (streamed) and write the report beside it, at :func:`report_key`."""
    s3 = boto3.client("s3")
    lines = _object_lines(s3, bucket, key, version_id)
    try:
        report = import_billing(lines, key=key)
    finally:
        lines.close()  # a file stopped early still lets go of its connection
    s3.put_object(Bucket=bucket, Key=report_key(key), Body=report.to_json().encode(), ContentType="application/json")
    return report
