"""Invoice Cloud's daily payment file, ``/_sim/payment-files``: write one for a day, read it back.

The file is Invoice Cloud's record of what it charged, the truth about money that the backend
reconciles against every day. It lists every approved attempt of the day whether or not its
postbacks arrived (``dropPostbacks`` loses them, the file is how the backend finds the payment), and
the voids, ACH returns and chargebacks a test asks for, which the simulator remembers so that no
payment is ever taken back twice. The layout comes from a format file (``payment_file_format``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from werkzeug.wrappers import Request, Response

from sandbox.invoicecloud.amounts import money, parse_amount
from sandbox.invoicecloud.config import ControlError
from sandbox.invoicecloud.core import SimulatorCore
from sandbox.invoicecloud.payment_file_format import (
    DEFAULT_PAYMENT_FORMAT,
    GIVES_BACK,
    REVERSAL_KINDS,
    FileRow,
    PaymentFileFormat,
    Reversal,
    StoredFile,
    listed_lines,
    payment_rows,
    reversal_row,
)
from sandbox.invoicecloud.responses import control_error, json_response, read_json
from sandbox.invoicecloud.sessions import Attempt, PaidLine, Session

__all__ = ["PaymentFiles"]

logger = logging.getLogger(__name__)

_FILE_FIELDS: Final = frozenset({"date", "format", "reversals"})
_REVERSAL_FIELDS: Final = frozenset(
    {"billerReference", "paymentGuid", "kind", "amount", "invoiceNumber", "accountNumber", "reasonCode"}
)
_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


class PaymentFiles(SimulatorCore):
    def write_payment_file(self, body: Any) -> dict[str, Any]:
        """What ``POST /_sim/payment-files`` does, for code in the same process: ``{bucket, key, rows}``.

        Everything is checked before anything is remembered: a refused call (``ControlError``) adds
        no reversal and writes no file.
        """
        order = _parse_file_order(body)
        fmt = PaymentFileFormat.load(order.format_name)
        with self._payment_file_lock:
            with self._lock:
                now = self._now()
                day = order.day or fmt.day_of(now)
                reversals = self._check_reversals(order.reversals, day, now, fmt)
                rows = self._file_rows(day, fmt, [*self._reversals, *reversals])
                key = fmt.key_for(day)
                data = fmt.render(rows)
            # Outside ``_lock``: the sandbox's sink puts the file into S3, which starts the backend.
            bucket, stored_key = self._payment_file_sink(key, data) if self._payment_file_sink else (None, key)
            with self._lock:
                self._reversals.extend(reversals)
                self._payment_files[stored_key] = StoredFile(data, fmt.charset)
        logger.info("Payment file %s written: %d rows, %d new reversals", stored_key, len(rows), len(reversals))
        return {"bucket": bucket, "key": stored_key, "rows": len(rows)}

    def reversals(self) -> list[dict[str, str]]:
        """Every reversal asked for so far (for tests in the same process: what Invoice Cloud took back)."""
        with self._lock:
            return [
                {
                    "kind": reversal.kind,
                    "paymentGuid": reversal.payment_guid,
                    "billerReference": reversal.biller_reference,
                    "accountNumber": reversal.account_number,
                    "invoiceNumber": reversal.invoice_number,
                    "amount": money(reversal.amount),
                    "day": reversal.day.isoformat(),
                }
                for reversal in self._reversals
            ]

    def payment_file(self, key: str) -> bytes | None:
        """The last file written under ``key``, if any (for tests in the same process)."""
        with self._lock:
            stored = self._payment_files.get(key)
            return stored.data if stored else None

    def _handle_write_payment_file(self, request: Request) -> Response:
        try:
            return json_response(self.write_payment_file(read_json(request, exact_numbers=True)), 201)
        except ControlError as error:
            return control_error(error)

    def _handle_read_payment_file(self, request: Request, key: str) -> Response:
        with self._lock:
            stored = self._payment_files.get(key)
        if stored is None:
            return control_error(ControlError(404, "file_not_found", f"No payment file {key}"))
        return Response(stored.data, content_type=f"text/csv; charset={stored.charset}")

    # ------------------------------------------------------------------ the file's rows

    def _approved_payments(self) -> list[tuple[Session, Attempt]]:
        return [(s, attempt) for s in self._sessions.values() if (attempt := s.approved_attempt()) is not None]

    def _file_rows(self, day: date, fmt: PaymentFileFormat, reversals: list[Reversal]) -> list[FileRow]:
        rows = [
            row
            for session, attempt in self._approved_payments()
            if fmt.day_of(attempt.at) == day
            for row in payment_rows(session.biller_reference, attempt)
        ]
        rows.extend(reversal_row(reversal) for reversal in reversals if reversal.day == day)
        return fmt.sorted_rows(rows)

    # ------------------------------------------------------------------ reversals

    def _check_reversals(
        self, asked: list[dict[str, Any]], day: date, now: datetime, fmt: PaymentFileFormat
    ) -> list[Reversal]:
        """The reversals asked for, checked against the payments and everything reversed before."""
        # Reversed so far by (payment GUID, line key), net of chargeback reversals, and charged back so far
        # and not given back: this call's own reversals included as they come.
        taken: dict[tuple[str, str], Decimal] = {}
        charged_back: dict[tuple[str, str], Decimal] = {}
        for earlier in self._reversals:
            _count(earlier.kind, (earlier.payment_guid, earlier.line_key), earlier.amount, taken, charged_back)
        accepted: list[Reversal] = []
        for index, item in enumerate(asked):
            where = f"reversals[{index}]"
            kind = item.get("kind")
            if kind not in REVERSAL_KINDS or fmt.code_for(kind) is None:
                kinds = ", ".join(k for k in REVERSAL_KINDS if fmt.code_for(k) is not None)
                raise ControlError(400, "invalid_kind", f"{where}.kind must be one of {kinds}, not {kind!r}")
            session, attempt = self._reversed_payment(item, where)
            left = charged_back if kind == GIVES_BACK else None
            for paid, amount in _reversed_amounts(item, attempt, taken, where, gives_back=left):
                _count(kind, (attempt.payment_guid, paid.line.key), amount, taken, charged_back)
                accepted.append(
                    Reversal(
                        day=day,
                        kind=kind,
                        payment_guid=attempt.payment_guid,
                        biller_reference=session.biller_reference,
                        line_key=paid.line.key,
                        account_number=paid.line.account_number,
                        invoice_number=paid.line.invoice_number,
                        payment_type_id=attempt.payment_type_id,
                        amount=amount,
                        at=now,
                        reason_code=item.get("reasonCode") or "",
                    )
                )
        return accepted

    def _reversed_payment(self, item: Mapping[str, Any], where: str) -> tuple[Session, Attempt]:
        """The one approved attempt a reversal names by billerReference and/or paymentGuid."""
        reference, guid = item.get("billerReference"), item.get("paymentGuid")
        matches = [
            (session, attempt)
            for session, attempt in self._approved_payments()
            if reference in (None, session.biller_reference) and guid in (None, attempt.payment_guid)
        ]
        if not matches:
            raise ControlError(400, "unknown_payment", f"{where}: no approved payment is known by that")
        if len(matches) > 1:
            message = f"{where}: {len(matches)} approved payments have that billerReference; give the paymentGuid"
            raise ControlError(400, "ambiguous_payment", message)
        return matches[0]


def _count(
    kind: str,
    slot: tuple[str, str],
    amount: Decimal,
    taken: dict[tuple[str, str], Decimal],
    charged_back: dict[tuple[str, str], Decimal],
) -> None:
    """A reversal of ``amount`` on ``slot``: a chargeback reversal gives back what a chargeback took."""
    sign = Decimal(-1) if kind == GIVES_BACK else Decimal(1)
    taken[slot] = taken.get(slot, Decimal(0)) + sign * amount
    if kind in ("CHARGEBACK", GIVES_BACK):
        charged_back[slot] = charged_back.get(slot, Decimal(0)) + sign * amount


def _reversed_amounts(
    item: Mapping[str, Any],
    attempt: Attempt,
    taken: Mapping[tuple[str, str], Decimal],
    where: str,
    *,
    gives_back: Mapping[tuple[str, str], Decimal] | None = None,
) -> list[tuple[PaidLine, Decimal]]:
    """What one reversal takes back from each invoice: the invoice named, or every invoice in full. A
    chargeback reversal (``gives_back``: what chargebacks took and did not give back yet) gives back
    what was charged back there, at most."""
    return (
        _given_back_amounts(item, attempt, gives_back, where)
        if gives_back is not None
        else _taken_amounts(item, attempt, taken, where)
    )


def _taken_amounts(
    item: Mapping[str, Any], attempt: Attempt, taken: Mapping[tuple[str, str], Decimal], where: str
) -> list[tuple[PaidLine, Decimal]]:
    listed = listed_lines(attempt)
    amount = None
    if "amount" in item:
        amount = parse_amount(item["amount"])
        if amount is None or amount <= 0:
            message = f'{where}.amount must be an amount greater than 0 like "12.34", not {item["amount"]!r}'
            raise ControlError(400, "invalid_amount", message)

    def left(paid: PaidLine) -> Decimal:
        return paid.amount - taken.get((attempt.payment_guid, paid.line.key), Decimal(0))

    number = item.get("invoiceNumber")
    if number is None:
        whole = sum((paid.amount for paid in listed), Decimal(0))
        if amount is not None and amount != whole:
            message = f"{where}: without invoiceNumber the amount must be the whole payment, {money(whole)}"
            raise ControlError(400, "invalid_amount", message)
        if any(left(paid) != paid.amount for paid in listed):
            message = f"{where}: part of this payment was reversed already; name the invoice and the amount"
            raise ControlError(400, "invalid_amount", message)
        lines = [(paid, paid.amount) for paid in listed if paid.amount]
        if not lines:
            raise ControlError(400, "invalid_amount", f"{where}: the payment moved no money to reverse")
        return lines
    account = item.get("accountNumber")
    named = [
        paid for paid in listed if paid.line.invoice_number == number and account in (None, paid.line.account_number)
    ]
    if not named:
        raise ControlError(400, "unknown_invoice", f"{where}: the payment paid nothing on invoice {number}")
    if len(named) > 1:
        message = f"{where}: the payment paid invoice {number} on several accounts; give the accountNumber"
        raise ControlError(400, "ambiguous_invoice", message)
    [paid] = named
    wanted = paid.amount if amount is None else amount
    if wanted > paid.amount:
        message = f"{where}: {money(wanted)} is more than the payment paid on invoice {number}, {money(paid.amount)}"
        raise ControlError(400, "invalid_amount", message)
    if wanted > left(paid):
        message = f"{where}: only {money(left(paid))} of invoice {number} is left to reverse, not {money(wanted)}"
        raise ControlError(400, "invalid_amount", message)
    return [(paid, wanted)]


def _given_back_amounts(
    item: Mapping[str, Any], attempt: Attempt, charged_back: Mapping[tuple[str, str], Decimal], where: str
) -> list[tuple[PaidLine, Decimal]]:
    """A chargeback reversal: on the invoice named, or on every invoice charged back, what the
    chargebacks took and were not given back (or the amount asked, no more than that)."""
    listed = listed_lines(attempt)

    def back(paid: PaidLine) -> Decimal:
        return charged_back.get((attempt.payment_guid, paid.line.key), Decimal(0))

    amount = parse_amount(item["amount"]) if "amount" in item else None
    if "amount" in item and (amount is None or amount <= 0):
        raise ControlError(400, "invalid_amount", f'{where}.amount must be an amount greater than 0 like "12.34"')
    number = item.get("invoiceNumber")
    named = [
        paid
        for paid in listed
        if number in (None, paid.line.invoice_number) and item.get("accountNumber") in (None, paid.line.account_number)
    ]
    lines = [(paid, back(paid)) for paid in named if back(paid) > 0]
    if not lines:
        raise ControlError(400, "invalid_amount", f"{where}: nothing of this payment was charged back to give back")
    if amount is None:
        return lines
    if number is None or len(lines) > 1:
        raise ControlError(400, "invalid_amount", f"{where}: name the invoice of a part chargeback reversal")
    [(paid, left)] = lines
    if amount > left:
        message = f"{where}: only {money(left)} of invoice {number} was charged back and not given back"
        raise ControlError(400, "invalid_amount", message)
    return [(paid, amount)]


@dataclass(frozen=True)
class _FileOrder:
    """A ``POST /_sim/payment-files`` body, read (the reversals are checked against payments later)."""

    day: date | None  # None: today, by the simulator's clock in the format's time zone
    format_name: str
    reversals: list[dict[str, Any]]


def _parse_file_order(body: Any) -> _FileOrder:
    if not isinstance(body, dict):
        raise ControlError(400, "invalid_request", "The body must be a JSON object")
    unknown = sorted(set(body) - _FILE_FIELDS)
    if unknown:
        raise ControlError(400, "invalid_request", f"Unknown fields: {', '.join(unknown)}")
    day = None
    if "date" in body:
        day = _parse_day(body["date"])
    format_name = body.get("format", DEFAULT_PAYMENT_FORMAT)
    if not isinstance(format_name, str):
        raise ControlError(400, "invalid_request", "format must be the name of a format file")
    reversals = body.get("reversals", [])
    if not isinstance(reversals, list):
        raise ControlError(400, "invalid_request", "reversals must be a list of objects")
    for index, item in enumerate(reversals):
        _check_reversal_fields(item, f"reversals[{index}]")
    return _FileOrder(day, format_name, reversals)


def _parse_day(value: Any) -> date:
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ControlError(400, "invalid_date", f"date must be a day like 2026-11-25, not {value!r}")


def _check_reversal_fields(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise ControlError(400, "invalid_request", f"{where} must be an object")
    unknown = sorted(set(item) - _REVERSAL_FIELDS)
    if unknown:
        raise ControlError(400, "invalid_request", f"{where}: unknown fields: {', '.join(unknown)}")
    for name in ("billerReference", "paymentGuid", "invoiceNumber", "accountNumber", "reasonCode"):
        if name in item and not isinstance(item[name], str):
            raise ControlError(400, "invalid_request", f"{where}.{name} must be a string")
    if "billerReference" not in item and "paymentGuid" not in item:
        raise ControlError(400, "invalid_request", f"{where} must name its payment by billerReference or paymentGuid")
    if "accountNumber" in item and "invoiceNumber" not in item:
        raise ControlError(400, "invalid_request", f"{where}.accountNumber only goes with an invoiceNumber")
