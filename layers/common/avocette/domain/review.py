"""Settling a payment under review (DESIGN §6c *Review*): what ops may decide and what it changes.

A person says where the payment's money belongs (→ APPROVED) or closes it without money (→ CLOSED,
e.g. refunded at Invoice Cloud). Both are refused for a payment that is not NEEDS_REVIEW. An
allocation adds cents to invoices (at most what each still has unpaid in the payment) or, with a
negative amount, takes back what the payment credited to an invoice Invoice Cloud did not charge (a
correction: the rules guessed the invoice, and the payment file said otherwise). Closing takes back
every credit the payment still holds, so that a closed payment credits nothing. Each decision names
the Invoice Cloud payment id it settles, so that the payment file can later match its money. The
store applies the credits through the same conditions as a postback's: a review can never credit an
invoice above its bill either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from avocette import money
from avocette.domain.billing import Credit, Invoice, InvoiceRef, credit_id, decode_key_part
from avocette.domain.payments import Payment, PaymentStatus
from avocette.domain.postbacks import Outcome, PostbackCredit, RecordedPostback, ReviewReason, allocate
from avocette.domain.reconciliation import ReversalCredit

__all__ = [
    "Candidate",
    "ReviewDecision",
    "ReviewRefusedError",
    "apply_allocation",
    "candidates",
    "corrections",
    "dismiss",
    "known_payment_guids",
    "latest_approval",
    "line_index",
    "money_by_guid",
    "paid_lines",
    "reported_cents",
    "review_credits",
    "settled_guid",
]


class ReviewDecision(StrEnum):
    APPLY = "APPLY"
    DISMISS = "DISMISS"


class ReviewRefusedError(ValueError):
    """A review action that cannot be taken; the message says why, for the person at the terminal."""


def _require_review(payment: Payment) -> None:
    if payment.status is not PaymentStatus.NEEDS_REVIEW:
        raise ReviewRefusedError(f"payment {payment.payment_id} is {payment.status.value}, not NEEDS_REVIEW")


def line_index(payment: Payment, name: str) -> int:
    """The line named ``INVOICE`` or ``ACCOUNT/INVOICE`` (needed when two accounts share a number; a
    ``/`` or ``%`` inside an identifier is written ``%2F`` or ``%25``, as in the invoice's key)."""
    if "/" in name:
        try:
            ref = InvoiceRef.from_key(name)
        except ValueError:
            raise ReviewRefusedError(f"{name}: write ACCOUNT/INVOICE, with a / inside either written %2F") from None
        matches = [index for index, line in enumerate(payment.lines) if line.ref == ref]
    else:
        invoice = decode_key_part(name)
        matches = [index for index, line in enumerate(payment.lines) if line.invoice_number == invoice]
    if not matches:
        raise ReviewRefusedError(f"{name} is not an invoice of payment {payment.payment_id}")
    if len(matches) > 1:
        raise ReviewRefusedError(f"{name} names several invoices of the payment: write ACCOUNT/{name}")
    return matches[0]


def latest_approval(recorded: Mapping[str, RecordedPostback], guid: str | None = None) -> RecordedPostback | None:
    """The latest readable approval recorded (of Invoice Cloud payment id ``guid``, when given)."""
    approvals = [
        r
        for r in recorded.values()
        if r.postback.approved and r.postback.problem is None and guid in (None, r.postback.payment_guid)
    ]
    return max(approvals, key=lambda r: r.received_at, default=None)


def known_payment_guids(payment: Payment, recorded: Mapping[str, RecordedPostback]) -> list[str]:
    """The Invoice Cloud payment ids this payment has heard of: its postbacks' and file rows' (an
    unreadable one's too, when it named one) and those it applied money for."""
    guids = {record.postback.payment_guid for record in recorded.values() if record.postback.payment_guid}
    return sorted(guids | set(payment.ic_payment_ids))


def settled_guid(payment: Payment, recorded: Mapping[str, RecordedPostback], given: str | None) -> str:
    """The Invoice Cloud payment id a decision settles: the one given, or the only one the payment has
    heard of. Refused when none or several are known and none is given."""
    if given:
        return given
    known = known_payment_guids(payment, recorded)
    if len(known) == 1:
        return known[0]
    if not known:
        raise ReviewRefusedError(
            "no Invoice Cloud payment id is recorded for this payment: give the one Invoice Cloud shows "
            "(--payment-guid)"
        )
    raise ReviewRefusedError(f"this payment has several Invoice Cloud payment ids ({', '.join(known)}): give one")


def reported_cents(recorded: Mapping[str, RecordedPostback]) -> int | None:
    """What Invoice Cloud said it charged for the payment, the fees included (a cap on what a person
    may credit, generous whichever way IC_AMOUNT_INCLUDES_FEE guessed): for each of its payment ids,
    its readable approvals together (one per invoice or account, each at the largest a copy of it
    said: a conflicting copy restates the same money), or its payment file's rows together when more.
    ``None`` when nothing readable was recorded (ops then know the amount from Invoice Cloud)."""
    told: dict[tuple[str, str, str], int] = {}  # (source, payment id, identity) -> cents said
    for record in recorded.values():
        postback = record.postback
        if not (postback.approved and postback.problem is None and postback.values.amount_cents):
            continue
        said = postback.values.amount_cents + postback.fee_cents
        slot = (record.source, postback.payment_guid, postback.identity)
        told[slot] = max(told.get(slot, 0), said)
    by_source: dict[tuple[str, str], int] = {}
    for (source, guid, _), cents in told.items():
        by_source[(source, guid)] = by_source.get((source, guid), 0) + cents
    guids = {guid for _, guid in by_source}
    if not guids:
        return None
    return sum(max(by_source.get((source, guid), 0) for source in ("postback", "file")) for guid in guids)


def reported_fee_cents(recorded: Mapping[str, RecordedPostback], guid: str) -> int:
    """The convenience fee Invoice Cloud reported for its payment id ``guid``: each postback identity's
    fee once (a conflicting copy may say another), summed, from the postbacks or the file, whichever
    told more."""
    told: dict[tuple[str, str], int] = {}
    for record in recorded.values():
        postback = record.postback
        if postback.approved and postback.problem is None and postback.payment_guid == guid:
            slot = (record.source, postback.identity)
            told[slot] = max(told.get(slot, 0), postback.fee_cents)
    by_source: dict[str, int] = {}
    for (source, _), fee in told.items():
        by_source[source] = by_source.get(source, 0) + fee
    return max(by_source.values(), default=0)


def apply_allocation(
    payment: Payment,
    allocation: Mapping[int, int],
    recorded: Mapping[str, RecordedPostback],
    now: datetime,
    *,
    payment_guid: str,
) -> Payment:
    """NEEDS_REVIEW → APPROVED with ``allocation`` (cents by line index; negative to take back what
    the payment credited there). With no allocation, the payment is confirmed as it stands (it must
    have credits). Refused when an amount does not fit its invoice, when nothing would be left (close
    it instead), or when the payment would then hold more than its readable approvals reported (a
    person cannot credit money Invoice Cloud never said it charged; with no readable approval, ops
    know the amount from IC). The payment's Invoice Cloud details (payment id, fee, method, approval
    code) come from the settled payment id's latest readable approval, when the payment lacks them."""
    _require_review(payment)
    lines = list(payment.lines)
    for index, cents in allocation.items():
        line = lines[index]
        if cents == 0:
            raise ReviewRefusedError(f"{line.invoice_number}: the amount must not be zero")
        if cents > line.unpaid_cents:
            raise ReviewRefusedError(
                f"{line.invoice_number}: {money.cents_to_text(cents)} is more than the "
                f"{money.cents_to_text(line.unpaid_cents)} still unpaid on it in this payment"
            )
        if -cents > line.paid_cents:
            raise ReviewRefusedError(
                f"{line.invoice_number}: the payment credited only {money.cents_to_text(line.paid_cents)} "
                f"there, so no more than that can be taken back"
            )
        lines[index] = replace(line, paid_cents=line.paid_cents + cents)
    total_paid = sum(line.paid_cents for line in lines)
    if total_paid == 0:
        if not allocation:
            raise ReviewRefusedError("the payment credits nothing: give INVOICE=AMOUNT, or dismiss it")
        raise ReviewRefusedError("that leaves nothing on the payment: dismiss it instead")
    reported = reported_cents(recorded)
    if reported is not None and total_paid > reported:
        raise ReviewRefusedError(
            f"that would credit {money.cents_to_text(total_paid)} in all, more than the "
            f"{money.cents_to_text(reported)} Invoice Cloud reported for this payment"
        )
    update: dict[str, object] = {
        "status": PaymentStatus.APPROVED,
        "lines": tuple(lines),
        "version": payment.version + 1,
        "completed_at": payment.completed_at or now,
    }
    if payment_guid not in payment.ic_payment_ids:
        update["ic_payment_ids"] = (*payment.ic_payment_ids, payment_guid)
    approval = latest_approval(recorded, payment_guid)
    if approval is not None:
        postback = approval.postback
        if payment_guid not in payment.ic_payment_ids:
            # The fee Invoice Cloud reported for this payment id: it sends the fee on one invoice's
            # postback only, which need not be the latest (§6f). (Once a postback of the id applied
            # money, or a review settled it, its fee stays as it is, so that nothing counts it twice.)
            update["convenience_fee_cents"] = payment.convenience_fee_cents + reported_fee_cents(recorded, payment_guid)
        method = payment.payment_method or postback.payment_method
        update["payment_method"] = method
        update["card_type"] = payment.card_type or (postback.card_type if method != "ACH" else None) or None
        update["authorization"] = payment.authorization or postback.authorization or None
    return replace(payment, **update)  # type: ignore[arg-type]


def review_credits(payment: Payment, allocation: Mapping[int, int], source: str) -> list[PostbackCredit]:
    """The invoices' credits of an applied review: its positive amounts (``source`` makes their keys
    unique)."""
    return [
        PostbackCredit(
            ref=payment.lines[index].ref,
            credit_id=credit_id(payment.payment_id, source),
            cents=cents,
            releases_hold=payment.lines[index].paid_cents + cents >= payment.lines[index].due_cents,
            account_credit_cents=payment.lines[index].account_credit_cents,
        )
        for index, cents in sorted(allocation.items())
        if cents > 0
    ]


def corrections(
    payment: Payment,
    taken_back: Mapping[int, int],
    invoices: Mapping[InvoiceRef, Invoice],
    source: str,
    *,
    payment_guid: str = "",
) -> list[tuple[str, ReversalCredit]]:
    """What taking ``taken_back`` cents (by line index, positive) from the payment's credits means on
    each invoice: for each Invoice Cloud payment id it takes from (``payment_guid``'s credits first,
    then the newest), a negative entry of its own and how much it takes from each credit there.
    Answers (payment id, entry) pairs; ``source`` keeps the entries' keys unique."""
    found: list[tuple[str, ReversalCredit]] = []
    # One key per payment id for the whole decision: its entries on every invoice share it, as one
    # ledger entry does (a reversal's do the same).
    positions: dict[str, int] = {}
    for index, cents in sorted(taken_back.items()):
        line = payment.lines[index]
        invoice = invoices.get(line.ref)
        held = [] if invoice is None else _credits_held(invoice, payment.payment_id)
        held.sort(key=lambda item: (item[1].payment_guid != payment_guid, -item[1].approved_at.timestamp(), item[0]))
        by_guid: dict[str, dict[str, int]] = {}
        left = cents
        for key, credit in held:
            take = min(left, credit.remaining_cents)
            if take:
                by_guid.setdefault(credit.payment_guid, {})[key] = take
                left -= take
        if left or invoice is None:
            raise ReviewRefusedError(
                f"{line.invoice_number}: the invoice does not hold {money.cents_to_text(cents)} of this payment's "
                "credits to take back"
            )
        for guid, taken in by_guid.items():
            position = positions.setdefault(guid, len(positions))
            entry = ReversalCredit(
                ref=line.ref,
                credit_key=credit_id(payment.payment_id, f"{source}{position}"),
                cents=sum(taken.values()),
                taken=taken,
                reversed_after={key: invoice.credits[key].reversed_cents + take for key, take in taken.items()},
            )
            found.append((guid, entry))
    return found


def _credits_held(invoice: Invoice, payment_id: str) -> list[tuple[str, Credit]]:
    return [
        (key, credit)
        for key, credit in invoice.credits.items()
        if credit.payment_id == payment_id and credit.kind == "PAYMENT" and credit.remaining_cents > 0
    ]


def dismiss(payment: Payment, now: datetime) -> Payment:
    """NEEDS_REVIEW → CLOSED: no money stays on it (e.g. the payer was refunded at Invoice Cloud);
    what it had credited is taken back (:func:`corrections` of every line's paid cents)."""
    _require_review(payment)
    return replace(
        payment,
        status=PaymentStatus.CLOSED,
        lines=tuple(replace(line, paid_cents=0) for line in payment.lines),
        version=payment.version + 1,
        completed_at=payment.completed_at or now,
    )


def paid_lines(payment: Payment) -> dict[int, int]:
    """Every line's paid cents, by index: what closing the payment takes back."""
    return {index: line.paid_cents for index, line in enumerate(payment.lines) if line.paid_cents}


@dataclass(frozen=True)
class Candidate:
    """What one recorded approval would pay by the rules, for a person deciding: the allocation
    (invoice key → cents) or the reason it has none."""

    postback_key: str
    credit_cents: int | None
    invoice_number: str
    allocation: dict[str, int]
    reason: ReviewReason | None


def candidates(payment: Payment, recorded: Mapping[str, RecordedPostback]) -> list[Candidate]:
    """For each readable approval recorded but not applied, what the allocation rules make of it
    against what is still unpaid in the payment (oldest first)."""
    found = []
    for record in sorted(recorded.values(), key=lambda r: r.received_at):
        postback = record.postback
        if not postback.approved or postback.problem is not None or record.outcome is Outcome.APPLIED:
            continue
        result = allocate(payment, postback.invoice_number, postback.credit_cents or 0)
        allocation = (
            {}
            if isinstance(result, ReviewReason)
            else {payment.lines[index].ref.key: cents for index, cents in result.items()}
        )
        found.append(
            Candidate(
                postback_key=record.key,
                credit_cents=postback.credit_cents,
                invoice_number=postback.invoice_number,
                allocation=allocation,
                reason=result if isinstance(result, ReviewReason) else None,
            )
        )
    return found


def money_by_guid(
    credits: Sequence[PostbackCredit], taken: Sequence[tuple[str, ReversalCredit]], guid: str
) -> dict[str, dict[str, int]]:
    """What a decision moved, by Invoice Cloud payment id and invoice key (negative when taken back)."""
    moved: dict[str, dict[str, int]] = {}
    for credit in credits:
        by_ref = moved.setdefault(guid, {})
        by_ref[credit.ref.key] = by_ref.get(credit.ref.key, 0) + credit.cents
    for taken_from, correction in taken:
        by_ref = moved.setdefault(taken_from, {})
        by_ref[correction.ref.key] = by_ref.get(correction.ref.key, 0) - correction.cents
    return moved
