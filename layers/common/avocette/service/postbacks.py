"""Receiving Invoice Cloud's postback (DESIGN §3 and §6c).

The token is checked before anything is read. Then one Query reads the payment with its postbacks,
:func:`avocette.domain.postbacks.decide` says what changes, and one transaction writes it. The
conditional writes are the idempotency: a duplicate costs one Query and changes nothing, and a
race with another delivery is read back and retried (at most three times, with jitter).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock
from avocette.config import get_invoice_cloud_secret, get_postback_key_ring, get_settings
from avocette.domain import errors
from avocette.domain.billing import InvoiceRef
from avocette.domain.payments import Payment
from avocette.domain.postbacks import Decision, Outcome, ReviewReason, apply, decide, transition_on_review
from avocette.invoicecloud.postback import Postback, parse_postback, read_postback_fields
from avocette.store import payments as payments_store
from avocette.store.payments import PostbackRaceError, PostbackRecord
from avocette.store.table import StoreUnavailableError

__all__ = ["PostbackResult", "receive_postback"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

_RETRIES = 3


@dataclass(frozen=True)
class PostbackResult:
    outcome: str  # an Outcome, or "DUPLICATE"
    status: str  # the payment's status afterwards


def receive_postback(
    *, payment_id: str, token: str | None, source_ip: str | None, body: str, query: Mapping[str, str]
) -> PostbackResult:
    """Authenticate, then record and apply a postback exactly once.

    Raises ``InvalidTokenError`` (403, nothing read), ``PaymentNotFoundError`` (404),
    ``InvalidPostbackError`` (400, recorded for review) and ``StoreUnavailableError`` (503)."""
    settings = get_settings()
    if not get_postback_key_ring().verify_postback_token(payment_id, token) or not settings.postback_source_allowed(
        source_ip
    ):
        metrics.add_metric(name="PostbackForbidden", unit=MetricUnit.Count, value=1)
        logger.warning("Postback refused: bad token or source", extra={"payment_id": payment_id})
        raise errors.InvalidTokenError()

    postback = parse_postback(read_postback_fields(body, query))
    biller_guid = get_invoice_cloud_secret().biller_guid
    lost_holds: set[InvoiceRef] = set()
    for attempt in range(_RETRIES + 1):
        payment, recorded = payments_store.get_payment_with_postbacks(payment_id)
        if payment is None:
            metrics.add_metric(name="PostbackPaymentNotFound", unit=MetricUnit.Count, value=1)
            logger.error("Postback for an unknown payment", extra={"payment_id": payment_id})
            raise errors.PaymentNotFoundError()
        now = clock.utc_now()
        plan = _plan(
            payment, postback, recorded, amount_includes_fee=settings.ic_amount_includes_fee, biller_guid=biller_guid
        )
        if plan is None:
            return _finish(payment_id, postback, "DUPLICATE", payment, None)
        identity, decision = plan
        after = apply(payment, decision, postback, now)
        credited = {payment.lines[index].ref: after.lines[index].paid_cents for index in decision.allocation}
        # A fully paid invoice is released at once; anything else stays held until the session ends.
        release = [ref for ref, paid in credited.items() if paid >= _due(payment, ref) and ref not in lost_holds]
        record = PostbackRecord(
            identity=identity,
            fields=postback.fields,
            digest=postback.digest,
            outcome=decision.outcome.value,
            reason=decision.reason.value if decision.reason else None,
            received_at=now,
        )
        try:
            payments_store.record_postback(
                before=payment, after=after, record=record, credits=credited, approved_at=now, release=release
            )
        except PostbackRaceError as race:
            lost_holds |= race.holds_lost
            logger.info(
                "Postback raced; reading again",
                extra={"payment_id": payment_id, "attempt": attempt + 1, "postback_exists": race.postback_exists},
            )
            if not race.postback_exists and attempt < _RETRIES:
                time.sleep(random.uniform(0.01, 0.05 * (attempt + 1)))  # noqa: S311 - jitter, not security
            continue
        return _finish(payment_id, postback, decision.outcome.value, after, decision)
    raise StoreUnavailableError("the postback could not be recorded after retries")


def _due(payment: Payment, ref: InvoiceRef) -> int:
    return next(line.due_cents for line in payment.lines if line.ref == ref)


def _plan(
    payment: Payment,
    postback: Postback,
    recorded: Mapping[str, PostbackRecord],
    *,
    amount_includes_fee: bool,
    biller_guid: str,
) -> tuple[str, Decision] | None:
    """(identity to record, decision), or ``None`` for a duplicate of something already recorded."""
    identity = postback.identity
    existing = recorded.get(identity)
    if existing is not None:
        if existing.digest == postback.digest:
            return None
        # The same postback with other contents: keep both, and let a person decide.
        identity = f"{identity}-{postback.digest[:16]}"
        if identity in recorded:
            return None
        return identity, transition_on_review(payment, ReviewReason.CONFLICTING_POSTBACK)
    if postback.problem is not None:
        decision = transition_on_review(payment, ReviewReason.INVALID_POSTBACK)
        return identity, Decision(Outcome.INVALID, decision.status, decision.reason)
    return identity, decide(payment, postback, amount_includes_fee=amount_includes_fee, biller_guid=biller_guid)


def _finish(
    payment_id: str, postback: Postback, outcome: str, payment: Payment, decision: Decision | None
) -> PostbackResult:
    metrics.add_metric(name=f"Postback{outcome.title().replace('_', '')}", unit=MetricUnit.Count, value=1)
    if decision is not None:
        if decision.outcome in (Outcome.REVIEW, Outcome.INVALID):
            metrics.add_metric(name="PaymentNeedsReview", unit=MetricUnit.Count, value=1)
        for note in decision.notes:
            metrics.add_metric(name=note, unit=MetricUnit.Count, value=1)
    logger.info(
        "Postback processed",
        extra={
            "payment_id": payment_id,
            "outcome": outcome,
            "status": payment.status.value,
            "reason": decision.reason.value if decision and decision.reason else None,
            "problem": postback.problem,
        },
    )
    if postback.problem is not None:
        raise errors.InvalidPostbackError()
    return PostbackResult(outcome=outcome, status=payment.status.value)
