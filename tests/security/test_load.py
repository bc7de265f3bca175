"""Load through the sandbox's gateway from 16 threads: payments started by several users at once,
then Invoice Cloud's postbacks for them all at once, each payment's approval among declines and a
quarter of all deliveries duplicates. Zero 5xx, and zero double credits: every invoice is credited
exactly once, for exactly its amount. Throughput and latency percentiles are printed (``pytest -s``)
and recorded as the test's properties.

Bounded in ``make test`` (LOAD_STARTS=25, LOAD_POSTBACKS=100); ``make load`` runs 500 and 2,000."""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from avocette.security import KeyRing

from sandbox.runner import Sandbox
from tests.helpers import add_account, add_invoice, approved_fields, declined_fields, get_invoice
from tests.security.conftest import dev_token, env_int

pytestmark = pytest.mark.sandbox

THREADS = 16
STARTS = env_int("LOAD_STARTS", 25)
POSTBACKS = env_int("LOAD_POSTBACKS", 100)
USERS = 8
AMOUNT = "10.00"


@dataclass
class Timings:
    name: str
    seconds: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    wall: float = 0.0
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, seconds: float) -> None:
        with self._guard:
            self.statuses[status] += 1
            self.seconds.append(seconds)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.seconds)
        cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
        return {
            "requests": len(ordered),
            "per_second": round(len(ordered) / self.wall, 1) if self.wall else 0.0,
            "p50_ms": round(cuts[49] * 1000, 1),
            "p95_ms": round(cuts[94] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1),
            "statuses": dict(sorted(self.statuses.items())),
        }


def hammer(name: str, jobs: list[Callable[[requests.Session], int]]) -> Timings:
    """Run ``jobs`` from 16 threads, each with its own connection pool; time each one."""
    timings = Timings(name)
    local = threading.local()

    def run(job: Callable[[requests.Session], int]) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        started = time.perf_counter()
        status = job(session)
        timings.add(status, time.perf_counter() - started)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(run, jobs))
    timings.wall = time.perf_counter() - began
    return timings


