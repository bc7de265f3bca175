"""Reconciling with Invoice Cloud's payment file (DESIGN §6d): the rules, no I/O.

Invoice Cloud's record of what it charged is the truth about money; our postbacks are a fast copy.
A PAYMENT row is matched with the postbacks applied for its payment id and invoice, or, when none
was, recovered: it becomes a postback (source ``file``) and goes through the very rules of §6c
(:func:`postback_from_row`). A VOID, ACH_RETURN or CHARGEBACK row takes money back from the credits
its payment id made on its invoice (:func:`plan_reversal`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from avocette import clock
from avocette.domain.billing import Credit, Invoice, InvoiceRef, credit_id
from avocette.domain.payments import Payment, PaymentStatus, Reversal, ReversalKind
from avocette.domain.postbacks import PaymentMethod, PostbackValues, ReceivedPostback

__all__ = [
    "PaymentFileRow",
    "ReversalCredit",
    "ReversalPlan",
    "RowKind",
    "plan_reversal",
    "postback_from_row",
    "reversal_identity",
    "row_identity",
]


class RowKind(StrEnum):
    PAYMENT = "PAYMENT"
    VOID = "VOID"
    ACH_RETURN = "ACH_RETURN"
    CHARGEBACK = "CHARGEBACK"


@dataclass(frozen=True)
class PaymentFileRow:
    """One row of Invoice Cloud's payment file, read by its format (``avocette.invoicecloud``)."""

    line: int
    kind: RowKind
    payment_guid: str
    biller_reference: str  # our payment id
    account_number: str
    invoice_number: str
    cents: int  # what the row moved on its invoice, without the fee; positive for every kind
    fee_cents: int
    at: datetime
    payment_type_id: str = ""
    reason_code: str = ""
    reference: str = ""  # the row's own reference, when the format has one
    # Among the file's rows identical in payment id, kind, invoice, amount and moment (and reference),
    # this is the n-th: two such rows are two events, the same row read again is one.
    ordinal: int = 1

    @property
    def ref(self) -> str:
        return InvoiceRef(account_number=self.account_number, invoice_number=self.invoice_number).key

    @property
    def sameness(self) -> tuple[str, ...]:
        """What makes two rows of a file look the same (the ordinal then tells them apart)."""
        return (self.kind.value, self.payment_guid, self.ref, str(self.cents), clock.timestamp(self.at), self.reference)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def row_identity(row: PaymentFileRow) -> str:
    """A PAYMENT row's identity: its payment id and invoice (account and number). Its own, apart from
    any postback's: it is matched with the postbacks by the money they applied, not by their keys."""
    return "F" + _digest("file", row.payment_guid, row.ref)[:63]


def postback_from_row(row: PaymentFileRow, *, payment_type_ids: Mapping[str, PaymentMethod]) -> ReceivedPostback:
    """A PAYMENT row as the postback Invoice Cloud would have sent for that one invoice (naming its
    account too), to go through the postback rules with source ``file``."""
    values = PostbackValues(
        approved=True,
        invoice_number=row.invoice_number,
        amount_cents=row.cents,
        fee_cents=row.fee_cents or None,
        payment_type_id=row.payment_type_id,
        biller_reference=row.biller_reference,
        biller_guid="",
    )
    return ReceivedPostback(
        identity=row_identity(row),
        payment_guid=row.payment_guid,
        values=values,
        credit_cents=row.cents,
        payment_method=payment_type_ids.get(row.payment_type_id),
        card_type="",
        authorization="",
        payment_date=clock.timestamp(row.at),
        account_number=row.account_number,
    )


def reversal_identity(row: PaymentFileRow) -> str:
    """sha256(Invoice Cloud payment id, kind, invoice, and the row's own reference — or, when the
    format has none, its amount, moment and ordinal among identical rows): one reversal however often
    files list it, and two reversals of one kind on one invoice are two (DESIGN §5)."""
    which = (row.reference,) if row.reference else (str(row.cents), clock.timestamp(row.at), str(row.ordinal))
    return _digest(row.payment_guid, row.kind.value, row.ref, *which)


