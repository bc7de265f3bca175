"""Receiving Invoice Cloud's postback (DESIGN §3 and §6c).

The token is checked before anything is read. Then one Query reads the payment with its postbacks,
:func:`avocette.domain.postbacks.decide_postback` says what happens, and one transaction writes it.
The conditional writes are the idempotency and the guard against paying an invoice twice: a
duplicate costs one Query and changes nothing; a race with another delivery is read back and
retried (at most three times, with jitter); a credit that would take an invoice above its bill
across payments is refused by the invoice's own condition, and the postback is recorded for
review instead (one more transaction, no more reads).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock, errors
from avocette.domain.billing import InvoiceRef
from avocette.domain.ledger import LedgerEntry
from avocette.domain.payments import Payment, PaymentStatus
from avocette.domain.postbacks import (
    Decision,
    Outcome,
    ReceivedPostback,
    RecordedPostback,
    Source,
    apply_decision,
    credits_of,
    decide_postback,
    decision_keys,
)
from avocette.errors import StoreUnavailableError
from avocette.invoicecloud.postback import parse_postback, read_postback_fields
from avocette.security import KeyRing
from avocette.settings.invoicecloud import get_invoice_cloud_secret
from avocette.settings.ledger import get_ledger_settings
from avocette.settings.postbacks import PostbackSettings, get_postback_settings
from avocette.settings.secrets import get_postback_key_ring
from avocette.store import credits as credits_store
from avocette.store import payments as payments_store
from avocette.store.credits import PostbackRaceError
from avocette.store.payments import PaymentRecord

__all__ = ["PostbackResult", "PostbackRules", "apply_postback", "receive_postback"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

_RETRIES = 3


@dataclass(frozen=True)
class PostbackResult:
    outcome: Outcome
    status: str  # the payment's status afterwards
    reason: str | None = None  # why it went to review


@dataclass(frozen=True)
class PostbackRules:
    """What receiving postbacks needs, as its handler loaded it: how Invoice Cloud's fields are read
    and from where they may come, the key ring of the tokens, our biller GUID (a postback naming
    another is not ours), and how long invoices stay held after an approval."""

    reading: PostbackSettings
    key_ring: KeyRing
    biller_guid: str
    hold_after_approval_minutes: int

    @classmethod
    def from_environment(cls) -> PostbackRules:
        """The settings groups receiving a postback reads (each loaded once, and cached, by its module)."""
        return cls(
            reading=get_postback_settings(),
            key_ring=get_postback_key_ring(),
            biller_guid=get_invoice_cloud_secret().biller_guid,
            hold_after_approval_minutes=get_ledger_settings().hold_after_approval_minutes,
        )


def receive_postback(
    *,
    payment_id: str,
    token: str | None,
    source_ip: str | None,
    body: bytes,
    query: Mapping[str, str],
    rules: PostbackRules,
) -> PostbackResult:
    """Authenticate, then record and apply a postback exactly once.

    The token (and the source address, when POSTBACK_SOURCE_CIDRS is set) is checked before the
    body is decoded. Raises ``InvalidTokenError`` (403, nothing read), ``PaymentNotFoundError`` (404),
    ``InvalidPostbackError`` (400, recorded for review: a body that is not UTF-8 included) and
    ``StoreUnavailableError`` (503)."""
    settings = rules.reading
    if not rules.key_ring.verify_postback_token(payment_id, token) or not settings.postback_source_allowed(source_ip):
        metrics.add_metric(name="PostbackForbidden", unit=MetricUnit.Count, value=1)
        logger.warning("Postback refused: bad token or source", extra={"payment_id": payment_id})
        raise errors.InvalidTokenError()

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # Form bodies are ASCII (anything else is percent-encoded): this is no postback we can read,
        # and nothing in it is taken; it is recorded as unreadable, for review.
        text, query = "", {}
    fields = read_postback_fields(text, query)
    postback = parse_postback(
        fields,
        amount_includes_fee=settings.ic_amount_includes_fee,
        payment_type_ids=settings.ic_payment_type_ids,
        payment_date_formats=settings.ic_payment_date_formats,
        payment_date_zone=settings.payment_date_zone,
    )
    result = apply_postback(
        payment_id, postback, fields, biller_guid=rules.biller_guid,
        hold_after_approval_minutes=rules.hold_after_approval_minutes,
    )  # fmt: skip
    if postback.problem is not None:
        raise errors.InvalidPostbackError()
    return result


def apply_postback(
    payment_id: str,
    postback: ReceivedPostback,
    fields: Mapping[str, str],
    *,
    biller_guid: str,
    hold_after_approval_minutes: int,
    source: Source = "postback",
    file_key: str | None = None,
    told_by_file: Mapping[str, int] | None = None,
) -> PostbackResult:
    """Record and apply one postback (from Invoice Cloud, or recovered from its payment file) by the
    rules of §6c. Raises ``PaymentNotFoundError`` and ``StoreUnavailableError``."""
    keep_holds: set[InvoiceRef] = set()
    over_credit = False
    read = True
    record: PaymentRecord | None = None
    for attempt in range(_RETRIES + 1):
        if read or record is None:
            record = _read(payment_id, postback, source)
        payment, recorded = record.payment, record.postbacks
        if payment is None:
            if source == "postback":
                metrics.add_metric(name="PostbackPaymentNotFound", unit=MetricUnit.Count, value=1)
                logger.error("Postback for an unknown payment", extra={"payment_id": payment_id})
            raise errors.PaymentNotFoundError()
        decision = decide_postback(
            payment,
            postback,
            recorded,
            biller_guid=biller_guid,
            over_credit_refused=over_credit,
            source=source,
            reviewed=record.reviewed_money,
            told_by_file=told_by_file,
        )
        if decision.outcome is Outcome.DUPLICATE:
            return _finish(payment_id, postback, decision, payment)
        now = clock.utc_now()
        credits = credits_of(payment, decision)
        recorded_now = RecordedPostback(
            key=decision.record_as,
            postback=postback,
            outcome=decision.outcome,
            reason=decision.reason,
            received_at=now,
            source=source,
            allocation={credit.ref.key: credit.cents for credit in credits},
        )
        if decision.outcome is Outcome.DECLINED and decision.status is payment.status:
            # A decline that changes nothing: recorded on its own, never contending on the payment.
            if credits_store.record_postback_only(payment_id, recorded_now, fields):
                return _finish(payment_id, postback, decision, payment)
            read = True  # recorded meanwhile: decide again on what is stored (a duplicate, or a conflict)
            continue
        after = apply_decision(payment, decision, postback, now)
        paid_at = _paid_at(postback, now)
        ledger = LedgerEntry(
            at=now,
            credit_key=credits[0].credit_id if credits else "",
            payment_id=payment_id,
            kind="PAYMENT",
            payment_guid=postback.payment_guid,
            method=after.payment_method,
            source=source,
            invoices=recorded_now.allocation,
            # Money recovered from Invoice Cloud's own file needs no confirmation from it.
            confirmed_by=file_key if source == "file" else None,
            paid_at=paid_at,
            # Unknown (None) until Invoice Cloud's file confirms it with its own date; meanwhile ``at``.
            occurred_at=paid_at,
            fee_cents=after.convenience_fee_cents - payment.convenience_fee_cents,
            card_type=after.card_type or "",
        )
        try:
            credits_store.record_postback(
                before=payment,
                after=after,
                record=recorded_now,
                fields=fields,
                credits=credits,
                keep_holds=keep_holds,
                ledger=ledger,
                **_holds_cut_short(payment, after, now, hold_after_approval_minutes),
            )
        except PostbackRaceError as race:
            logger.info(
                "Postback raced",
                extra={
                    "payment_id": payment_id,
                    "attempt": attempt + 1,
                    "postback_exists": race.postback_exists,
                    "over_credit": bool(race.over_credit),
                },
            )
            keep_holds |= race.holds_lost
            if race.over_credit and not race.postback_exists and not race.payment_changed:
                # Nothing else moved: decide again on what was read, without the credits.
                over_credit, read = True, False
                continue
            read = True
            if not race.postback_exists and attempt < _RETRIES:
                time.sleep(random.uniform(0.01, 0.05 * (attempt + 1)))  # noqa: S311 - jitter, not security
            continue
        return _finish(payment_id, postback, decision, after)
    raise StoreUnavailableError("the postback could not be recorded after retries")


def _paid_at(postback: ReceivedPostback, now: datetime) -> datetime | None:
    """The payer's payment moment Invoice Cloud sent (PaymentDate), when it could be read and is not
    after we received it (a clock a day ahead is not a date to judge late fees by)."""
    paid_at = postback.paid_at
    if paid_at is not None and paid_at <= now + timedelta(days=1):
        return paid_at
    if postback.approved and postback.problem is None:
        metrics.add_metric(name="PaymentDateUnreadable", unit=MetricUnit.Count, value=1)
        logger.warning("PaymentDate absent or unreadable: dated when received", extra={"guid": postback.payment_guid})
    return None


def _read(payment_id: str, postback: ReceivedPostback, source: Source) -> PaymentRecord:
    """The payment with what deciding ``postback`` needs: for a decline, only its own recorded copies
    (one BatchGetItem, whatever a burst of declines has recorded); else everything (one Query)."""
    needed = decision_keys(postback) if source == "postback" else None
    if needed is not None:
        return payments_store.get_payment_record_at(payment_id, needed)
    return payments_store.get_payment_record(payment_id)


def _holds_cut_short(before: Payment, after: Payment, now: datetime, minutes: int) -> dict[str, Any]:
    """When an approval ends a session, the invoices it did not pay in full are held only a little
    longer (for Invoice Cloud's other postbacks of the payment), so that the payer can pay the rest."""
    if not (before.status.holds_session and after.status is PaymentStatus.APPROVED):
        return {}
    unpaid = [line.ref for line in after.lines if line.unpaid_cents > 0]
    return {"shorten_holds": unpaid, "hold_until": now + timedelta(minutes=minutes)} if unpaid else {}


def _finish(payment_id: str, postback: ReceivedPostback, decision: Decision, payment: Payment) -> PostbackResult:
    metrics.add_metric(name=f"Postback{decision.outcome.value.title()}", unit=MetricUnit.Count, value=1)
    if decision.outcome in (Outcome.REVIEW, Outcome.INVALID):
        metrics.add_metric(name="PaymentNeedsReview", unit=MetricUnit.Count, value=1)
    for note in decision.notes:
        metrics.add_metric(name=note, unit=MetricUnit.Count, value=1)
    logger.info(
        "Postback processed",
        extra={
            "payment_id": payment_id,
            "outcome": decision.outcome.value,
            "status": payment.status.value,
            "reason": decision.reason.value if decision.reason else None,
            "problem": postback.problem,
        },
    )
    return PostbackResult(
        outcome=decision.outcome,
        status=payment.status.value,
        reason=decision.reason.value if decision.reason else None,
    )
