"""Warm overhead: the handler path (an API Gateway v2 event in, the response out) against the bare SDK
calls it makes, to the same endpoint, in the same loop.

The floor of each sample is the very DynamoDB requests the handler made, recorded at botocore's entry
point and replayed with the same client on an identical fixture of its own (the payment id and account
number swapped for the fixture's), so that both sides write what a real request writes. Handler and
floor samples alternate, the one going first alternating too; each round starts from fresh tables
(a new moto), its first samples are dropped as warm-up, and the figures are medians over every round.

moto answers in this process, so its own work is in both sides' times and CPU: the ratio is an upper
bound of what the handler adds to DynamoDB's real latency (which is larger and would dilute it).
Metrics are disabled (nothing printed) and log lines go to /dev/null (``python -m bench`` sends this
process's stdout there); the handler's own flush is part of the handler, as in Lambda, and nothing
else is flushed inside a timed region.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from avocette import clock
from avocette.domain.billing import Account, Invoice
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.settings.secrets import get_postback_key_ring
from avocette.store import billing, links, table
from avocette.store import payments as payments_store

from bench.stack import Call, moto_stack, recorded
from tests.helpers import FakeContext, http_event, load_function

__all__ = ["WarmResult", "run"]

ROUNDS = 2
PAIRS = 12  # handler/floor pairs per round
WARM_UP = 2  # pairs dropped at the start of each round


@dataclass(frozen=True)
class Fixture:
    """One user's linked account, with an invoice and a PENDING payment of it."""

    sub: str
    account: str
    payment_id: str

    def swap(self, other: Fixture) -> dict[str, str]:
        return {self.payment_id: other.payment_id, self.account: other.account, self.sub: other.sub}


def _fixture() -> Fixture:
    now = clock.utc_now()
    tag = uuid.uuid4().hex[:10]
    sub, number = f"bench-{tag}", f"B-{tag}"
    billing.put_account(Account(account_number=number, name="Bench Payer", billed_as_of=now))
    invoice = Invoice(account_number=number, invoice_number="I-1", billed_cents=5000, billed_as_of=now)
    billing.put_invoice(invoice)
    links.put_link(links.Link(sub=sub, account_number=number, linked_at=now))
    payment = Payment(
        payment_id=str(uuid.uuid4()),
        sub=sub,
        status=PaymentStatus.CREATED,
        lines=(PaymentLine(account_number=number, invoice_number="I-1", due_cents=5000),),
        created_at=now,
        session_expires_at=now + timedelta(minutes=30),
    )
    payments_store.create_payment(payment, [invoice], now, hold_until=now + timedelta(minutes=60))
    payments_store.mark_pending(payment, "https://example.invalid/pay")
    return Fixture(sub=sub, account=number, payment_id=payment.payment_id)


def _postback_event(fixture: Fixture) -> dict[str, Any]:
    token = get_postback_key_ring().postback_token(fixture.payment_id)
    fields = {
        "PaymentGUID": f"G-{fixture.payment_id}",
        "Approved": "True",
        "PaymentAmount": "50.00",
        "BillerReference": fixture.payment_id,
        "ConvenienceFee": "0.00",
        "PaymentTypeID": "1",
        "CardType": "Visa",
        "PaymentDate": "11/25/2026 07:15:02 PM",
    }
    return http_event(
        "POST",
        f"/postback/{fixture.payment_id}/{token}",
        route="/postback/{paymentId}/{token}",
        path_parameters={"paymentId": fixture.payment_id, "token": token},
        sub=None,
        body=urlencode(fields),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


@dataclass(frozen=True)
class Case:
    name: str
    function: str
    event: Callable[[Fixture], dict[str, Any]]
    prepare: Callable[[Fixture], None] = lambda fixture: None  # untimed, before the handler runs
    status: int = 200


def _deliver_once(fixture: Fixture) -> None:
    _handle("PostbackFunction", _postback_event(fixture))


CASES = [
    Case("first postback", "PostbackFunction", _postback_event),
    Case("duplicate postback", "PostbackFunction", _postback_event, prepare=_deliver_once),
    Case("GET /accounts", "AccountsFunction", lambda f: http_event("GET", "/accounts", sub=f.sub)),
    Case(
        "GET /payments/{id}",
        "PaymentsFunction",
        lambda f: http_event(
            "GET",
            f"/payments/{f.payment_id}",
            route="/payments/{paymentId}",
            path_parameters={"paymentId": f.payment_id},
            sub=f.sub,
        ),
    ),
]
_DIRS = {
    "PostbackFunction": "postback",
    "AccountsFunction": "accounts",
    "PaymentsFunction": "payments",
}


def _handle(function: str, event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = load_function(_DIRS[function]).lambda_handler(event, FakeContext())
    return answer


def _swapped(value: Any, mapping: dict[str, str]) -> Any:
    text = json.dumps(value)
    for old, new in mapping.items():
        text = text.replace(old, new)
    return json.loads(text)


def _replay(calls: list[Call], mapping: dict[str, str]) -> None:
    client = table.dynamodb()
    for call in calls:
        client._make_api_call(call.operation, _swapped(call.params, mapping))


@dataclass
class CaseResult:
    handler_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    handler_cpu_ms: list[float] = field(default_factory=list)
    floor_cpu_ms: list[float] = field(default_factory=list)
    calls: int = 0

    def ratio(self) -> float:
        return statistics.median(self.handler_ms) / statistics.median(self.floor_ms)


@dataclass
class WarmResult:
    rounds: int
    pairs: int
    cases: dict[str, CaseResult]


@contextlib.contextmanager
def _timed() -> Iterator[list[float]]:
    out: list[float] = []
    cpu, wall = time.process_time(), time.perf_counter()
    yield out
    out.extend([(time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000])


def _sample(case: Case, result: CaseResult, keep: bool, handler_first: bool) -> None:
    """One pair: the handler on its fixture, and the floor (the handler's requests, recorded on a
    third fixture beforehand, untimed) on another; which goes first alternates."""
    probe, mine, theirs = _fixture(), _fixture(), _fixture()
    for fixture in (probe, mine, theirs):
        case.prepare(fixture)
    with recorded() as calls:
        _handle(case.function, case.event(probe))
    requests = list(calls)
    event = case.event(mine)

    def handler() -> None:
        with recorded() as made, _timed() as spent:
            answer = _handle(case.function, event)
        if answer["statusCode"] != case.status:
            raise RuntimeError(f"{case.name}: {answer['statusCode']} {answer.get('body')}")
        if keep:
            result.handler_ms.append(spent[0])
            result.handler_cpu_ms.append(spent[1])
            result.calls = len(made)

    def floor() -> None:
        with _timed() as spent:
            _replay(requests, probe.swap(theirs))
        if keep:
            result.floor_ms.append(spent[0])
            result.floor_cpu_ms.append(spent[1])

    for step in (handler, floor) if handler_first else (floor, handler):
        step()


def run(log: list[str]) -> WarmResult:
    results = {case.name: CaseResult() for case in CASES}
    for round_number in range(ROUNDS):
        with moto_stack():
            for case in CASES:  # load the functions outside the timed region
                load_function(_DIRS[case.function])
            for pair in range(PAIRS):
                for case in CASES:
                    _sample(case, results[case.name], keep=pair >= WARM_UP, handler_first=pair % 2 == 0)
        log.append(f"warm: round {round_number + 1}/{ROUNDS} done")
    return WarmResult(rounds=ROUNDS, pairs=PAIRS - WARM_UP, cases=results)
