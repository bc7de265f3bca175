"""Postback processing against moto in this process: time and DynamoDB calls per first delivery and
per duplicate. moto is far slower than DynamoDB, so the numbers compare code paths, not latency."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import timedelta
from urllib.parse import urlencode

from avocette import clock
from avocette.config import get_postback_key_ring
from avocette.domain.billing import Account, Invoice
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.security import KeyRing
from avocette.service.postbacks import receive_postback
from avocette.store import billing
from avocette.store import payments as payments_store

from bench.stack import calls_counted, moto_stack

PAYMENTS = 200


def _payment(number: int) -> Payment:
    now = clock.utc_now()
    account = f"B-{number}"
    billing.put_account(Account(account_number=account, name="Bench", billed_as_of=now))
    invoice = Invoice(account_number=account, invoice_number="I-1", billed_cents=5000, billed_as_of=now)
    billing.put_invoice(invoice)
    payment = Payment(
        payment_id=str(uuid.uuid4()),
        sub="bench",
        status=PaymentStatus.CREATED,
        lines=(PaymentLine(account_number=account, invoice_number="I-1", due_cents=5000),),
        created_at=now,
        session_expires_at=now + timedelta(minutes=30),
    )
    payments_store.create_payment(payment, [invoice], now)
    return payments_store.mark_pending(payment, "https://example.invalid/pay")


def run() -> str:
    with moto_stack():
        ring = get_postback_key_ring()
        payments = [_payment(n) for n in range(PAYMENTS)]
        with calls_counted() as calls:
            return _measure(ring, payments, calls)


def _measure(ring: KeyRing, payments: list[Payment], calls: list[str]) -> str:
    """Each payment's approval delivered twice: the first applies, the second is a duplicate."""
    results: dict[str, list[float]] = {"first": [], "duplicate": []}
    counts: dict[str, int] = {"first": 0, "duplicate": 0}
    for payment in payments:
        body = urlencode({"PaymentGUID": str(uuid.uuid4()), "Approved": "True", "PaymentAmount": "50.00"})
        token = ring.postback_token(payment.payment_id)
        for kind in ("first", "duplicate"):
            calls.clear()
            began = time.perf_counter()
            receive_postback(payment_id=payment.payment_id, token=token, source_ip=None, body=body, query={})
            results[kind].append((time.perf_counter() - began) * 1000)
            counts[kind] += len(calls)
    lines = [f"postbacks against moto in-process, {PAYMENTS} payments"]
    for kind, samples in results.items():
        samples.sort()
        lines.append(
            f"  {kind:9} median {statistics.median(samples):6.2f} ms  p95 {samples[int(len(samples) * 0.95)]:6.2f} ms"
            f"  DynamoDB calls each {counts[kind] / PAYMENTS:.1f}"
        )
    return "\n".join(lines)
