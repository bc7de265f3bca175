"""The streaming run of a CSV import, whatever the file: read it a record at a time, hand each good
row's writes to a small thread pool with a bounded number in flight, and stop at the first failed write.

Memory stays flat whatever the file's size: the reader waits for a free slot before it submits a
write. An importer says what a row means and which writes it makes (:class:`RowImporter`);
:func:`stream_rows` does the rest and answers an :class:`Outcome`, from which the importer builds
its report. What can go wrong is a stop with a status, never an exception out of the run:

- the header refused, or the file not in its encoding, or not CSV: REJECTED (dropping it again
  will not help); a bad row is not a stop: it is listed and skipped;
- a write that fails, the store unavailable, the file's storage failing mid-read: FAILED (writes
  are meant to be conditional, so the same file dropped again is safe).

Problems name a line, a column and a reason, never a cell's value: every cell may be payer data.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from aws_lambda_powertools import Logger

from avocette.errors import StoreUnavailableError
from avocette.service.rowstream.report import ImportStatus, ProblemLike, ProblemListing
from avocette.store.files import StorageUnavailableError

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

__all__ = [
    "MAX_IN_FLIGHT",
    "PROGRESS_LOG_EVERY",
    "UNAVAILABLE",
    "WORKERS",
    "ImportStopped",
    "Outcome",
    "RowImporter",
    "Run",
    "Tally",
    "stream_rows",
]

WORKERS = 8
# Writes submitted but not finished; the reader waits for a free slot, so memory does not grow with
# the file. A few times the pool's size keeps every worker busy.
MAX_IN_FLIGHT = 256
PROGRESS_LOG_EVERY = 10_000

UNAVAILABLE = "DynamoDB kept failing; drop the same file again (its writes are conditional, so that is safe)"


class ImportStopped(Exception):
    """The import cannot go on: the report says why, with this status."""

    def __init__(self, status: ImportStatus, reason: str, category: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.category = category  # for the log line: never the reason, which may name header cells


@dataclass
class Tally:
    """Writes that changed something, and writes that did not (newer data already stored)."""

    written: int = 0
    unchanged: int = 0


class Run:
    """The state of one run: rows read and done, listed problems, the pool and the first failure.

    The reading thread calls :meth:`bad_row`, :meth:`warn` and :meth:`submit`; the pool's threads
    only count what they finished."""

    def __init__(self, *, key: str, pool: Executor, max_in_flight: int) -> None:
        self.key = key
        self.pool = pool
        self.rows = 0  # records read (a blank line is not one)
        self.done_rows = 0  # rows skipped as bad, or whose row write finished
        self.bad_rows = ProblemListing()
        self.warnings = ProblemListing()
        self.failure: BaseException | None = None
        self.lock = threading.Lock()
        self._max_in_flight = max_in_flight
        self._slots = threading.BoundedSemaphore(max_in_flight)

    def bad_row(self, problems: Sequence[ProblemLike]) -> None:
        """Skip a row: its problems are listed for the first ``MAX_LISTED`` bad rows, then counted."""
        with self.lock:  # the pool's threads count finished rows too
            self.done_rows += 1
        self.bad_rows.add(problems)

    def warn(self, problem: ProblemLike) -> None:
        """Something in a good row was ignored: listed for the first ``MAX_LISTED``, then counted."""
        self.warnings.add([problem])

    def submit(self, write: Callable[[], bool], tally: Tally, *, row: bool) -> None:
        """Run ``write`` in the pool once a slot is free. It answers whether it changed anything, and
        is counted in ``tally``; the row is done when its ``row=True`` write is (give each row
        exactly one). A write that raises stops the run once the writes in flight are finished."""
        self._slots.acquire()
        try:
            future = self.pool.submit(write)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(partial(self._finished, tally=tally, row=row))

    def _finished(self, future: Future[bool], *, tally: Tally, row: bool) -> None:
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
            self._slots.release()

    def drain(self) -> None:
        """Wait until every write in flight is finished and counted."""
        for _ in range(self._max_in_flight):
            self._slots.acquire()
        for _ in range(self._max_in_flight):
            self._slots.release()


class RowImporter(ABC):
    """What one import of one file does with it; one instance per file. :func:`stream_rows` calls,
    from its own thread and in this order: :meth:`read_header`, :meth:`prepare`, :meth:`read_row`
    for each record that is not a blank line, then :meth:`finish` if no write failed. Any of them
    may raise :class:`ImportStopped`; :class:`StoreUnavailableError` out of :meth:`finish` (or out of
    a write) stops the run as FAILED with :attr:`unavailable` as the reason."""

    #: Log lines say "<label> progress".
    label: ClassVar[str] = "Import"
    thread_name_prefix: ClassVar[str] = "import"
    #: The encoding the stream is decoded from, as the report names it.
    encoding_name: ClassVar[str] = "UTF-8"
    #: What a stop after some writes left undone, appended to the reason (e.g. "no invoice was closed").
    left_undone: ClassVar[str | None] = None
    unavailable: ClassVar[str] = UNAVAILABLE

    @abstractmethod
    def read_header(self, names: list[str] | None) -> None:
        """The first record (``None`` for an empty file), a byte order mark already taken off its
        first name. Refuse it with ``ImportStopped(ImportStatus.REJECTED, reason, "header")``."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Before the pool starts and the first row is read: read configuration, make the clients
        the writes use (boto3 makes clients safely from one thread, not from the pool's)."""

    @abstractmethod
    def read_row(self, run: Run, line: int, values: list[str]) -> None:
        """A record's cells (``line``: where it starts). Either ``run.bad_row(problems)``, or
        ``run.submit(write, tally, row=True)`` once, with any other writes ``row=False``;
        ``run.warn(problem)`` for what is ignored."""

    def finish(self, run: Run) -> None:  # noqa: B027 - optional hook
        """Every row read and every write done, none failed; ``run.pool`` is still open."""

    def write_failed(self, error: BaseException) -> ImportStopped:
        """The stop for a failed write: the store unavailable, or (by its type, which quotes no
        data, unlike its message) a bug or a misconfiguration."""
        if isinstance(error, StoreUnavailableError):
            return ImportStopped(ImportStatus.FAILED, self.unavailable, "store")
        reason = _with_undone(self, f"a write failed ({type(error).__name__})", "; ")
        return ImportStopped(ImportStatus.FAILED, reason, "write")


def _with_undone(importer: RowImporter, reason: str, separator: str) -> str:
    return f"{reason}{separator}{importer.left_undone}" if importer.left_undone else reason


@dataclass(frozen=True)
class Outcome:
    """How a run ended: IMPORTED, or the status, reason and category of its stop; ``run`` holds the
    counts and the listed problems."""

    status: ImportStatus
    reason: str | None
    stopped_by: str | None  # the stop's category, for the log line
    run: Run


def stream_rows(
    importer: RowImporter,
    lines: Iterable[str],
    *,
    key: str,
    logger: Logger,
    progress: Callable[[int], None] | None = None,
    delimiter: str = ",",
    quotechar: str = '"',
    workers: int = WORKERS,
    max_in_flight: int = MAX_IN_FLIGHT,
) -> Outcome:
    """Read ``lines`` (text with its line ends, as ``open(..., newline="")`` or
    :func:`avocette.store.files.open_text` give it) as CSV through ``importer``.

    ``progress`` is called, from this thread, with the number of rows done so far, after each
    record and once at the end; ``logger`` gets "<label> progress" every ``PROGRESS_LOG_EVERY``
    rows, with the key and the count only. Raises nothing for a bad file or a failing store: the
    outcome says (a bug in the importer, or an object that does not exist, does raise)."""
    reader = csv.reader(lines, delimiter=delimiter, quotechar=quotechar)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=importer.thread_name_prefix)
    run = Run(key=key, pool=pool, max_in_flight=max_in_flight)
    try:
        with _reading(importer, line=1):
            header = next(reader, None)
        if header:
            header = [header[0].removeprefix(codecs.BOM_UTF8.decode()), *header[1:]]
        importer.read_header(header)
        importer.prepare()
        with pool:
            try:
                _read_rows(importer, run, reader, logger=logger, progress=progress)
            finally:
                run.drain()  # every write in flight is counted before the outcome is made
            if run.failure is not None:
                raise importer.write_failed(run.failure)
            try:
                importer.finish(run)
            except StoreUnavailableError:
                raise ImportStopped(ImportStatus.FAILED, importer.unavailable, "store") from None
    except ImportStopped as stop:
        return Outcome(stop.status, stop.reason, stop.category, run)
    finally:
        pool.shutdown()
    if progress is not None:
        progress(run.done_rows)
    return Outcome(ImportStatus.IMPORTED, None, None, run)


