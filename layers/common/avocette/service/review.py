"""Settling payments under review (DESIGN §6c *Review*): list, show, apply, dismiss.

Ops run these through ``python -m tools review``. Each decision writes its ``REVIEW#`` audit item
(who, when, what, the note) in the same transaction as its effect, so that no money moves without
its record and no record exists without its effect. Credits go through the store's own conditions,
as a postback's do: a review cannot credit an invoice above its bill either.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from avocette import SERVICE_NAME, clock
from avocette.domain import review as rules
from avocette.domain.billing import Invoice, InvoiceRef
from avocette.domain.ledger import LedgerEntry
from avocette.domain.payments import Payment
from avocette.domain.postbacks import paid_moment
from avocette.domain.reconciliation import ReversalCredit
from avocette.domain.review import Candidate, ReviewDecision, ReviewRefusedError
from avocette.service import reversals
from avocette.store import billing as billing_store
from avocette.store import credits as credits_store
from avocette.store import payment_items
from avocette.store import payments as payments_store
from avocette.store.credits import PostbackRaceError
from avocette.store.payments import PaymentRecord

__all__ = [
    "ReviewCase",
    "ReviewRefusedError",
    "apply_review",
    "dismiss_review",
    "known_payment_guids",
    "list_reviews",
    "show_review",
]

logger = Logger(service=SERVICE_NAME, child=True)

_ATTEMPTS = 3


def list_reviews(reason: str | None = None) -> list[Payment]:
    """Payments waiting for a person, oldest first; only those flagged for ``reason`` when given."""
    return [
        payment
        for payment in payments_store.list_payments_for_review()
        if reason is None or payment.review_reason == reason
    ]


@dataclass(frozen=True)
class ReviewCase:
    """What a person needs to decide: the payment, every postback recorded for it (kept fields as
    received, what they were read as, what came of them), earlier decisions, candidate allocations."""

    record: PaymentRecord
    candidates: list[Candidate]

    @property
    def payment(self) -> Payment:
        assert self.record.payment is not None
        return self.record.payment


def known_payment_guids(case: ReviewCase) -> list[str]:
    """The Invoice Cloud payment ids the payment under review has heard of (what ``--payment-guid`` picks)."""
    return rules.known_payment_guids(case.payment, case.record.postbacks)


def show_review(payment_id: str) -> ReviewCase:
    record = payments_store.get_payment_record(payment_id)
    if record.payment is None:
        raise ReviewRefusedError(f"no payment {payment_id}")
    return ReviewCase(record=record, candidates=rules.candidates(record.payment, record.postbacks))


def _require_note(note: str, by: str) -> None:
    if not note.strip():
        raise ReviewRefusedError("a note is required: say why (it is kept in the audit trail)")
    if not by.strip():
        raise ReviewRefusedError("who decides is required (--by, or the AWS caller identity)")


def _review_id(now: datetime) -> tuple[str, str]:
    """A decision's own id and the random part its credit keys take: when (to the microsecond) and
    a random part, so that two decisions never share an audit item or a credit key, however close
    together (DESIGN §5)."""
    unique = uuid.uuid4().hex
    return f"{clock.timestamp(now)}#{datetime.now(UTC):%H%M%S%f}#{unique}", unique


def apply_review(
    payment_id: str, allocation: Mapping[str, int], *, note: str, by: str, payment_guid: str | None = None
) -> Payment:
    """Apply ``allocation`` (invoice, or ``ACCOUNT/INVOICE``, → cents; negative to take back what the
    payment credited to an invoice Invoice Cloud did not charge) to a NEEDS_REVIEW payment for the
    Invoice Cloud payment id ``payment_guid`` (default: the only one the payment has heard of): credits,
    corrections, APPROVED, audit, in one transaction. Refused (:class:`ReviewRefusedError`) when the
    payment is not under review, an amount does not fit, or an invoice would be credited above its
    bill (another payment paid it: refund one at Invoice Cloud and dismiss this one)."""
    _require_note(note, by)
    keep_holds: set[InvoiceRef] = set()
    for _attempt in range(_ATTEMPTS):
        record = payments_store.get_payment_record(payment_id)
        payment = record.payment
        if payment is None:
            raise ReviewRefusedError(f"no payment {payment_id}")
        by_line = {rules.line_index(payment, name): cents for name, cents in allocation.items()}
        guid = rules.settled_guid(payment, record.postbacks, payment_guid)
        now = clock.utc_now()
        after = rules.apply_allocation(payment, by_line, record.postbacks, now, payment_guid=guid)
        taken = {index: -cents for index, cents in by_line.items() if cents < 0}
        invoices = billing_store.get_invoices([payment.lines[index].ref for index in taken]) if taken else {}
        try:
            _write_decision(
                payment, after, record, ReviewDecision.APPLY, now, by=by, note=note, guid=guid, added=by_line,
                taken=taken, keep_holds=keep_holds, invoices=invoices,
            )  # fmt: skip
        except PostbackRaceError as race:
            if race.over_credit:
                names = ", ".join(sorted(str(ref) for ref in race.over_credit))
                raise ReviewRefusedError(
                    f"{names} would be credited above its bill: another payment paid it. Refund one of the "
                    "two payments at Invoice Cloud, then dismiss this one."
                ) from None
            keep_holds |= race.holds_lost
            continue
        logger.info("Review applied", extra={"payment_id": payment_id, "invoice_count": len(by_line)})
        # Money Invoice Cloud took back while the payment waited for a person comes off it now.
        if reversals.replay_reversals(payment_id):
            return payments_store.get_payment(payment_id) or after
        return after
    raise ReviewRefusedError("the payment kept changing while the review was applied; try again")


def _write_decision(
    payment: Payment,
    after: Payment,
    record: PaymentRecord,
    decision: ReviewDecision,
    now: datetime,
    *,
    by: str,
    note: str,
    guid: str,
    added: Mapping[int, int],
    taken: Mapping[int, int],
    keep_holds: set[InvoiceRef],
    invoices: Mapping[InvoiceRef, Invoice],
    release: Sequence[InvoiceRef] = (),
) -> None:
    """The decision's audit item, the payment at its new version, its credits and corrections (from
    the ``invoices`` as read), the holds of ``release``, and their ledger entries, in one transaction
    (:class:`PostbackRaceError` when something moved)."""
    review_id, unique = _review_id(now)
    credits = rules.review_credits(payment, added, "rv" + unique)
    corrections = rules.corrections(payment, taken, invoices, "rc" + unique[:20], payment_guid=guid)
    moved = rules.money_by_guid(credits, corrections, guid)
    audit = payment_items.review_put(
        payment.payment_id, review_id, decision=decision.value, reason=payment.review_reason, at=now, by=by,
        note=note, payment_guid=guid, money=moved, credit_key=credits[0].credit_id if credits else None,
        allocation={payment.lines[index].ref.key: cents for index, cents in added.items() if cents > 0}
        | {payment.lines[index].ref.key: -cents for index, cents in taken.items()},
    )  # fmt: skip
    fee = after.convenience_fee_cents - payment.convenience_fee_cents
    credited = {credit.ref.key: credit.cents for credit in credits}
    if fee and not credited:
        # A fee with no credit (a payment confirmed as it stands): on its first invoice, for the export.
        credited = {payment.lines[0].ref.key: 0}
    paid_at = paid_moment(record.postbacks, guid) if guid else None
    ledger = [
        LedgerEntry(
            at=now,
            credit_key=credits[0].credit_id if credits else "rf" + unique[:20],
            payment_id=payment.payment_id,
            kind="PAYMENT",
            payment_guid=guid,
            method=after.payment_method,
            source="review",
            invoices=credited,
            paid_at=paid_at,
            occurred_at=paid_at or now,
            fee_cents=fee,
            card_type=after.card_type or "",
        ),
        *(
            LedgerEntry(
                at=now,
                credit_key=entries[0].credit_key,
                payment_id=payment.payment_id,
                kind="CORRECTION",
                payment_guid=taken_from,
                method=after.payment_method,
                source="review",
                invoices={entry.ref.key: -entry.cents for entry in entries},
                paid_at=(taken_paid := paid_moment(record.postbacks, taken_from)),
                occurred_at=taken_paid or now,
                card_type=after.card_type or "",
            )
            for taken_from, entries in _by_guid(corrections).items()
        ),
    ]
    head = [audit, payment_items.put_payment(after, expected_version=payment.version)]
    credits_store.transact_credits(
        head,
        payment_id=payment.payment_id,
        credits=credits,
        approved_at=now,
        keep_holds=keep_holds,
        ledger=ledger,
        payment_guid=guid,
        corrections=corrections,
        release_holds=release,
    )


def _by_guid(corrections: Sequence[tuple[str, ReversalCredit]]) -> dict[str, list[ReversalCredit]]:
    grouped: dict[str, list[ReversalCredit]] = {}
    for guid, correction in corrections:
        grouped.setdefault(guid, []).append(correction)
    return grouped


def dismiss_review(payment_id: str, *, note: str, by: str) -> Payment:
    """Close a NEEDS_REVIEW payment without money (CLOSED): what it had credited is taken back and its
    holds go, with its audit item, in one transaction."""
    _require_note(note, by)
    for _attempt in range(_ATTEMPTS):
        record = payments_store.get_payment_record(payment_id)
        payment = record.payment
        if payment is None:
            raise ReviewRefusedError(f"no payment {payment_id}")
        now = clock.utc_now()
        after = rules.dismiss(payment, now)
        # The invoices as they are now: what the payment still credits there, and which holds are its own.
        invoices = billing_store.get_invoices([line.ref for line in payment.lines])
        held = [ref for ref, invoice in invoices.items() if invoice.open_payment_id == payment_id]
        try:
            _write_decision(
                payment, after, record, ReviewDecision.DISMISS, now, by=by, note=note, guid="", added={},
                taken=rules.paid_lines(payment), keep_holds=set(), invoices=invoices, release=held,
            )  # fmt: skip
        except PostbackRaceError:
            continue
        logger.info("Review dismissed", extra={"payment_id": payment_id})
        return after
    raise ReviewRefusedError("the payment kept changing while it was dismissed; try again")
