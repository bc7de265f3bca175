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
    REFUND = "REFUND"
    ACH_RETURN = "ACH_RETURN"
    CHARGEBACK = "CHARGEBACK"
    CHARGEBACK_REVERSAL = "CHARGEBACK_REVERSAL"


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
        paid_at=row.at,
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
    payment's credits there (``taken``: credit key -> cents). A chargeback reversal (``restores``) is
    the converse: its own positive credit, and how much it gives back to each credit a chargeback
    took from (``taken`` then holds what each gets back)."""

    ref: InvoiceRef
    credit_key: str
    cents: int
    taken: Mapping[str, int]
    reversed_after: Mapping[str, int]  # each credit taken from (or given back to) -> its reversed cents afterwards
    restores: bool = False
    # A restoring reversal gives money back as a credit does: the invoice must stay at least the account
    # credit its payment line was lowered by unpaid (DESIGN §5), as for a postback's credit.
    account_credit_cents: int = 0

    @property
    def needs_unpaid_cents(self) -> int:
        """What must still be unpaid on the invoice for a restoring reversal to apply."""
        return self.cents + self.account_credit_cents


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
    # Why it goes under review, for the report: reversal_without_credit (not that much to take or give
    # back), reversal_kind_contradicts_method, chargeback_reversal_paid_again (the invoice was paid again).
    reason: str = ""


def plan_reversal(
    payment: Payment,
    row: PaymentFileRow,
    invoice: Invoice | None,
    now: datetime,
    *,
    identity: str | None = None,
    over_credit_refused: bool = False,
) -> ReversalPlan:
    """What a reversal row does (§6c, the reversal column; §6d). A VOID, REFUND, ACH_RETURN or
    CHARGEBACK on an APPROVED payment takes ``row.cents`` back from the credits its payment id made on
    the row's invoice (oldest first), the payment listing the reversal and becoming REVERSED when
    nothing is left. A CHARGEBACK_REVERSAL (the biller won the dispute) gives back what that payment
    id's chargebacks took there, on an APPROVED or REVERSED payment (which becomes APPROVED again),
    unless the invoice was paid again meanwhile (``over_credit_refused``: the store refused it). A kind
    the payment's method cannot have (an ACH return of a card payment, a chargeback of a bank payment)
    moves nothing and goes under review. On a
    payment under review or closed (and, for a taking kind, one reversed already) it is recorded only;
    anywhere else, or when there is not that much to take back or give back, the payment goes under
    review with no money moved. ``identity``: the reversal's when it was recorded before (a reversal
    replayed after a review decision)."""
    identity = identity or reversal_identity(row)
    restoring = row.kind is RowKind.CHARGEBACK_REVERSAL
    settled = (PaymentStatus.NEEDS_REVIEW, PaymentStatus.CLOSED) + (() if restoring else (PaymentStatus.REVERSED,))
    if payment.status in settled:
        return ReversalPlan(identity, ReversalOutcome.RECORDED, replace(payment, version=payment.version + 1))
    reason = "reversal_without_credit"
    if _contradicts_method(payment, row):
        moved, reason = None, "reversal_kind_contradicts_method"
    elif restoring and over_credit_refused:
        moved, reason = None, "chargeback_reversal_paid_again"
    elif restoring:
        moved = _given_back(payment, row, invoice, identity)
    else:
        moved = _taken_back(payment, row, invoice, identity)
    if moved is None:
        flagged = replace(
            payment,
            status=PaymentStatus.NEEDS_REVIEW,
            version=payment.version + 1,
            review_reason="reconciliation_mismatch",
            flagged_at=now,
            completed_at=payment.completed_at or now,
        )
        return ReversalPlan(identity, ReversalOutcome.REVIEW, flagged, reason=reason)
    sign = 1 if restoring else -1
    lines = tuple(
        replace(line, paid_cents=line.paid_cents + sign * row.cents) if str(line.ref) == row.ref else line
        for line in payment.lines
    )
    kind: ReversalKind = row.kind.value  # type: ignore[assignment]
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
    return ReversalPlan(identity, ReversalOutcome.REVERSED, after, (moved,))


# The kinds only one method of payment can have: a bank (ACH) payment is returned, never charged back;
# a card payment is charged back, never returned by a bank.
_METHOD_OF_KIND = {
    RowKind.ACH_RETURN: "ACH",
    RowKind.CHARGEBACK: "CARD",
    RowKind.CHARGEBACK_REVERSAL: "CARD",
}


def _contradicts_method(payment: Payment, row: PaymentFileRow) -> bool:
    """A reversal whose kind the payment's method cannot have (an ACH return of a card payment): a
    mismatch for review. An unknown method contradicts nothing."""
    method = _METHOD_OF_KIND.get(row.kind)
    return method is not None and payment.payment_method is not None and payment.payment_method != method


def _taken_back(payment: Payment, row: PaymentFileRow, invoice: Invoice | None, identity: str) -> ReversalCredit | None:
    """A taking reversal on the payment's credits of its payment id there, oldest first; ``None``
    when the payment is not APPROVED or there is not that much left to take."""
    candidates = _credits_of(payment, row, invoice) if payment.status is PaymentStatus.APPROVED else []
    if invoice is None or not candidates or sum(credit.remaining_cents for _, credit in candidates) < row.cents:
        return None
    taken: dict[str, int] = {}
    left = row.cents
    for key, credit in candidates:
        take = min(left, credit.remaining_cents)
        if take:
            taken[key] = take
            left -= take
        if not left:
            break
    return ReversalCredit(
        ref=invoice.ref,
        credit_key=credit_id(payment.payment_id, "R" + identity),
        cents=row.cents,
        taken=taken,
        reversed_after={key: invoice.credits[key].reversed_cents + cents for key, cents in taken.items()},
    )


def _given_back(payment: Payment, row: PaymentFileRow, invoice: Invoice | None, identity: str) -> ReversalCredit | None:
    """A chargeback reversal: what the payment id's chargebacks took on the invoice, and no more than
    has not been given back yet, returned to the credits they took from (newest first); ``None`` when
    there is not that much to give back."""
    if invoice is None or payment.status not in (PaymentStatus.APPROVED, PaymentStatus.REVERSED):
        return None
    mine = [
        credit
        for credit in invoice.credits.values()
        if credit.payment_id == payment.payment_id and credit.payment_guid == row.payment_guid
    ]
    charged_back = sum(-credit.cents for credit in mine if credit.kind == "CHARGEBACK")
    given_back = sum(credit.cents for credit in mine if credit.kind == "CHARGEBACK_REVERSAL")
    reduced = sorted(
        (
            (key, credit)
            for key, credit in invoice.credits.items()
            if credit.payment_id == payment.payment_id
            and credit.kind == "PAYMENT"
            and credit.payment_guid == row.payment_guid
            and credit.reversed_cents > 0
        ),
        key=lambda item: (item[1].approved_at, item[0]),
        reverse=True,
    )
    if charged_back - given_back < row.cents or sum(credit.reversed_cents for _, credit in reduced) < row.cents:
        return None
    back: dict[str, int] = {}
    left = row.cents
    for key, credit in reduced:
        give = min(left, credit.reversed_cents)
        if give:
            back[key] = give
            left -= give
        if not left:
            break
    return ReversalCredit(
        ref=invoice.ref,
        credit_key=credit_id(payment.payment_id, "R" + identity),
        cents=row.cents,
        taken=back,
        reversed_after={key: invoice.credits[key].reversed_cents - cents for key, cents in back.items()},
        restores=True,
        account_credit_cents=next((line.account_credit_cents for line in payment.lines if line.ref == invoice.ref), 0),
    )


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
