"""Log capture over the whole test run, and the detector of what must never be logged: postback
tokens and signed statement links, presigned URLs (they carry a credential), secrets (Invoice
Cloud's keys, the postback and statement link key rings, the registration hash key), JWTs,
registration values, payers' names, addresses and emails from the billing data, and raw account
numbers (logs name an account only by its keyed hash, docs/security.md).

``tests/conftest.py`` installs one :class:`LogCapture` for the session (every record of every logger,
the sandbox's worker output included: it is logged through ``sandbox.worker.<Function>``) and fails
the session's last teardown when :meth:`LogCapture.leaks` finds anything."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sandbox.stack import StackSecrets

ROOT = Path(__file__).resolve().parents[2]
BILLING_DATA = sorted((ROOT / "sandbox" / "data" / "billing").glob("*.csv"))

# Attributes every LogRecord has: the rest are a logger's "extra" fields, logged too.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

PATTERNS = {
    # v{keyId}.{mac} (a postback token) or v{keyId}.{payload}.{mac} (a signed statement link)
    "postback token or signed link": re.compile(r"\bv\d+\.[A-Za-z0-9_-]{20,}"),
    "presigned URL": re.compile(r"X-Amz-(?:Signature|Credential|Security-Token)="),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "registration value": re.compile(r"(?<![\w-])[0-9A-Z]*\d[0-9A-Z]*-REG\b", re.IGNORECASE),
    "bearer credential": re.compile(r"\b(?:Bearer|Basic)\s+[A-Za-z0-9+/=._-]{16,}"),
}
# Payer details the tests use besides the billing files (tests/helpers.py, the security suite).
TEST_PAYERS = ("Pat Payer", "1 Main St", "pat@example.com", "Alice Anders", "12 Orchard Lane", "Carol Carter")
# Account numbers the tests use besides the billing files (tests/helpers.py's add_account callers).
TEST_ACCOUNTS = ("A-1", "A-2", "B-1", "R-1", "U-1", "M-1", "S-1", "ACCT-7", "ACCT-8", "ACCT-900")
# ... and those of the balance refresh's tests (tests/integration/test_refresh_balances.py, the security suite's).
TEST_ACCOUNTS += ("R-2", "R-3", "R-4", "R-9", "R-404", "ACCT-000")


def billing_payer_details(files: Iterable[Path] = BILLING_DATA) -> set[str]:
    """Every name, address and email address of the demo billing files."""
    details: set[str] = set(TEST_PAYERS)
    for path in files:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            for row in csv.DictReader(stream):
                details.update(row[column].strip() for column in ("Name", "Address", "EmailAddress") if row[column])
    return details


def billing_account_numbers(files: Iterable[Path] = BILLING_DATA) -> set[str]:
    """Every account number of the demo billing files, and those of :data:`TEST_ACCOUNTS`."""
    numbers: set[str] = set(TEST_ACCOUNTS)
    for path in files:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            numbers.update(row["AccountNumber"].strip() for row in csv.DictReader(stream) if row["AccountNumber"])
    return numbers


def account_number_pattern(numbers: Iterable[str]) -> re.Pattern[str]:
    """Any of ``numbers`` standing alone: ``ACCOUNT#A-1`` or ``"A-1"`` holds one, ``INV-A-1-2`` does not
    (short numbers such as ``A-1`` are parts of the tests' invoice numbers)."""
    alternatives = "|".join(re.escape(number) for number in sorted(numbers, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


def record_text(record: logging.LogRecord) -> str:
    """What a log line says: the message and every extra field, as the JSON formatters would print them."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: its parts, as they are
        message = f"{record.msg!r} {record.args!r}"
    extras = {name: value for name, value in record.__dict__.items() if name not in _STANDARD}
    if record.exc_info and record.exc_info[1] is not None:
        extras["exc"] = repr(record.exc_info[1])
    return (
        f"{record.name} {message} {json.dumps(extras, default=repr, sort_keys=True)}"
        if extras
        else (f"{record.name} {message}")
    )


class LogCapture(logging.Handler):
    """A handler keeping the text of every record it sees, and the secrets of every :class:`StackSecrets`
    made while installed (each test's and each sandbox's are fresh)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.secrets: set[str] = set()
        self.payers: set[str] = billing_payer_details()
        self.accounts: re.Pattern[str] = account_number_pattern(billing_account_numbers())
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = record_text(record)
        with self._guard:
            self.lines.append(text)

    def leaks(self) -> list[str]:
        """Each line that holds something it must not, with what it holds (the value itself masked)."""
        found: list[str] = []
        with self._guard:
            lines = list(self.lines)
        secrets = sorted(value for value in self.secrets if len(value) >= 8)
        payers = sorted(value for value in self.payers if len(value) >= 5)
        for line in lines:
            kinds = [kind for kind, pattern in PATTERNS.items() if pattern.search(line)]
            kinds += ["secret" for value in secrets if value in line][:1]
            kinds += ["payer detail" for value in payers if value in line][:1]
            if self.accounts.search(line):
                kinds.append("account number")
            if kinds:
                found.append(f"{', '.join(kinds)}: {_masked(self.accounts.sub('<account>', line), secrets + payers)}")
        return found

    @classmethod
    @contextlib.contextmanager
    def installed(cls) -> Iterator[LogCapture]:
        """Capture every record any logger emits, whether or not it propagates to the root (the
        functions' Powertools logger does not; and no handler may be added to it, as Powertools takes
        its logger's first handler for its own): :meth:`logging.Logger.callHandlers` is wrapped."""
        capture = cls()
        original_init: Any = StackSecrets.__init__
        original_call = logging.Logger.callHandlers

        def recording_init(self: StackSecrets, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            capture.secrets.update(self.all_values())

        def calling_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
            capture.handle(record)
            original_call(self, record)

        sandbox = logging.getLogger("sandbox")
        sandbox_level = sandbox.level
        StackSecrets.__init__ = recording_init  # type: ignore[method-assign]
        logging.Logger.callHandlers = calling_handlers  # type: ignore[method-assign]
        # The sandbox's own loggers (worker output among them) log at INFO: seen whatever the root's level.
        if sandbox_level == logging.NOTSET or sandbox_level > logging.INFO:
            sandbox.setLevel(logging.INFO)
        try:
            yield capture
        finally:
            StackSecrets.__init__ = original_init  # type: ignore[method-assign]
            logging.Logger.callHandlers = original_call  # type: ignore[method-assign]
            sandbox.setLevel(sandbox_level)


def _masked(line: str, values: list[str]) -> str:
    """The line with every known sensitive value and pattern match masked, safe to print in a report."""
    for value in values:
        line = line.replace(value, "<" + "*" * 3 + ">")
    for kind, pattern in PATTERNS.items():
        line = pattern.sub(f"<{kind}>", line)
    return line[:400]
