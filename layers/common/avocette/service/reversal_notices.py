"""Telling payers of reversals (DESIGN §6d): one email per payment and kind of reversal, sent when a
payment file is done, saying what was reversed on which invoices and what is owed again."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from avocette import clock
from avocette.domain.payments import Payment, receipt_reference
from avocette.domain.reconciliation import PaymentFileRow
from avocette.mail import templates
from avocette.mail.send import send_email

__all__ = ["ReversalNotices"]


@dataclass
class ReversalNotices:
    """The payers to tell, gathered from the pool's threads while a file is read."""

    biller_name: str
    portal_url: str | None
    time_zone: tzinfo
    sender: str
    # (payment id, kind) -> (email, the payment's amount before the file, rows reversed)
    _notices: dict[tuple[str, str], tuple[str, int, list[PaymentFileRow]]] = field(default_factory=dict)
    _closed: set[str] = field(default_factory=set)  # invoice keys the billing file no longer lists
    _paid_at: dict[str, datetime] = field(default_factory=dict)  # when each payment was made, for its email
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, payment: Payment, row: PaymentFileRow, *, invoice_closed: bool = False) -> None:
        """A reversal of ``row`` taken from ``payment`` (as it was before it), when it has an email;
        ``invoice_closed``: the payer's bill no longer shows the row's invoice (owed on the account)."""
        if not payment.email:
            return
        with self._lock:
            if invoice_closed:
                self._closed.add(row.ref)
            notice = self._notices.setdefault(
                (payment.payment_id, row.kind.value),
                (payment.email, payment.amount_paid_cents + payment.reversed_cents, []),
            )
            if payment.completed_at is not None:
                self._paid_at[payment.payment_id] = payment.completed_at
            notice[2].append(row)

    def send(self) -> None:
        """One email per payment and kind: what was reversed on which invoices (an email never undoes
        what was done; a failure to send is logged by purpose only)."""
        for (payment_id, kind), (email, payment_cents, rows) in sorted(self._notices.items()):
            paid = self._paid_at.get(payment_id)
            subject, body = templates.reversal_email(
                biller_name=self.biller_name,
                kind=kind,
                amount_cents=sum(row.cents for row in rows),
                invoices=[
                    (row.account_number, None if row.ref in self._closed else row.invoice_number, row.cents)
                    for row in rows
                ],
                payment_reference=receipt_reference(payment_id),
                occurred=clock.local_date(min(row.at for row in rows), self.time_zone),
                portal_url=self.portal_url,
                payment_cents=payment_cents,
                paid_at=clock.local_time(paid, self.time_zone) if paid else None,
            )
            send_email(sender=self.sender, to=email, subject=subject, body=body, purpose="reversal_notice")