def test_concurrent_starts_and_postbacks_never_5xx_and_never_credit_twice(
    sandbox: Sandbox, record_property: Any
) -> None:
    users = [f"load-{number}" for number in range(USERS)]
    invoices = [(f"LOAD-{number}", f"LOAD-{number}-1", users[number % USERS]) for number in range(STARTS)]
    for account, invoice, user in invoices:
        add_account(account, linked_to=(user,), name="Load Payer", email="load@example.com")
        add_invoice(account, invoice, AMOUNT)
    tokens = {user: dev_token(sandbox, user) for user in users}
    base = sandbox.gateway_url

    # 1. Every payment started at once, several per user.
    payment_ids: dict[str, str] = {}

    def start(account: str, invoice: str, user: str) -> Callable[[requests.Session], int]:
        def job(session: requests.Session) -> int:
            answer = session.post(
                f"{base}/payments",
                json={"invoices": [{"accountNumber": account, "invoiceNumber": invoice}]},
                headers={"Authorization": f"Bearer {tokens[user]}"},
                timeout=60,
            )
            if answer.status_code == 201:
                payment_ids[invoice] = str(answer.json()["paymentId"])
            return answer.status_code

        return job

    starts = hammer("starts", [start(*entry) for entry in invoices])
    assert starts.statuses == Counter({201: STARTS}), starts.summary()

    # 2. Invoice Cloud's postbacks: per payment, its approval and declines (distinct GUIDs), in any
    #    order, and a quarter of all deliveries duplicates of those.
    ring = KeyRing.from_secret(sandbox.secrets.postback_keys)
    duplicates = POSTBACKS // 4
    per_payment = max(1, (POSTBACKS - duplicates) // STARTS)
    distinct: list[tuple[str, dict[str, str]]] = []
    for _, invoice, _ in invoices:
        payment_id = payment_ids[invoice]
        distinct.append((payment_id, approved_fields(payment_id, AMOUNT, invoice=invoice, guid=f"A-{invoice}")))
        for decline in range(per_payment - 1):
            distinct.append(
                (payment_id, declined_fields(payment_id, AMOUNT, invoice=invoice, guid=f"D{decline}-{invoice}"))
            )
    shuffler = random.Random(20261202)
    deliveries = distinct + [shuffler.choice(distinct) for _ in range(duplicates)]
    shuffler.shuffle(deliveries)

    def postback(payment_id: str, fields: dict[str, str]) -> Callable[[requests.Session], int]:
        def job(session: requests.Session) -> int:
            answer = session.post(
                f"{base}/postback/{payment_id}/{ring.postback_token(payment_id)}", data=fields, timeout=60
            )
            return answer.status_code

        return job

    postbacks = hammer("postbacks", [postback(payment_id, fields) for payment_id, fields in deliveries])

    figures = {"starts": starts.summary(), "postbacks": postbacks.summary()}
    for name, summary in figures.items():
        record_property(name, summary)
        print(f"\nload {name}: {summary}")  # noqa: T201 - the figures
    assert not [status for status in postbacks.statuses if status >= 500], figures
    assert postbacks.statuses == Counter({200: len(deliveries)}), figures

    # 3. Every invoice credited exactly once, for exactly its amount; every payment approved.
    for account, invoice, user in invoices:
        stored = get_invoice(account, invoice)
        assert stored.unpaid_cents == 0, (invoice, stored)
        credited = sum(credit.cents for credit in stored.credits.values())
        assert (len(stored.credits), credited) == (1, 1000), (invoice, stored.credits)
        view = requests.get(
            f"{base}/payments/{payment_ids[invoice]}", headers={"Authorization": f"Bearer {tokens[user]}"}, timeout=30
        ).json()
        assert (view["status"], view["amountPaid"]) == ("APPROVED", AMOUNT), view


BURST = env_int("BURST_POSTBACKS", 400)


def test_a_burst_of_postbacks_for_one_payment_never_5xx(sandbox: Sandbox, record_property: Any) -> None:
    """One payment, 400 postbacks from 16 senders at once: a quarter of them copies of its approval,
    the rest distinct declines (Invoice Cloud retrying a payer's failed cards). A decline or a copy
    changes neither the payment's status nor its money, so none contends on the payment: no 5xx, and
    the approval applied once."""
    add_account("BURST-1", linked_to=("burst",), name="Burst Payer", email="burst@example.com")
    add_invoice("BURST-1", "BURST-1-1", AMOUNT)
    token = dev_token(sandbox, "burst")
    base = sandbox.gateway_url
    started = requests.post(
        f"{base}/payments",
        json={"invoices": [{"accountNumber": "BURST-1", "invoiceNumber": "BURST-1-1"}]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert started.status_code == 201, started.text
    payment_id = str(started.json()["paymentId"])
    ring = KeyRing.from_secret(sandbox.secrets.postback_keys)
    url = f"{base}/postback/{payment_id}/{ring.postback_token(payment_id)}"
    approval = approved_fields(payment_id, AMOUNT, invoice="BURST-1-1", guid="BURST-A")
    deliveries = [approval] * (BURST // 4) + [
        declined_fields(payment_id, AMOUNT, invoice="BURST-1-1", guid=f"BURST-D{number}")
        for number in range(BURST - BURST // 4)
    ]
    random.Random(20261207).shuffle(deliveries)

    def postback(fields: dict[str, str]) -> Callable[[requests.Session], int]:
        def job(session: requests.Session) -> int:
            return session.post(url, data=fields, timeout=60).status_code

        return job

    burst = hammer("burst", [postback(fields) for fields in deliveries])

    summary = burst.summary()
    record_property("burst", summary)
    print(f"\nload burst: {summary}")  # noqa: T201 - the figures
    assert burst.statuses == Counter({200: len(deliveries)}), summary
    stored = get_invoice("BURST-1", "BURST-1-1")
    assert (len(stored.credits), stored.unpaid_cents) == (1, 0), stored.credits
    view = requests.get(f"{base}/payments/{payment_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert (view.json()["status"], view.json()["amountPaid"]) == ("APPROVED", AMOUNT), view.text