@dataclass(frozen=True)
class ReversalCredit:
    """A reversal on one invoice: its own (negative) credit, and how much it takes from each of the
    payment's credits there (``taken``: credit key -> cents)."""

    ref: InvoiceRef
    credit_key: str
    cents: int
    taken: Mapping[str, int]
    reversed_after: Mapping[str, int]  # each credit taken from -> its reversed cents afterwards


class ReversalOutcome(StrEnum):
    REVERSED = "REVERSED"  # money taken back from the payment's credits
    RECORDED = "RECORDED"  # recorded only: the payment is under review, reversed or closed already
    REVIEW = "REVIEW"  # nothing of this payment id to take back there: a person must look


@dataclass(frozen=True)
class ReversalPlan:
    identity: str
    outcome: ReversalOutcome
    after: Payment
    credits: tuple[ReversalCredit, ...] = ()


def plan_reversal(
    payment: Payment, row: PaymentFileRow, invoice: Invoice | None, now: datetime, *, identity: str | None = None
) -> ReversalPlan:
    """What a VOID, ACH_RETURN or CHARGEBACK row does (§6c, the reversal column): on an APPROVED
    payment, take ``row.cents`` back from the credits its payment id made on the row's invoice
    (oldest first), the payment listing the reversal and becoming REVERSED when nothing is left; on a
    payment under review, reversed or closed, record it only; anywhere else, or when there is not
    that much to take back, put the payment under review with no money moved. ``identity``: the
    reversal's when it was recorded before (a reversal replayed after a review decision)."""
    identity = identity or reversal_identity(row)
    kind: ReversalKind = row.kind.value  # type: ignore[assignment]
    if payment.status in (PaymentStatus.NEEDS_REVIEW, PaymentStatus.REVERSED, PaymentStatus.CLOSED):
        return ReversalPlan(identity, ReversalOutcome.RECORDED, replace(payment, version=payment.version + 1))
    candidates = _credits_of(payment, row, invoice) if payment.status is PaymentStatus.APPROVED else []
    if sum(credit.remaining_cents for _, credit in candidates) < row.cents or not candidates or invoice is None:
        flagged = replace(
            payment,
            status=PaymentStatus.NEEDS_REVIEW,
            version=payment.version + 1,
            review_reason="reconciliation_mismatch",
            flagged_at=now,
            completed_at=payment.completed_at or now,
        )
        return ReversalPlan(identity, ReversalOutcome.REVIEW, flagged)

    taken: dict[str, int] = {}
    left = row.cents
    for key, credit in candidates:
        take = min(left, credit.remaining_cents)
        if take:
            taken[key] = take
            left -= take
        if not left:
            break
    reversal_credit = ReversalCredit(
        ref=invoice.ref,
        credit_key=credit_id(payment.payment_id, "R" + identity),
        cents=row.cents,
        taken=taken,
        reversed_after={key: invoice.credits[key].reversed_cents + cents for key, cents in taken.items()},
    )
    lines = tuple(
        replace(line, paid_cents=line.paid_cents - row.cents) if str(line.ref) == row.ref else line
        for line in payment.lines
    )
    reversal = Reversal(
        identity=identity,
        kind=kind,
        cents=row.cents,
        at=now,
        payment_guid=row.payment_guid,
        invoices={row.ref: row.cents},
    )
    remaining = sum(line.paid_cents for line in lines)
    after = replace(
        payment,
        lines=lines,
        reversals=(*payment.reversals, reversal),
        status=PaymentStatus.APPROVED if remaining > 0 else PaymentStatus.REVERSED,
        version=payment.version + 1,
    )
    return ReversalPlan(identity, ReversalOutcome.REVERSED, after, (reversal_credit,))


def _credits_of(payment: Payment, row: PaymentFileRow, invoice: Invoice | None) -> list[tuple[str, Credit]]:
    """The payment's credits on the row's invoice that its Invoice Cloud payment id made, oldest first."""
    if invoice is None or not any(str(line.ref) == row.ref for line in payment.lines):
        return []
    found = [
        (key, credit)
        for key, credit in invoice.credits.items()
        if credit.payment_id == payment.payment_id
        and credit.kind == "PAYMENT"
        and credit.payment_guid == row.payment_guid
        and credit.remaining_cents > 0
    ]
    return sorted(found, key=lambda item: (item[1].approved_at, item[0]))
