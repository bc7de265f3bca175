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

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock
from avocette.config import get_invoice_cloud_secret, get_postback_key_ring, get_settings
from avocette.domain import errors
from avocette.domain.billing import InvoiceRef
from avocette.domain.payments import Payment
from avocette.domain.postbacks import (
    Decision,
    Outcome,
    ReceivedPostback,
    RecordedPostback,
    apply_decision,
    credits_of,
    decide_postback,
)
from avocette.invoicecloud.postback import parse_postback, read_postback_fields
from avocette.store import payments as payments_store
from avocette.store.payments import PostbackRaceError
from avocette.store.table import StoreUnavailableError

__all__ = ["PostbackResult", "apply_postback", "receive_postback"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

_RETRIES = 3


@dataclass(frozen=True)
class PostbackResult:
    outcome: Outcome
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

    fields = read_postback_fields(body, query)
    postback = parse_postback(
        fields,
        amount_includes_fee=settings.ic_amount_includes_fee,
        payment_type_ids=settings.ic_payment_type_ids,
    )
    result = apply_postback(payment_id, postback, fields)
    if postback.problem is not None:
        raise errors.InvalidPostbackError()
    return result


def apply_postback(
    payment_id: str, postback: ReceivedPostback, fields: Mapping[str, str], *, source: str = "postback"
) -> PostbackResult:
    """Record and apply one postback (from Invoice Cloud, or recovered from its payment file) by the
    rules of §6c. Raises ``PaymentNotFoundError`` and ``StoreUnavailableError``."""
    biller_guid = get_invoice_cloud_secret().biller_guid
    keep_holds: set[InvoiceRef] = set()
    over_credit = False
    read = True
    payment: Payment | None = None
    recorded: Mapping[str, RecordedPostback] = {}
    for attempt in range(_RETRIES + 1):
        if read:
            payment, recorded = payments_store.get_payment_with_postbacks(payment_id)
        if payment is None:
            metrics.add_metric(name="PostbackPaymentNotFound", unit=MetricUnit.Count, value=1)
            logger.error("Postback for an unknown payment", extra={"payment_id": payment_id})
            raise errors.PaymentNotFoundError()
        decision = decide_postback(
            payment, postback, recorded, biller_guid=biller_guid, over_credit_refused=over_credit
        )
        if decision.outcome is Outcome.DUPLICATE:
            return _finish(payment_id, postback, decision, payment)
        now = clock.utc_now()
        after = apply_decision(payment, decision, postback, now)
        record = RecordedPostback(
            key=decision.record_as,
            postback=postback,
            outcome=decision.outcome,
            reason=decision.reason,
            received_at=now,
            source="file" if source == "file" else "postback",
        )
        try:
            payments_store.record_postback(
                before=payment,
                after=after,
                record=record,
                fields=fields,
                credits=credits_of(payment, decision),
                keep_holds=keep_holds,
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
    return PostbackResult(outcome=decision.outcome, status=payment.status.value)