def _read_rows(
    importer: RowImporter, run: Run, reader: CsvReader, *, logger: Logger, progress: Callable[[int], None] | None
) -> None:
    """Read records until the end (or a failed write) and hand each to the importer."""
    line = reader.line_num
    while run.failure is None:
        with _reading(importer, line=line + 1):
            values = next(reader, None)
        if values is None:
            return
        # A record starts on the line after the previous one ended (a quoted cell may span lines).
        first_line, line = line + 1, reader.line_num
        if not values:  # a blank line
            continue
        run.rows += 1
        importer.read_row(run, first_line, values)
        if progress is not None:
            progress(run.done_rows)
        if run.rows % PROGRESS_LOG_EVERY == 0:
            logger.info(f"{importer.label} progress", extra={"key": run.key, "rows": run.rows})


@contextlib.contextmanager
def _reading(importer: RowImporter, *, line: int) -> Iterator[None]:
    """What can go wrong while reading the file, as a stop: not in its encoding or not CSV is
    REJECTED (dropping it again will not help); a read that fails (S3, network) is FAILED."""
    where = f"at or after line {line}"
    try:
        yield
    except UnicodeDecodeError:
        reason = f"the file is not {importer.encoding_name} text ({where}); rows before it were imported"
        raise ImportStopped(ImportStatus.REJECTED, _with_undone(importer, reason, ", "), "encoding") from None
    except csv.Error:
        reason = f"the file is not valid CSV ({where}); rows before it were imported"
        raise ImportStopped(ImportStatus.REJECTED, _with_undone(importer, reason, ", "), "csv") from None
    except (StorageUnavailableError, OSError):
        reason = f"the file could not be read to the end ({where}); drop it again"
        raise ImportStopped(ImportStatus.FAILED, reason, "read") from None
