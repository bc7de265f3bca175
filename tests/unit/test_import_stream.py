"""The streaming run of an import, with an importer of its own: what the next importer relies on."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from avocette.errors import StoreUnavailableError
from avocette.service.rowstream.report import MAX_LISTED, ImportStatus
from avocette.service.rowstream.stream import MAX_IN_FLIGHT, ImportStopped, RowImporter, Run, Tally, stream_rows
from avocette.store.files import StorageUnavailableError
from aws_lambda_powertools import Logger


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    reason: str


class Amounts(RowImporter):
    """``id;amount`` rows: an amount that is not a whole number is a bad row; each good row is one write."""

    label = "Amounts import"
    thread_name_prefix = "amounts"
    left_undone = "nothing was totalled"

    def __init__(self, fail_on: str | None = None, error: Exception | None = None) -> None:
        self.fail_on = fail_on
        self.error = error or StoreUnavailableError("x")
        self.written = Tally()
        self.stored: dict[str, int] = {}
        self.lines: list[int] = []
        self.finished_with: Any = None
        self.prepared_in = ""
        self.lock = threading.Lock()

    def read_header(self, names: list[str] | None) -> None:
        if names != ["id", "amount"]:
            raise ImportStopped(ImportStatus.REJECTED, "wrong header", "header")

    def prepare(self) -> None:
        self.prepared_in = threading.current_thread().name

    def read_row(self, run: Run, line: int, values: list[str]) -> None:
        self.lines.append(line)
        ident, amount = values
        if not amount.isdigit():
            run.bad_row([Problem(line, "amount", "not a whole number")])
            return
        if ident.startswith("w"):
            run.warn(Problem(line, "id", "starts with w"))
        run.submit(lambda: self.write(ident, int(amount)), self.written, row=True)

    def write(self, ident: str, amount: int) -> bool:
        if ident == self.fail_on:
            raise self.error
        with self.lock:
            changed = self.stored.get(ident) != amount
            self.stored[ident] = amount
        return changed

    def finish(self, run: Run) -> None:
        self.finished_with = (run.rows, run.done_rows, len(self.stored))


LOG = Logger(service="tests", child=True)


def run(text: str, importer: Amounts | None = None, **options: Any) -> tuple[Any, Amounts]:
    importer = importer or Amounts()
    outcome = stream_rows(importer, io.StringIO(text, newline=""), key="k", logger=LOG, delimiter=";", **options)
    return outcome, importer


def test_rows_are_read_by_line_and_written_in_the_pool() -> None:
    text = '\ufeffid;amount\r\na;1\r\n\r\n"b\nb";2\r\nc;x\r\nw;3\r\na;1\r\n'
    done: list[int] = []
    outcome, importer = run(text, progress=done.append)
    assert (outcome.status, outcome.reason, outcome.stopped_by) == (ImportStatus.IMPORTED, None, None)
    assert importer.lines == [2, 4, 6, 7, 8]  # the blank line 3 is no row; "b\nb" spans lines 4-5
    assert (outcome.run.rows, outcome.run.done_rows) == (5, 5)
    assert [(p.row, p.column, p.reason) for p in outcome.run.bad_rows.listed] == [(6, "amount", "not a whole number")]
    assert [(p.row, p.column) for p in outcome.run.warnings.listed] == [(7, "id")]
    assert (importer.written.written, importer.written.unchanged) == (3, 1)  # the second a;1 changed nothing
    assert importer.stored == {"a": 1, "b\nb": 2, "w": 3}
    assert importer.finished_with == (5, 5, 3)
    assert importer.prepared_in == threading.current_thread().name
    assert done[-1] == 5


def test_problems_are_listed_up_to_the_cap_then_counted() -> None:
    text = "id;amount\r\n" + "".join(f"r{n};bad\r\n" for n in range(MAX_LISTED + 2))
    outcome, _ = run(text)
    assert len(outcome.run.bad_rows.listed) == MAX_LISTED and outcome.run.bad_rows.omitted == 2


def test_a_wrong_header_is_rejected_before_anything() -> None:
    outcome, importer = run("name;amount\r\na;1\r\n")
    assert (outcome.status, outcome.reason, outcome.stopped_by) == (ImportStatus.REJECTED, "wrong header", "header")
    assert importer.prepared_in == "" and importer.lines == []


def test_a_failed_write_stops_the_run_without_finishing() -> None:
    text = "id;amount\r\n" + "".join(f"r{n};{n}\r\n" for n in range(2000))
    outcome, importer = run(text, Amounts(fail_on="r3"))
    assert (outcome.status, outcome.stopped_by) == (ImportStatus.FAILED, "store")
    assert outcome.reason and outcome.reason.startswith("DynamoDB kept failing")
    assert outcome.run.rows < 2000 and importer.finished_with is None

    outcome, _ = run(text, Amounts(fail_on="r3", error=KeyError("payer data")))
    assert (outcome.status, outcome.stopped_by) == (ImportStatus.FAILED, "write")
    assert outcome.reason == "a write failed (KeyError); nothing was totalled"


@pytest.mark.parametrize(
    ("error", "status", "category", "reason"),
    [
        (
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
            ImportStatus.REJECTED,
            "encoding",
            "the file is not UTF-8 text (at or after line 3); rows before it were imported, nothing was totalled",
        ),
        (StorageUnavailableError("S3"), ImportStatus.FAILED, "read", None),
        (ConnectionResetError(), ImportStatus.FAILED, "read", None),
    ],
)
def test_a_read_that_fails_is_a_stop(error: Exception, status: ImportStatus, category: str, reason: str | None) -> None:
    def lines() -> Iterator[str]:
        yield "id;amount\r\n"
        yield "a;1\r\n"
        raise error

    outcome = stream_rows(Amounts(), lines(), key="k", logger=LOG, delimiter=";")
    assert (outcome.status, outcome.stopped_by) == (status, category)
    assert outcome.reason == (reason or "the file could not be read to the end (at or after line 3); drop it again")


def test_in_flight_writes_are_bounded() -> None:
    gate = threading.Event()
    in_flight: list[int] = []

    class Slow(Amounts):
        def write(self, ident: str, amount: int) -> bool:
            gate.wait(timeout=5)
            return True

    importer = Slow()
    text = "id;amount\r\n" + "".join(f"r{n};{n}\r\n" for n in range(40))

    def progress(done: int) -> None:
        in_flight.append(len(importer.lines) - done)
        if len(importer.lines) == 10:
            gate.set()

    outcome, _ = run(text, importer, progress=progress, max_in_flight=10)
    assert outcome.status is ImportStatus.IMPORTED and outcome.run.done_rows == 40
    assert max(in_flight) <= 10 < MAX_IN_FLIGHT
