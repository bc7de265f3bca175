"""Expiring abandoned payment sessions (DESIGN §6c *Expiry*), run on a schedule.

A payment still CREATED, PENDING or DECLINED once its session and the grace have passed becomes
EXPIRED and its invoices' holds go, each in one transaction conditional on the version read: a
postback arriving at the same moment wins, and the sweep moves on. A late approval afterwards is
still applied by the postback rules, the cross-payment check included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock
from avocette.domain.payments import expire
from avocette.settings.ledger import LedgerSettings
from avocette.store import jobs
from avocette.store import payments as payments_store
from avocette.store.credits import PostbackRaceError

__all__ = ["ExpiryResult", "expire_payments"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()


@dataclass(frozen=True)
class ExpiryResult:
    expired: int  # payments this run expired
    raced: int  # payments that changed while being expired (a postback won; the next run looks again)
    overdue: int  # payments still open past twice the grace after this run: alarm

    def as_dict(self) -> dict[str, int]:
        return {"expired": self.expired, "raced": self.raced, "overdue": self.overdue}


def expire_payments(*, ledger: LedgerSettings) -> ExpiryResult:
    grace = timedelta(minutes=ledger.payment_session_grace_minutes)
    now = clock.utc_now()
    expired = raced = overdue = 0
    for payment in payments_store.list_open_payments(expired_before=now - grace):
        after = expire(payment, now)
        if after is None:  # the index lags the table: it is not open any more
            continue
        try:
            payments_store.expire_payment(payment, after, now)
        except PostbackRaceError:
            raced += 1
            if payment.session_expires_at + 2 * grace < now:
                overdue += 1
            continue
        expired += 1
        logger.info("Payment expired", extra={"payment_id": payment.payment_id})
    metrics.add_metric(name="PaymentsExpired", unit=MetricUnit.Count, value=expired)
    metrics.add_metric(name="PaymentsOpenPastGrace", unit=MetricUnit.Count, value=overdue)
    result = ExpiryResult(expired=expired, raced=raced, overdue=overdue)
    logger.info("Expiry run", extra=result.as_dict())
    jobs.record_run("expire_payments", now)  # only when: a re-run records the same
    return result
