"""What a postback does to its payment: the one home of the rules of DESIGN §6c.

Invoice Cloud's wire fields are read elsewhere (``avocette.invoicecloud.postback``) into a
:class:`ReceivedPostback`; this module decides every outcome from that value and the postbacks
already recorded for the payment — duplicate, conflicting, invalid, declined, for review, applied —
and says how the payment changes. The service only reads, asks, writes and retries. Nothing here
reads or writes anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from avocette.domain.billing import InvoiceRef, credit_id
from avocette.domain.payments import Payment, PaymentStatus

__all__ = [
    "Decision",
    "MoneyByGuid",
    "Outcome",
    "PaymentMethod",
    "PostbackCredit",
    "PostbackValues",
    "ReceivedPostback",
    "RecordedPostback",
    "ReviewReason",
    "Source",
    "allocate",
    "apply_decision",
    "conflict_key",
    "credits_of",
    "decide_postback",
    "decision_keys",
    "money_applied",
    "paid_moment",
    "postback_identity",
]

PaymentMethod = Literal["CARD", "ACH"]


class Outcome(StrEnum):
    APPLIED = "APPLIED"  # approved and reconciled: money applied
    DECLINED = "DECLINED"  # a declined attempt: no money
    REVIEW = "REVIEW"  # not reconcilable: recorded, payment to NEEDS_REVIEW, no money
    RECORDED = "RECORDED"  # the payment is already under review: recorded only
    INVALID = "INVALID"  # unreadable (400): recorded, payment to NEEDS_REVIEW
    DUPLICATE = "DUPLICATE"  # the same postback again: nothing changes


class ReviewReason(StrEnum):
    UNKNOWN_INVOICE = "unknown_invoice"
    AMBIGUOUS_INVOICE = "ambiguous_invoice"
    UNALLOCATED_AMOUNT = "unallocated_amount"
    AMOUNT_EXCEEDS_DUE = "amount_exceeds_due"
    PARTIAL_NOT_ALLOWED = "partial_not_allowed"
    INVALID_AMOUNT = "invalid_amount"
    DUPLICATE_PAYMENT = "duplicate_payment"
    BILLER_REFERENCE_MISMATCH = "biller_reference_mismatch"
    BILLER_GUID_MISMATCH = "biller_guid_mismatch"
    CONFLICTING_POSTBACK = "conflicting_postback"
    INVALID_POSTBACK = "invalid_postback"
    PAYMENT_CLOSED = "payment_closed"
    RECONCILIATION_MISMATCH = "reconciliation_mismatch"


# ---- the postback, read --------------------------------------------------------------------------


@dataclass(frozen=True)
class PostbackValues:
    """What a postback says about money, read: two deliveries of one postback are the same when
    these are equal, whatever their formatting (``10`` and ``$10.00`` are both 1000 cents)."""

    approved: bool | None
    invoice_number: str
    amount_cents: int | None
    fee_cents: int | None
    payment_type_id: str
    biller_reference: str
    biller_guid: str  # lower case: GUIDs compare without case

    @property
    def digest(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ReceivedPostback:
    """A postback as the domain sees it. ``problem`` says why it cannot be read (a 400)."""

    identity: str
    payment_guid: str
    values: PostbackValues
    credit_cents: int | None  # what reaches the biller: the amount, less the fee when IC includes it
    payment_method: PaymentMethod | None  # from PaymentTypeID through IC_PAYMENT_TYPE_IDS; None when unknown
    card_type: str
    authorization: str  # IC's PaymentMessage, e.g. an approval code
    payment_date: str
    problem: str | None = None
    # Invoice Cloud's payment file names the account of each row; its postbacks do not.
    account_number: str = ""
    # ``payment_date`` read (the payment file's own date for a row): None when absent or unreadable.
    paid_at: datetime | None = None

    @property
    def approved(self) -> bool:
        return self.values.approved is True

    @property
    def invoice_number(self) -> str:
        return self.values.invoice_number

    @property
    def fee_cents(self) -> int:
        return self.values.fee_cents or 0

    @property
    def ref_key(self) -> str:
        """The invoice a payment-file row names (its postbacks name no account)."""
        return InvoiceRef(account_number=self.account_number, invoice_number=self.invoice_number).key


def conflict_key(postback: ReceivedPostback) -> str:
    """Where a postback is recorded when another of its identity, saying otherwise, was recorded first."""
    return f"{postback.identity}-{postback.values.digest[:16]}"


def decision_keys(postback: ReceivedPostback) -> tuple[str, ...] | None:
    """The recorded postbacks a decision on ``postback`` can depend on, when that is not all of them:
    a readable decline moves no money, so only its own identity and its conflicting copy matter.
    ``None`` when the decision needs every postback of the payment."""
    if postback.problem is None and postback.values.approved is False:
        return (postback.identity, conflict_key(postback))
    return None


def postback_identity(payment_guid: str, invoice_number: str, approved: bool) -> str:
    """sha256(PaymentGUID, InvoiceNumber, Approved): one postback, however often it arrives."""
    material = "\x1f".join((payment_guid, invoice_number, "true" if approved else "false"))
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class RecordedPostback:
    """A postback as stored for its payment, with what came of it. ``key`` is what it is recorded
    under: its identity, or, for a conflicting copy, its identity and the digest of its values."""

    key: str
    postback: ReceivedPostback
    outcome: Outcome
    reason: ReviewReason | None
    received_at: datetime
    source: Literal["postback", "file"] = "postback"
    allocation: Mapping[str, int] = field(default_factory=dict)  # APPLIED: cents by "ACCOUNT/INVOICE"


Source = Literal["postback", "file"]
MoneyByGuid = Mapping[str, Mapping[str, int]]  # Invoice Cloud payment id -> invoice key -> cents


def money_applied(
    recorded: Mapping[str, RecordedPostback],
    reviewed: MoneyByGuid | None = None,
    *,
    sources: tuple[Source, ...] = ("postback", "file"),
) -> dict[str, dict[str, int]]:
    """What each of Invoice Cloud's payment ids has applied to the payment's invoices (before any
    reversal): its applied postbacks received or recovered from the payment file (those of
    ``sources``), and the review decisions taken for it (their corrections netted)."""
    money: dict[str, dict[str, int]] = {}
    for record in recorded.values():
        if record.outcome is Outcome.APPLIED and record.source in sources:
            _add(money.setdefault(record.postback.payment_guid, {}), record.allocation)
    for guid, allocation in (reviewed or {}).items():
        _add(money.setdefault(guid, {}), allocation)
    return money


def _add(into: dict[str, int], allocation: Mapping[str, int]) -> None:
    for ref, cents in allocation.items():
        into[ref] = into.get(ref, 0) + cents


# ---- the decision ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What a postback does. ``record_as`` is the identity it is recorded under ("" for a duplicate);
    ``allocation`` the cents to credit, by index into ``payment.lines``."""

    outcome: Outcome
    status: PaymentStatus
    record_as: str = ""
    reason: ReviewReason | None = None
    allocation: Mapping[int, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # metric names for money applied outside the invoice's own terms

    @property
    def applies_money(self) -> bool:
        return bool(self.allocation)


@dataclass(frozen=True)
class PostbackCredit:
    """One invoice's credit from one decision: its key in the invoice's ``credits`` and its cents."""

    ref: InvoiceRef
    credit_id: str
    cents: int
    releases_hold: bool  # the invoice is paid in full by this payment: its hold goes
    # The account credit its payment line was lowered by (PaymentLine.account_credit_cents): the invoice
    # must stay at least that much unpaid after this credit, or the credit would be netted twice.
    account_credit_cents: int = 0

    @property
    def needs_unpaid_cents(self) -> int:
        """What must still be unpaid on the invoice for this credit to apply (DESIGN §5, §6c)."""
        return self.cents + self.account_credit_cents


def _review(payment: Payment, reason: ReviewReason, record_as: str) -> Decision:
    """Anything not reconcilable: NEEDS_REVIEW (sticky), no money applied."""
    if payment.status is PaymentStatus.NEEDS_REVIEW:
        return Decision(Outcome.RECORDED, PaymentStatus.NEEDS_REVIEW, record_as, reason)
    return Decision(Outcome.REVIEW, PaymentStatus.NEEDS_REVIEW, record_as, reason)


def decide_postback(
    payment: Payment,
    postback: ReceivedPostback,
    recorded: Mapping[str, RecordedPostback],
    *,
    biller_guid: str,
    over_credit_refused: bool = False,
    source: Source = "postback",
    reviewed: MoneyByGuid | None = None,
    told_by_file: Mapping[str, int] | None = None,
) -> Decision:
    """The transition table of §6c for one postback, received from Invoice Cloud or recovered from
    its payment file (``source``, §6d).

    ``recorded`` holds the payment's postbacks by key; ``reviewed`` the money review decisions
    applied, by Invoice Cloud payment id; ``told_by_file`` what the whole payment file says this
    postback's payment id paid, by invoice key (a file row only; by default, the row alone).
    ``over_credit_refused`` says the store refused this postback's credits because an invoice would
    have been credited above its bill across all payments: the payer was charged twice
    (``duplicate_payment``).

    Conservation (§6c): money Invoice Cloud charged is credited, or waits in review; it is dropped
    only as a duplicate, and a duplicate re-tells money already applied for the same invoices by the
    same payment id."""
    if source == "file":
        told = told_by_file if told_by_file is not None else {postback.ref_key: postback.credit_cents or 0}
        return _decide_row(
            payment, postback, recorded, over_credit_refused=over_credit_refused, reviewed=reviewed, told=told
        )
    record_as = postback.identity
    if record_as in recorded:
        return _again(payment, postback, recorded, ReviewReason.CONFLICTING_POSTBACK)
    if postback.problem is not None:
        decision = _review(payment, ReviewReason.INVALID_POSTBACK, record_as)
        return Decision(Outcome.INVALID, decision.status, record_as, decision.reason)
    if not postback.approved:
        if payment.status in (PaymentStatus.CREATED, PaymentStatus.PENDING):
            return Decision(Outcome.DECLINED, PaymentStatus.DECLINED, record_as)
        return Decision(Outcome.DECLINED, payment.status, record_as)
    # Money of this payment id that Invoice Cloud's file or a person has told: Invoice Cloud's other
    # postbacks of one payment id cover other invoices, so only these can tell the same money again.
    told_otherwise = money_applied(recorded, reviewed, sources=("file",)).get(postback.payment_guid, {})
    if told_otherwise:
        if _retells(payment, postback, told_otherwise):
            return Decision(Outcome.DUPLICATE, payment.status)
        # The file (or a person) said what this payment id charged, and it is not this: a person looks.
        return _review(payment, ReviewReason.CONFLICTING_POSTBACK, record_as)
    if payment.status is PaymentStatus.NEEDS_REVIEW:
        return Decision(Outcome.RECORDED, PaymentStatus.NEEDS_REVIEW, record_as)
    reason = _unreconcilable(payment, postback, biller_guid)
    if reason is None and over_credit_refused:
        reason = ReviewReason.DUPLICATE_PAYMENT
    if reason is not None:
        return _review(payment, reason, record_as)
    return _allocated(payment, postback, record_as, allocate(payment, postback.invoice_number, postback.credit_cents))


def _decide_row(
    payment: Payment,
    row: ReceivedPostback,
    recorded: Mapping[str, RecordedPostback],
    *,
    over_credit_refused: bool,
    reviewed: MoneyByGuid | None,
    told: Mapping[str, int],
) -> Decision:
    """A PAYMENT row of Invoice Cloud's payment file, which names the account and invoice it paid.

    It is matched (a duplicate) when its payment id applied exactly its cents on that invoice,
    whoever applied them (a postback in whatever shape, an earlier file, a person); a different
    amount there, or money of its payment id on invoices the file does not list for it, is a
    mismatch for a person; otherwise it is a lost postback, recovered on exactly that invoice. A row
    read before and not applied (its payment was under review) that a person's decision left out is
    a mismatch again once the payment has moved on."""
    record_as = row.identity
    applied = money_applied(recorded, reviewed).get(row.payment_guid, {})
    on_invoice = applied.get(row.ref_key, 0)
    # Money of its payment id beyond what the file lists on some invoice: the rules (or a person) put
    # it where Invoice Cloud did not charge it, whatever this row says of its own invoice.
    beyond = _beyond_the_file(applied, told)
    if on_invoice == row.credit_cents and not beyond:
        return Decision(Outcome.DUPLICATE, payment.status)
    if record_as in recorded:
        if recorded[record_as].postback.values != row.values:
            return _again(payment, row, recorded, ReviewReason.RECONCILIATION_MISMATCH)
        if payment.status in (PaymentStatus.NEEDS_REVIEW, PaymentStatus.CLOSED):
            # Read before: still waiting for a person, or a person closed the payment (refunded).
            return Decision(Outcome.DUPLICATE, payment.status)
        # Read before and not applied; a person then settled the payment without this money, which
        # the file still says Invoice Cloud charged: the person looks again (once per change of the payment).
        again = f"{record_as}-v{payment.version}"
        if again in recorded:
            return Decision(Outcome.DUPLICATE, payment.status)
        return _review(payment, ReviewReason.RECONCILIATION_MISMATCH, again)
    if on_invoice or beyond:
        # Applying the row would credit twice, or beside money the file says went elsewhere.
        return _review(payment, ReviewReason.RECONCILIATION_MISMATCH, record_as)
    if payment.status is PaymentStatus.NEEDS_REVIEW:
        return Decision(Outcome.RECORDED, PaymentStatus.NEEDS_REVIEW, record_as)
    reason = _unreconcilable(payment, row, "")
    if reason is None and over_credit_refused:
        reason = ReviewReason.DUPLICATE_PAYMENT
    if reason is not None:
        return _review(payment, reason, record_as)
    return _allocated(payment, row, record_as, _on_the_line(payment, row.ref_key, row.credit_cents or 0))


def _allocated(
    payment: Payment, postback: ReceivedPostback, record_as: str, allocation: dict[int, int] | ReviewReason
) -> Decision:
    if isinstance(allocation, ReviewReason):
        return _review(payment, allocation, record_as)
    if payment.status in (PaymentStatus.REVERSED, PaymentStatus.CLOSED):
        # Money for a payment already settled otherwise: a person must see it.
        return _review(payment, ReviewReason.PAYMENT_CLOSED, record_as)
    return Decision(Outcome.APPLIED, PaymentStatus.APPROVED, record_as, None, allocation, _notes(payment, allocation))


def _again(
    payment: Payment, postback: ReceivedPostback, recorded: Mapping[str, RecordedPostback], reason: ReviewReason
) -> Decision:
    """A postback (or file row) whose identity is recorded already: a duplicate when it says the
    same, else recorded beside it (once) for a person to decide."""
    if recorded[postback.identity].postback.values == postback.values:
        return Decision(Outcome.DUPLICATE, payment.status)
    record_as = conflict_key(postback)
    if record_as in recorded:
        return Decision(Outcome.DUPLICATE, payment.status)
    if not postback.approved and postback.problem is None:
        # A decline moves no money: whatever another copy says of amounts is recorded, never reviewed.
        return Decision(Outcome.DECLINED, payment.status, record_as)
    return _review(payment, reason, record_as)


def _beyond_the_file(applied: Mapping[str, int], told: Mapping[str, int]) -> bool:
    """Money of one payment id applied to an invoice beyond what its payment file lists for it there
    (on an invoice the file does not list for it at all, or more than the file says)."""
    return any(cents > told.get(ref, 0) for ref, cents in applied.items())


def _retells(payment: Payment, postback: ReceivedPostback, told: Mapping[str, int]) -> bool:
    """Whether a postback tells again money its payment id's file rows or review decisions applied:
    its credit is that money on the invoices it covers. A named invoice covers itself, its account
    within the payment, or the whole payment (one postback per invoice, per account, or per payment),
    but only where that money reached the named invoice; a postback naming no invoice covers one
    account or the whole payment."""
    credit = postback.credit_cents
    refs = [line.ref.key for line in payment.lines]
    if not postback.invoice_number:
        scopes = [refs, *_by_account(payment).values()]
        return any(sum(told.get(ref, 0) for ref in scope) == credit for scope in scopes)
    named = [line.ref.key for line in payment.lines if line.invoice_number == postback.invoice_number]
    if not any(told.get(ref, 0) for ref in named):
        return False
    accounts = {line.account_number for line in payment.lines if line.invoice_number == postback.invoice_number}
    account_refs = [line.ref.key for line in payment.lines if line.account_number in accounts]
    return any(sum(told.get(ref, 0) for ref in scope) == credit for scope in (named, account_refs, refs))


def _by_account(payment: Payment) -> dict[str, list[str]]:
    accounts: dict[str, list[str]] = {}
    for line in payment.lines:
        accounts.setdefault(line.account_number, []).append(line.ref.key)
    return accounts


def _unreconcilable(payment: Payment, postback: ReceivedPostback, biller_guid: str) -> ReviewReason | None:
    values = postback.values
    if values.biller_reference and values.biller_reference != payment.payment_id:
        return ReviewReason.BILLER_REFERENCE_MISMATCH
    if values.biller_guid and biller_guid and values.biller_guid != biller_guid.lower():
        return ReviewReason.BILLER_GUID_MISMATCH
    if not postback.credit_cents or postback.credit_cents <= 0:
        return ReviewReason.INVALID_AMOUNT
    return None


def allocate(payment: Payment, invoice_number: str, credit: int | None) -> dict[int, int] | ReviewReason:
    """Where a credit goes, by the first rule that fits (§6c); never a guess between accounts:
    1. the postback names an invoice that is not in the payment: review (``unknown_invoice``);
    2. the credit equals what is unpaid on the whole payment: every unpaid invoice gets its due;
    3. a named invoice, and the credit equals the unpaid total of its account within the payment:
       that account's unpaid invoices (Invoice Cloud sending one postback per account);
    4. a named invoice, and the credit is at most its unpaid due: that invoice (a part payment only
       when the invoice allows partial payments);
    5. no invoice named, and exactly one invoice is unpaid: that one (the same part-payment rule);
    6. anything else: review (``unallocated_amount``)."""
    lines = payment.lines
    credit = credit or 0
    named = [index for index, line in enumerate(lines) if line.invoice_number == invoice_number]
    if invoice_number and not named:
        return ReviewReason.UNKNOWN_INVOICE
    unpaid = {index: line.unpaid_cents for index, line in enumerate(lines) if line.unpaid_cents > 0}
    if not unpaid:
        return ReviewReason.DUPLICATE_PAYMENT
    if credit == sum(unpaid.values()):
        return dict(unpaid)

    if invoice_number:
        if len(named) > 1:
            return ReviewReason.AMBIGUOUS_INVOICE
        index = named[0]
        account = lines[index].account_number
        account_unpaid = {i: cents for i, cents in unpaid.items() if lines[i].account_number == account}
        if account_unpaid and credit == sum(account_unpaid.values()):
            return account_unpaid
        if index not in unpaid:
            return ReviewReason.DUPLICATE_PAYMENT
        return _one_invoice(payment, index, credit)

    if len(unpaid) == 1:
        return _one_invoice(payment, next(iter(unpaid)), credit)
    return ReviewReason.UNALLOCATED_AMOUNT


def _on_the_line(payment: Payment, ref_key: str, credit: int) -> dict[int, int] | ReviewReason:
    """A payment file's row: exactly the invoice it names (account and number), or review."""
    named = [index for index, line in enumerate(payment.lines) if line.ref.key == ref_key]
    if not named:
        return ReviewReason.UNKNOWN_INVOICE
    if not payment.lines[named[0]].unpaid_cents:
        return ReviewReason.DUPLICATE_PAYMENT
    return _one_invoice(payment, named[0], credit)


def _one_invoice(payment: Payment, index: int, credit: int) -> dict[int, int] | ReviewReason:
    line = payment.lines[index]
    if credit > line.unpaid_cents:
        return ReviewReason.AMOUNT_EXCEEDS_DUE
    if credit < line.unpaid_cents and line.allow_partial is not True:
        return ReviewReason.PARTIAL_NOT_ALLOWED
    return {index: credit}


def _notes(payment: Payment, allocation: Mapping[int, int]) -> tuple[str, ...]:
    notes: list[str] = []
    for index, cents in allocation.items():
        line = payment.lines[index]
        paid_after = line.paid_cents + cents
        if paid_after < line.due_cents:
            notes.append("PartialPaymentApplied")
        if line.minimum_cents is not None and paid_after < line.minimum_cents:
            notes.append("BelowMinimumAmountDue")
    return tuple(notes)


# ---- the effects ----------------------------------------------------------------------------------


def apply_decision(payment: Payment, decision: Decision, postback: ReceivedPostback, now: datetime) -> Payment:
    """The payment after ``decision``: status, paid amounts, IC ids, fee, method, completion."""
    lines = list(payment.lines)
    for index, cents in decision.allocation.items():
        line = lines[index]
        lines[index] = replace(line, paid_cents=line.paid_cents + cents)
    update: dict[str, object] = {"status": decision.status, "lines": tuple(lines), "version": payment.version + 1}
    if decision.applies_money:
        if postback.payment_guid not in payment.ic_payment_ids:
            update["ic_payment_ids"] = (*payment.ic_payment_ids, postback.payment_guid)
        update["convenience_fee_cents"] = payment.convenience_fee_cents + postback.fee_cents
        method = postback.payment_method or payment.payment_method
        update["payment_method"] = method
        # Invoice Cloud may send the bank account's type (e.g. "Checking") as CardType for ACH.
        update["card_type"] = (postback.card_type if method != "ACH" else None) or payment.card_type
        update["authorization"] = postback.authorization or payment.authorization
    if decision.status is PaymentStatus.NEEDS_REVIEW and payment.status is not PaymentStatus.NEEDS_REVIEW:
        update["review_reason"] = decision.reason.value if decision.reason else None
        update["flagged_at"] = now
    if decision.status.final and payment.completed_at is None:
        update["completed_at"] = now
    return replace(payment, **update)  # type: ignore[arg-type]


def credits_of(payment: Payment, decision: Decision) -> list[PostbackCredit]:
    """Each invoice's credit from ``decision``, keyed by the postback it came from."""
    credits = []
    for index, cents in sorted(decision.allocation.items()):
        line = payment.lines[index]
        credits.append(
            PostbackCredit(
                ref=line.ref,
                credit_id=credit_id(payment.payment_id, decision.record_as),
                cents=cents,
                releases_hold=line.paid_cents + cents >= line.due_cents,
                account_credit_cents=line.account_credit_cents,
            )
        )
    return credits


def paid_moment(recorded: Mapping[str, RecordedPostback], guid: str) -> datetime | None:
    """When the payer paid, as Invoice Cloud dated it, for its payment id ``guid``: the earliest date
    of its readable approvals (a payment file's row among them), or, where none could be read, when
    the first arrived; ``None`` when none is recorded (DESIGN §6e: the payment date a reversal or a
    review decision of that money carries)."""
    approvals = [
        record
        for record in recorded.values()
        if record.postback.approved and record.postback.problem is None and record.postback.payment_guid == guid
    ]
    dated = [record.postback.paid_at for record in approvals if record.postback.paid_at is not None]
    if dated:
        return min(dated)
    return min((record.received_at for record in approvals), default=None)
