"""Throughput through the sandbox's gateway at 16 senders: postbacks against a trivial route.

The sandbox runs as `make dev` runs it (moto's server, the gateway, each function in worker processes
of its own; the postback function's pool sized here), all on this machine. Each sender is a thread
with its own HTTP session. Cases alternate in every round, for the same time each: the trivial route
(a CORS preflight, answered by the gateway itself: the floor of the gateway and the HTTP stack), a
duplicate postback (the token checked, one Query, "OK") and a first postback (one Query and one
transaction). The first round is dropped; medians of the others' requests per second.

moto's server applies one request at a time (as the sandbox requires for honest transactions) and is
far slower than DynamoDB, and the senders, gateway, workers and moto share two cores: the postback
figures are bounded by moto, not by the function (see docs/performance.md).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from queue import Empty, Queue
from urllib.parse import urlencode

import requests
from avocette import clock
from avocette.domain.billing import Account, Invoice
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.settings.secrets import get_postback_key_ring
from avocette.store import billing
from avocette.store import payments as payments_store

from sandbox.functions import PoolSizes
from sandbox.runner import Sandbox, SandboxPorts

__all__ = ["ThroughputResult", "run"]

SENDERS = 16
SECONDS = 4.0
ROUNDS = 4  # the first is dropped
POSTBACK_WORKERS = 4
FIRST_POSTBACKS_PER_ROUND = 30


@dataclass
class ThroughputResult:
    senders: int
    seconds: float
    rounds: int
    workers: int
    per_second: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def median(self, case: str) -> float:
        return statistics.median(self.per_second[case])

    def ratio(self, case: str) -> float:
        return self.median(case) / self.median("trivial route")


def _payment() -> tuple[str, str]:
    """A PENDING payment of a 50.00 invoice; its id and the postback's body."""
    now = clock.utc_now()
    number = f"T-{uuid.uuid4().hex[:10]}"
    billing.put_account(Account(account_number=number, name="Bench Payer", billed_as_of=now))
    invoice = Invoice(account_number=number, invoice_number="I-1", billed_cents=5000, billed_as_of=now)
    billing.put_invoice(invoice)
    payment = Payment(
        payment_id=str(uuid.uuid4()),
        sub="bench",
        status=PaymentStatus.CREATED,
        lines=(PaymentLine(account_number=number, invoice_number="I-1", due_cents=5000),),
        created_at=now,
        session_expires_at=now + timedelta(minutes=30),
    )
    payments_store.create_payment(payment, [invoice], now, hold_until=now + timedelta(minutes=60))
    payments_store.mark_pending(payment, "https://example.invalid/pay")
    body = urlencode(
        {
            "PaymentGUID": f"G-{payment.payment_id}",
            "Approved": "True",
            "PaymentAmount": "50.00",
            "BillerReference": payment.payment_id,
            "PaymentTypeID": "1",
        }
    )
    return payment.payment_id, body


def _postback_request(base: str, payment_id: str, body: str) -> Callable[[requests.Session], int]:
    token = get_postback_key_ring().postback_token(payment_id)
    url = f"{base}/postback/{payment_id}/{token}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return lambda session: session.post(url, data=body, headers=headers, timeout=60).status_code


def _load(requests_for: Callable[[int], Callable[[requests.Session], int] | None], seconds: float) -> tuple[float, int]:
    """(requests answered 2xx per second, other answers) by SENDERS threads for ``seconds``."""
    done = [0] * SENDERS
    failed = [0] * SENDERS
    deadline = time.perf_counter() + seconds
    start = threading.Barrier(SENDERS)

    def sender(index: int) -> None:
        session = requests.Session()
        start.wait()
        while time.perf_counter() < deadline:
            request = requests_for(index)
            if request is None:
                return
            if 200 <= request(session) < 300:
                done[index] += 1
            else:
                failed[index] += 1

    threads = [threading.Thread(target=sender, args=(index,), daemon=True) for index in range(SENDERS)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return sum(done) / elapsed, sum(failed)


Send = Callable[[requests.Session], int]


def _senders(case: str, trivial: Send, duplicates: list[Send], fresh: Queue[Send]) -> Callable[[int], Send | None]:
    """What sender ``index`` sends next in ``case`` (``None``: nothing left)."""
    if case == "trivial route":
        return lambda _index: trivial
    if case == "duplicate postback":
        return lambda index: duplicates[index]

    def first(_index: int) -> Send | None:
        try:
            return fresh.get_nowait()
        except Empty:
            return None

    return first


def run(log: list[str]) -> ThroughputResult:
    sandbox = Sandbox(
        SandboxPorts.free(),
        schedule_seconds=0,
        pool_sizes=PoolSizes(overrides={"PostbackFunction": POSTBACK_WORKERS}),
        prewarm=True,
    )
    sandbox.start()
    result = ThroughputResult(senders=SENDERS, seconds=SECONDS, rounds=ROUNDS - 1, workers=POSTBACK_WORKERS)
    cases = ["trivial route", "duplicate postback", "first postback"]
    result.per_second = {case: [] for case in cases}
    result.errors = dict.fromkeys(cases, 0)
    try:
        base = sandbox.gateway_url
        preflight_headers = {"Origin": base, "Access-Control-Request-Method": "POST"}

        def trivial(session: requests.Session) -> int:
            return session.options(f"{base}/payments", headers=preflight_headers, timeout=60).status_code

        delivered = [_payment() for _ in range(SENDERS)]
        duplicates = [_postback_request(base, payment_id, body) for payment_id, body in delivered]
        with requests.Session() as session:
            for send in duplicates:  # the first delivery, untimed: what follows are duplicates
                if send(session) != 200:
                    raise RuntimeError("a postback was refused")
        for round_number in range(ROUNDS):
            fresh: Queue[Callable[[requests.Session], int]] = Queue()
            for _ in range(FIRST_POSTBACKS_PER_ROUND):
                fresh.put(_postback_request(base, *_payment()))

            order = cases[round_number % 3 :] + cases[: round_number % 3]
            for case in order:
                answered, failed = _load(_senders(case, trivial, duplicates, fresh), SECONDS)
                if case == "first postback" and fresh.empty():
                    log.append("throughput: the first postbacks ran out before the time was up")
                if round_number:
                    result.per_second[case].append(answered)
                    result.errors[case] += failed
            log.append(f"throughput: round {round_number + 1}/{ROUNDS} done")
    finally:
        sandbox.stop()
    return result
