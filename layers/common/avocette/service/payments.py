"""Reading payments back (DESIGN §3): GET /payments and GET /payments/{paymentId}. Starting one is
:mod:`avocette.service.starting`."""

from __future__ import annotations

from datetime import datetime

from avocette import clock, errors
from avocette.api.payments import PaymentListResponse, PaymentView
from avocette.domain.payments import Payment
from avocette.settings.ledger import LedgerSettings
from avocette.settings.portal import PortalSettings
from avocette.store import payments as payments_store

__all__ = ["get_payment_view", "list_payment_views"]


# ---- reading ----------------------------------------------------------------------------------------


def list_payment_views(
    sub: str, *, limit: int, cursor: str | None, portal: PortalSettings, ledger: LedgerSettings
) -> PaymentListResponse:
    """One page of the user's payments, newest first. The cursor is a position inside the caller's
    own payments (the partition comes from the token): an altered one is a 422, never another
    user's data."""
    start_key = None
    if cursor:
        start_key = payments_store.start_key_of(sub, cursor)
        if start_key is None:
            raise errors.InvalidCursorError()
    page = payments_store.list_user_payments(sub, limit=limit, start_key=start_key)
    now = clock.utc_now()
    return PaymentListResponse(
        payments=[_view(payment, now, portal, ledger) for payment in page.payments],
        next_cursor=payments_store.page_cursor(page.last_key) if page.last_key else None,
    )


def get_payment_view(sub: str, payment_id: str, *, portal: PortalSettings, ledger: LedgerSettings) -> PaymentView:
    payment = payments_store.get_payment(payment_id)
    if payment is None or payment.sub != sub:
        raise errors.PaymentNotFoundError()
    return _view(payment, clock.utc_now(), portal, ledger)


def _view(payment: Payment, now: datetime, portal: PortalSettings, ledger: LedgerSettings) -> PaymentView:
    return PaymentView.of(
        payment,
        biller_name=portal.biller_name,
        now=now,
        ach_return_days=ledger.ach_return_days,
        biller_time_zone=portal.biller_time_zone,
        grace_minutes=ledger.payment_session_grace_minutes,
    )
