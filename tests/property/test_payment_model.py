"""A model of payments over shared invoices, run as a hypothesis state machine (DESIGN §6c).

Two users of one household share two accounts and their four invoices, their identifiers drawn from
everything the billing file accepts (spaces, dots, dashes, slashes that a naive key would confuse,
numbers repeated across accounts) and their amounts equal to each other or to sums of others. Random
sequences start payments, play the payer on Invoice Cloud's simulator (pay, decline, remove invoices,
pay part, pay a session that has expired, pay again after a lost result), deliver the postbacks the
simulator produced — duplicated, reordered, some concurrently, reformatted, with odd amounts, forged —
run the expiry job, settle reviews as ops would (twice, close together), read Invoice Cloud's payment
files (several reversals of each kind on one invoice, part and whole) and import billing files, under
every mode of the simulator for DESIGN §4a's open questions. After every step the invariants of the
money rules must hold:

- each postback identity is applied at most once;
- no invoice is credited above its bill across payments (unless refused to a review);
- the credits on invoices are exactly what the payments' applied postbacks and reviews paid;
- a payment under review applied nothing by itself;
- every change of status is a cell of the §6c table for the event that caused it;
- a credit's approvedAt never moves, and no credit disappears;
- no payment is credited more than Invoice Cloud charged for it;
- a closed payment credits nothing.

And at every quiet point (every postback the simulator sent delivered or lost, Invoice Cloud's files
of every day read), conservation: for each Invoice Cloud payment id, what Invoice Cloud charged (net of
the fee) equals what we credited plus what it took back, per payment and per invoice, unless its
payment waits for a person (under review) or a person closed it (refunded at Invoice Cloud).

The service code runs for real (the postback, start, expiry, reconciliation and review use cases)
over an in-memory DynamoDB (tests/fakes/dynamodb.py) and the Invoice Cloud simulator, so that ``make
test`` can run over a thousand sequences in about a minute; ``make soak`` runs many more
(``MODEL_EXAMPLES``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
import urllib3
from avocette import clock, errors, money
from avocette.api.payments import InvoiceSelection
from avocette.domain.billing import Account, Invoice, InvoiceRef
from avocette.domain.payments import PaymentStatus
from avocette.service import expiry, export, postbacks, reconcile, review, starting
from avocette.service.reconcile_rows import ReconcileRules
from avocette.settings import postbacks as postback_settings
from avocette.settings.ledger import get_ledger_settings
from avocette.settings.portal import get_biller_time_zone
from avocette.settings.resources import get_exports_bucket
from avocette.store import billing, keys, links, table
from avocette.store.table import deserialize
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from moto import mock_aws
from werkzeug.test import Client

from sandbox.invoicecloud import InvoiceCloudSimulator
from sandbox.invoicecloud.config import ControlError
from sandbox.serving import start_server
from sandbox.stack import StackNames, StackSecrets, environment, provision
from stackdef import caches
from stackdef.template import create_table_request
from tests.fakes.dynamodb import FakeDynamoDB

EXAMPLES = int(os.environ.get("MODEL_EXAMPLES", "1000"))
REPORT = os.environ.get("MODEL_REPORT")  # make soak: where to write the run's figures (JSON)
STATS: Counter[str] = Counter()  # what the sequences did, over the whole run
STEPS = int(os.environ.get("MODEL_STEPS", "12"))
TABLE = "avocette-app"
AS_OF = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
LAG_HOURS = 24
USERS = ("u1", "u2")
# The billing file's identifiers: 1 to 64 letters, digits, spaces or . _ - /, starting with a letter
# or digit (domain/common.py); kept short here so that shapes repeat.
IDENTIFIER = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9._/ -]{0,5}[A-Za-z0-9._/-])?\Z")
ODD_AMOUNTS = st.one_of(
    st.sampled_from(
        ["", "0", "0.00", "-1.00", "1e3", "$1,000.00", "\u0661\u0660.00", "9" * 40, "10.001", " 5 ", "NaN"]
    ),
    st.text(max_size=10),
)


@dataclass(frozen=True)
class Household:
    """The two accounts and four invoices of one sequence: (account, invoice, billed cents, partial)."""

    bills: tuple[tuple[str, str, int, bool], ...]

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(account for account, _, _, _ in self.bills))

    @property
    def refs(self) -> tuple[InvoiceRef, ...]:
        return tuple(InvoiceRef(account_number=a, invoice_number=i) for a, i, _, _ in self.bills)

    @property
    def billed(self) -> dict[InvoiceRef, int]:
        return {ref: cents for ref, (_, _, cents, _) in zip(self.refs, self.bills, strict=True)}

    @property
    def partial(self) -> dict[InvoiceRef, int]:
        return {ref: cents for ref, (_, _, cents, partial) in zip(self.refs, self.bills, strict=True) if partial}


@st.composite
def households(draw: st.DrawFn) -> Household:
    shape = draw(st.sampled_from(["plain", "slashes", "numbers-repeated", "drawn"]))
    if shape == "plain":
        accounts, numbers = ("A-1", "A-2"), (("I-1", "I-2"), ("J-1", "J-2"))
    elif shape == "slashes":  # "A" + "I/1" and "A/I" + "1" are one key to a naive join
        accounts, numbers = ("A", "A/I"), (("I/1", "I/2"), ("1", "2"))
    elif shape == "numbers-repeated":  # invoice numbers are unique only within an account
        accounts, numbers = ("ACCT 1", "ACCT.2"), (("INV-1", "INV 2"), ("INV-1", "INV 2"))
    else:
        accounts = tuple(draw(st.lists(IDENTIFIER, min_size=2, max_size=2, unique=True)))
        numbers = tuple(tuple(draw(st.lists(IDENTIFIER, min_size=2, max_size=2, unique=True))) for _ in accounts)
    a, b = draw(st.integers(500, 4000)), draw(st.integers(500, 4000))
    amounts = draw(
        st.sampled_from([(a, a, a, a), (a, b, a + b, a), (a + b, a, b, b), (a, b, b, a)])
        | st.tuples(*[st.integers(100, 6000)] * 4)
    )
    partial = draw(st.lists(st.booleans(), min_size=4, max_size=4))
    bills = tuple(
        (account, number, amounts[2 * i + j], partial[2 * i + j])
        for i, account in enumerate(accounts)
        for j, number in enumerate(numbers[i])
    )
    return Household(bills)


S = PaymentStatus
POSTBACK_MOVES: dict[PaymentStatus, set[PaymentStatus]] = {
    S.CREATED: {S.APPROVED, S.DECLINED, S.NEEDS_REVIEW},
    S.PENDING: {S.APPROVED, S.DECLINED, S.NEEDS_REVIEW},
    S.DECLINED: {S.APPROVED, S.NEEDS_REVIEW},
    S.EXPIRED: {S.APPROVED, S.NEEDS_REVIEW},
    S.FAILED: {S.APPROVED, S.NEEDS_REVIEW},
    S.APPROVED: {S.NEEDS_REVIEW},
    S.NEEDS_REVIEW: set(),
    S.REVERSED: {S.NEEDS_REVIEW},
    S.CLOSED: {S.NEEDS_REVIEW},
}
EXPIRY_MOVES = {S.CREATED: {S.EXPIRED}, S.PENDING: {S.EXPIRED}, S.DECLINED: {S.EXPIRED}}
# A decision, then the reversals recorded while the payment waited replayed against it (DESIGN §6d).
REVIEW_MOVES = {S.NEEDS_REVIEW: {S.APPROVED, S.CLOSED, S.REVERSED}}


def _closure(moves: dict[PaymentStatus, set[PaymentStatus]]) -> dict[PaymentStatus, set[PaymentStatus]]:
    """Where several events in one step can lead (concurrent deliveries)."""
    reach = {status: set(targets) for status, targets in moves.items()}
    changed = True
    while changed:
        changed = False
        for status, targets in reach.items():
            more = set().union(*(reach.get(target, set()) for target in targets)) - targets
            if more:
                reach[status] = targets | more
                changed = True
    return reach


CONCURRENT_POSTBACK_MOVES = _closure(POSTBACK_MOVES)
FILE_MOVES = _closure(
    {
        **{status: set(targets) | {S.NEEDS_REVIEW} for status, targets in POSTBACK_MOVES.items()},
        S.APPROVED: {S.NEEDS_REVIEW, S.REVERSED},
        S.REVERSED: {S.APPROVED, S.NEEDS_REVIEW},  # a chargeback reversal gives back
        S.NEEDS_REVIEW: set(),
    }
)
START_MOVES = {S.CREATED: {S.PENDING, S.FAILED}}
# A file's rows: recovered approvals (the postback column), reversals (APPROVED -> REVERSED, or
# anything else -> NEEDS_REVIEW), in any number and order.

# The reversals Invoice Cloud's file may hold for a payment, by its method: a bank payment is returned,
# never charged back; a card payment is charged back (and the dispute may be won), never returned.
KINDS_OF_METHOD = {
    "CARD": ("VOID", "REFUND", "CHARGEBACK", "CHARGEBACK_REVERSAL"),
    "ACH": ("VOID", "REFUND", "ACH_RETURN"),
}


def _refusal_kind(message: str) -> str:
    """A review refusal without the invoices and amounts it names, for the run's figures."""
    for kind in ("would be credited above its bill", "Invoice Cloud reported for this payment", "credits nothing"):
        if kind in message:
            return kind
    return message.split(":", maxsplit=1)[0][:40]


# How a payer pays: both methods about as often (sampled_from draws the first far more in short sequences).
METHODS = st.integers(min_value=0, max_value=10**6).map(lambda n: "ACH" if n // 7 % 2 else "CARD")

MODES = st.fixed_dictionaries(
    {
        "postbackMode": st.sampled_from(["single", "perInvoice", "perAccount"]),
        "invoiceNumberWhenSeveral": st.sampled_from(["blank", "first", "firstRequested"]),
        "feeInAmount": st.booleans(),
        "guidPerAttempt": st.booleans(),
        "amountFormat": st.sampled_from(["plain", "dollar", "integer"]),
        # Whether our IC_AMOUNT_INCLUDES_FEE guessed Invoice Cloud right (DESIGN §4a): when it did not,
        # approvals stop reconciling, and the money must still be safe.
        "settingRight": st.sampled_from([True, True, False]),
        # Invoice Cloud's own session length: ours is 30 minutes (+15 grace); its page may outlive it.
        "sessionMinutes": st.sampled_from([30, 240]),
    }
)


@dataclass
class World:
    """What lives for the whole test: moto for the secrets, the simulator, the functions' settings."""

    simulator: InvoiceCloudSimulator
    app: Client
    token_ring: Any
    env: dict[str, str]
    fakes: list[FakeDynamoDB] = field(default_factory=list)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with mock_aws(), mock.patch.dict(os.environ, {}, clear=False):
        os.environ.update(
            {"AWS_ACCESS_KEY_ID": "model", "AWS_SECRET_ACCESS_KEY": "model", "AWS_DEFAULT_REGION": "us-east-1"}
        )
        os.environ.pop("AWS_ENDPOINT_URL", None)
        caches.reset()
        secrets = StackSecrets()
        simulator = InvoiceCloudSimulator(
            api_key=secrets.ic_api_key,
            biller_guid=secrets.biller_guid,
            web_service_key=secrets.web_service_key,
            clock=clock.utc_now,
        )
        server = start_server(simulator, 0, name="ic-model")
        simulator.base_url = server.url
        resources = provision(StackNames(), secrets, sender_email="billing@avocette.test")
        env = environment(
            resources,
            {
                "JwtIssuer": "https://login.avocette.test/",
                "JwtAudience": "avocette-portal",
                "CorsAllowOrigins": "https://portal.avocette.test",
                "InvoiceCloudBaseUrl": server.url,
                "InvoiceCloudPaymentUrlPrefixes": server.url + "/",
                "InvoiceCloudCustomerPortalUrl": server.url + "/portal/",
                "PublicApiBaseUrl": "https://api.avocette.test",
                "PortalReturnUrl": "https://portal.avocette.test/#/return/{paymentId}",
                "SenderEmail": "billing@avocette.test",
                "InvoiceCloudPaymentTypeIds": '{"1": "CARD", "2": "ACH"}',
            },
        )
        os.environ.update(env)
        caches.reset()
        from avocette.invoicecloud.client import CPV2_PATH, get_client
        from avocette.security import KeyRing

        ic = get_client()
        ic._pool = InProcess(simulator, server.url + CPV2_PATH, ic._pool)  # type: ignore[assignment]  # a test transport

        quiet = [pytest.importorskip("logging").getLogger(name) for name in ("avocette-payments", "sandbox")]
        levels = [logger.level for logger in quiet]
        for logger in quiet:
            logger.setLevel("ERROR")
        try:
            yield World(
                simulator=simulator,
                app=Client(simulator),
                token_ring=KeyRing.from_secret(secrets.postback_keys),
                env=env,
            )
        finally:
            for logger, level in zip(quiet, levels, strict=True):
                logger.setLevel(level)
            server.stop()
            clock.set_offset(timedelta())
            table.dynamodb.cache_clear()
            caches.reset()


class InProcess:
    """The Invoice Cloud client's connection pool, with CPV2 calls handed to a WSGI app in this process:
    the client talks to the simulator without sockets (the model makes thousands of CPV2 calls); any
    other call goes through the pool it replaces."""

    def __init__(self, app: Any, prefix: str, pool: urllib3.PoolManager) -> None:
        self.client = Client(app)
        self.prefix = prefix
        self.pool = pool

    def request(self, method: str, url: str, *, body: bytes | None = None, headers: Any = None, **kwargs: Any) -> Any:
        if not url.startswith(self.prefix):
            return self.pool.request(method, url, body=body, headers=headers, **kwargs)
        answer = self.client.open("/" + url.split("/", 3)[3], method=method, headers=dict(headers or {}), data=body)
        return urllib3.HTTPResponse(
            body=answer.get_data(), headers=dict(answer.headers), status=answer.status_code, preload_content=True
        )


def use_fake(fake: FakeDynamoDB) -> None:
    """Make ``fake`` the store's DynamoDB client (a cold start of the client cache)."""
    table.dynamodb.cache_clear()
    with mock.patch("boto3.client", return_value=fake):
        table.dynamodb()


def _reformat(amount: str, style: int) -> str:
    """The same amount as Invoice Cloud might write it again (10, 10.00, $10.00, $1,000.00)."""
    cents = money.parse_cents(amount)
    plain = money.cents_to_text(cents)
    if style == 0:
        return plain
    if style == 1:
        return "$" + f"{Decimal(plain):,.2f}"
    return plain[:-3] if plain.endswith(".00") else plain


@dataclass
class Delivery:
    payment_id: str
    fields: dict[str, str]


class PaymentModel(RuleBasedStateMachine):
    world: World

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeDynamoDB(validate_params=False)
        self.fake.create_table(**create_table_request("AppTable", TABLE))
        use_fake(self.fake)
        clock.set_offset(timedelta())
        self.sessions: dict[str, str] = {}  # payment id -> simulator session id
        self.paid_sessions: set[str] = set()  # payment ids whose session Invoice Cloud approved
        self.leaked: set[str] = set()  # payment ids that got a valid-token postback Invoice Cloud did not send
        self.outbox: list[Delivery] = []
        self.charged: Counter[str] = Counter()  # payment id -> cents Invoice Cloud charged (amount + fee)
        self.approved_at: dict[tuple[str, str], datetime] = {}  # (invoice, credit id) -> approvedAt
        self.last_import: datetime = AS_OF
        self.exported_through = clock.utc_now().astimezone(get_biller_time_zone()).date() - timedelta(days=1)

    # ---- set-up ----------------------------------------------------------------------------------

    @initialize(mode=MODES, household=households())
    def setup(self, mode: dict[str, Any], household: Household) -> None:
        self.mode = mode
        self.household = household
        self.refs = household.refs
        simulator = self.world.simulator
        simulator.reset()
        modes = {name: value for name, value in mode.items() if name != "settingRight"}
        simulator.update_config({**modes, "dropPostbacks": True, "payExpiredSessions": False})
        includes_fee = mode["feeInAmount"] == mode["settingRight"]
        os.environ["IC_AMOUNT_INCLUDES_FEE"] = "true" if includes_fee else "false"
        postback_settings.get_postback_settings.cache_clear()
        for number in household.accounts:
            billing.put_account(Account(account_number=number, name="Household", billed_as_of=AS_OF))
            for user in USERS:
                links.put_link(links.Link(sub=user, account_number=number, linked_at=AS_OF))
        for account, number, cents, partial in household.bills:
            billing.put_invoice(
                Invoice(
                    account_number=account,
                    invoice_number=number,
                    billed_cents=cents,
                    billed_as_of=AS_OF,
                    allow_partial_payments=partial,
                    minimum_amount_due_cents=min(500, cents) if partial else None,
                )
            )
        names = [part for account, number, _, _ in household.bills for part in (account, number)]
        STATS.update(
            [
                f"household with {what}"
                for what, there in (("/", any("/" in n for n in names)), ("a space", any(" " in n for n in names)))
                if there
            ]
        )
        if len({number for _, number, _, _ in household.bills}) < len(household.bills):
            STATS["household with repeated invoice numbers"] += 1
        self.snapshot = self._statuses()

    def _in_order(self, payment_ids: Iterable[str]) -> list[str]:
        """Payment ids in the order the sequence started them (then by id): ids are random (uuid4), so an
        order by id would let a replayed sequence pick another payment, and hypothesis could neither
        replay nor shrink a failure."""
        started = {payment_id: index for index, payment_id in enumerate(self.sessions)}
        return sorted(payment_ids, key=lambda payment_id: (started.get(payment_id, len(started)), payment_id))

    def _slot_order(self, slot: tuple[str, str, str]) -> tuple[int, str, str, str]:
        started = list(self.sessions)
        return (started.index(slot[0]) if slot[0] in started else len(started), *slot)

    def _pick(self, indices: list[int]) -> list[InvoiceRef]:
        return [self.refs[index % len(self.refs)] for index in dict.fromkeys(indices)]

    # ---- reading the table ----------------------------------------------------------------------

    def _items(self, *prefixes: str) -> list[dict[str, Any]]:
        """The items whose sort key starts with one of ``prefixes`` (deserializing only those)."""
        return [deserialize(raw) for raw in self.fake.peek_items(TABLE) if raw["SK"]["S"].startswith(prefixes)]

    def _statuses(self) -> dict[str, tuple[PaymentStatus, int]]:
        return {
            raw["paymentId"]["S"]: (PaymentStatus(raw["status"]["S"]), int(raw["amountPaidCents"]["N"]))
            for raw in self.fake.peek_items(TABLE)
            if raw["SK"]["S"] == "PAYMENT"
        }

    def _check_moves(
        self, allowed: dict[PaymentStatus, set[PaymentStatus]], event: str, *, single_event: bool = True
    ) -> None:
        """Each payment's change of status in this step must be allowed for its event; money moves on
        no payment that was under review, nor, for a single event, on one it puts under review."""
        after = self._statuses()
        for payment_id, (status, paid) in after.items():
            before = self.snapshot.get(payment_id)
            if before is None:
                assert status in (S.PENDING, S.FAILED, S.CREATED), f"{event}: new payment is {status}"
                continue
            was, paid_before = before
            if status is not was:
                assert status in allowed.get(was, set()), f"{event}: {was} -> {status} is not in the table"
            under_review = was is S.NEEDS_REVIEW or (single_event and status is S.NEEDS_REVIEW)
            if under_review and event != "review":
                assert paid == paid_before, f"{event}: money moved on a payment under review ({was} -> {status})"
        self.snapshot = after

    def _session(self, payment_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.world.app.get(f"/_sim/sessions/{self.sessions[payment_id]}").get_json()
        return answer

    # ---- payers ---------------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), picks=st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True))
    def start(self, user: str, picks: list[int]) -> None:
        self._start(user, self._pick(picks))

    def _start(self, user: str, refs: list[InvoiceRef]) -> str | None:
        command = starting.StartPaymentCommand(
            sub=user,
            invoices=[InvoiceSelection(account_number=r.account_number, invoice_number=r.invoice_number) for r in refs],
            postback_base_url="https://api.avocette.test",
        )
        try:
            outcome = starting.start_payment(command, rules=starting.StartRules.from_environment())
        except (
            errors.PaymentInProgressError,
            errors.InvoiceNotPayableError,
            errors.RequestInProgressError,
            errors.TooManyAttemptsError,
        ) as exc:
            STATS[f"start refused {exc.code}"] += 1
            self._check_moves({}, "refused start")
            return None
        STATS["start " + ("created" if outcome.created else "offered again")] += 1
        response = outcome.response
        self.sessions[response.payment_id] = response.payment_url.rstrip("/").rsplit("/", 1)[-1]
        self._check_moves(START_MOVES, "start")
        return response.payment_id if outcome.created else None

    # Draws never depend on the state (which concurrent deliveries make nondeterministic): indices are
    # drawn whole and taken modulo what there is, so that hypothesis can replay and shrink a sequence.

    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        outcome=st.integers(min_value=0, max_value=10**6).map(lambda n: "decline" if n // 7 % 3 == 1 else "approve"),
        method=METHODS,
        ignore_expiry=st.booleans(),
        remove=st.lists(st.booleans(), min_size=4, max_size=4),
        part=st.booleans(),
        part_pick=st.integers(min_value=0, max_value=10),
        part_cents=st.integers(min_value=0, max_value=10_000),
        deliver_now=st.booleans(),
    )
    def pay(
        self,
        *,
        pick: int,
        outcome: str,
        method: str,
        ignore_expiry: bool,
        remove: list[bool],
        part: bool,
        part_pick: int,
        part_cents: int,
        deliver_now: bool,
    ) -> None:
        # Mostly the pages still open; now and then one paid or ended (Invoice Cloud refuses it, unless
        # the payer ignores that it ended: ``ignore_expiry``).
        unpaid = self._in_order(set(self.sessions) - self.paid_sessions)
        still_open = [pid for pid in unpaid if self._session(pid)["state"] == "OPEN"]
        candidates = (still_open or unpaid) if unpaid and pick % 5 else self._in_order(self.sessions)
        if not candidates:
            return
        payment_id = candidates[pick % len(candidates)]
        deliveries = self._pay(
            payment_id, outcome=outcome, method=method, ignore_expiry=ignore_expiry, remove=remove,
            part_cents=part_cents if part else None, part_pick=part_pick,
        )  # fmt: skip
        if deliver_now:  # as Invoice Cloud usually does, at once; later rules send them again, late, racing
            for delivery in deliveries:
                self._deliver(delivery)
                self._check_moves(POSTBACK_MOVES, "postback")

    def _pay(
        self,
        payment_id: str,
        *,
        outcome: str = "approve",
        method: str = "CARD",
        ignore_expiry: bool = False,
        remove: list[bool] | None = None,
        part_cents: int | None = None,
        part_pick: int = 0,
    ) -> list[Delivery]:
        """The payer on Invoice Cloud's page: the postbacks it sent (kept in the outbox, not delivered)."""
        session = self.sessions[payment_id]
        state = self._session(payment_id)
        numbers = [line["invoiceNumber"] for line in state["invoices"] if not line["removed"]]
        body: dict[str, Any] = {"outcome": outcome, "method": method, "ignoreExpiry": ignore_expiry}
        removed = sorted({number for number, gone in zip(numbers, remove or [], strict=False) if gone})
        if removed and len(removed) < len(set(numbers)):
            body["removeInvoices"] = removed
        partial = [
            line
            for line in state["invoices"]
            if line["allowPartialPayments"] and not line["removed"] and line["invoiceNumber"] not in removed
        ]
        if partial and part_cents is not None:
            line = partial[part_pick % len(partial)]
            balance = money.parse_cents(line["balanceDue"])
            cents = min(balance, max(min(500, balance), part_cents % (balance + 1)))
            body["amounts"] = {line["invoiceNumber"]: money.cents_to_text(cents)}
        answer = self.world.app.post(f"/_sim/sessions/{session}/complete", json=body)
        if answer.status_code != 200:
            STATS["pay refused by Invoice Cloud"] += 1
            return []  # the session is not open, or an amount is not allowed: the payer cannot pay
        result = answer.get_json()
        attempt = result["attempt"]
        STATS["pay " + ("approved" if attempt["approved"] else "declined")] += 1
        if attempt["approved"]:
            self.paid_sessions.add(payment_id)
            self.charged[payment_id] += money.parse_cents(attempt["amount"]) + money.parse_cents(attempt["fee"])
        STATS.update(["pay part"] if "amounts" in body else [])
        STATS.update(["pay after expiry"] if attempt.get("afterExpiry") else [])
        STATS.update(["pay with invoices removed"] if body.get("removeInvoices") else [])
        deliveries = [Delivery(payment_id, dict(record["fields"])) for record in result["postbacks"]]
        self.outbox.extend(deliveries)
        return deliveries

    # ---- Invoice Cloud's deliveries -------------------------------------------------------------

    def _deliver(self, delivery: Delivery, *, token: str | None = None) -> None:
        token = token if token is not None else self.world.token_ring.postback_token(delivery.payment_id)
        try:
            result = postbacks.receive_postback(
                rules=postbacks.PostbackRules.from_environment(),
                payment_id=delivery.payment_id,
                token=token,
                source_ip=None,
                body=urlencode(delivery.fields).encode(),
                query={},
            )
        except errors.InvalidPostbackError:
            STATS["postback INVALID"] += 1
            return
        STATS[f"postback {result.outcome.value}"] += 1
        if result.outcome.value == "REVIEW":
            item = self.fake.get_item(TableName=TABLE, Key=keys.payment_key(delivery.payment_id))["Item"]
            STATS[f"review reason {item['reviewReason']['S']}"] += 1

    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        styles=st.lists(st.integers(min_value=-1, max_value=2), min_size=1, max_size=3),
    )
    def deliver(self, pick: int, styles: list[int]) -> None:
        """One postback, sent once or again, each time as it was (-1) or in another formatting."""
        if not self.outbox:
            return
        delivery = self.outbox[pick % len(self.outbox)]
        for style in styles:
            fields = dict(delivery.fields)
            for name in ("PaymentAmount", "ConvenienceFee"):
                if style >= 0 and fields.get(name):
                    with contextlib.suppress(money.MoneyError):
                        fields[name] = _reformat(fields[name], style)
            self._deliver(Delivery(delivery.payment_id, fields))
            self._check_moves(POSTBACK_MOVES, "postback")

    @rule(pick=st.integers(min_value=0, max_value=10**6), amount=ODD_AMOUNTS, fee=ODD_AMOUNTS, decline=st.booleans())
    def deliver_odd_amounts(self, pick: int, amount: str, fee: str, decline: bool) -> None:
        """A postback whose amount and fee fields say anything at all. On a decline they must change
        nothing but the record; on an approval (a leaked URL: Invoice Cloud did not send it) they go to
        review or are refused as unreadable, and never move more money than was charged."""
        # A decline's copy when asked for and there is one (declines are few among the postbacks).
        declines = [d for d in self.outbox if d.fields.get("Approved") == "False"]
        if decline and not declines:  # a payer declined on a page still open, its postbacks held back
            still_open = [
                p
                for p in self._in_order(set(self.sessions) - self.paid_sessions)
                if self._session(p)["state"] == "OPEN"
            ]
            if still_open:
                declines = self._pay(still_open[pick % len(still_open)], outcome="decline")
        outbox = (declines if decline else None) or self.outbox
        if not outbox:
            return
        delivery = outbox[pick % len(outbox)]
        fields = {**delivery.fields, "PaymentAmount": amount, "ConvenienceFee": fee}
        declined = fields.get("Approved") == "False"
        before = self.fake.get_item(TableName=TABLE, Key=keys.payment_key(delivery.payment_id))["Item"]
        if not declined:
            self.leaked.add(delivery.payment_id)
        self._deliver(Delivery(delivery.payment_id, fields))
        STATS["odd amounts " + ("declined" if declined else "approved")] += 1
        after = self.fake.get_item(TableName=TABLE, Key=keys.payment_key(delivery.payment_id))["Item"]
        if declined:
            assert after["status"] == before["status"] or (
                before["status"]["S"] in ("CREATED", "PENDING") and after["status"]["S"] == "DECLINED"
            ), f"a decline with amount {amount!r} and fee {fee!r} moved {before['status']} -> {after['status']}"
            assert after["amountPaidCents"] == before["amountPaidCents"], "a decline moved money"
        self._check_moves(POSTBACK_MOVES, "postback")

    @rule(picks=st.lists(st.integers(min_value=0, max_value=10**6), min_size=2, max_size=4))
    def deliver_concurrently(self, picks: list[int]) -> None:
        if not self.outbox:
            return
        self._deliver_all_at_once([self.outbox[pick % len(self.outbox)] for pick in picks])

    def _deliver_all_at_once(self, chosen: list[Delivery]) -> None:
        threads = [threading.Thread(target=self._deliver, args=(delivery,)) for delivery in chosen]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        self._check_moves(CONCURRENT_POSTBACK_MOVES, "concurrent postbacks", single_event=False)

    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        how=st.sampled_from(["bad-token", "other-payment-token", "altered-amount"]),
    )
    def forge(self, pick: int, how: str) -> None:
        if not self.outbox:
            return
        delivery = self.outbox[pick % len(self.outbox)]
        before = self.fake.table_items(TABLE)
        if how == "altered-amount":  # a leaked URL: a valid token, the same postback with another amount
            # Before the real one arrives, such a postback is indistinguishable from Invoice Cloud's own:
            # only Invoice Cloud's payment file can tell (reconciliation). Its payment is not held to
            # "credited no more than charged" until a file was read; the others all are.
            self.leaked.add(delivery.payment_id)
            fields = dict(delivery.fields)
            fields["PaymentAmount"] = money.cents_to_text(money.parse_cents(fields.get("PaymentAmount") or "0") + 1)
            self._deliver(Delivery(delivery.payment_id, fields))
            self._check_moves(POSTBACK_MOVES, "forged postback")
            return
        token = "v2.AAAA" if how == "bad-token" else self.world.token_ring.postback_token("someone-else")
        STATS["forged postback refused"] += 1
        with pytest.raises(errors.InvalidTokenError):
            self._deliver(delivery, token=token)
        assert self.fake.table_items(TABLE) == before

    # ---- two payments of one bill -----------------------------------------------------------------

    @rule(
        first_user=st.sampled_from(USERS),
        second_user=st.sampled_from(USERS),
        picks=st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True),
        overlap=st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True),
        old_page_first=st.booleans(),
        together=st.booleans(),
        part_cents=st.one_of(st.none(), st.integers(min_value=500, max_value=2000)),
        remove_first=st.booleans(),
        method=METHODS,
    )
    def two_pages_for_one_bill(
        self,
        *,
        first_user: str,
        second_user: str,
        picks: list[int],
        overlap: list[int],
        old_page_first: bool,
        together: bool,
        part_cents: int | None,
        remove_first: bool,
        method: str,
    ) -> None:
        """The double payment of the money-safety issue, with random parts: a payment's page is left
        open past our session; the expiry frees its invoices; someone in the household starts and
        pays another payment of some of them; the old page is paid too (Invoice Cloud's session
        outlives ours, or the payer ignores that it ended); the postbacks arrive in either order, or
        at once. Money moved twice for the shared invoices: only one payment may credit them."""
        first = self._start(first_user, self._pick(picks))
        if first is None:
            return
        self._leave_open(first)
        second = self._start(second_user, self._pick(overlap))
        if second is None:
            return
        pages = [(first, True), (second, False)] if old_page_first else [(second, False), (first, True)]
        deliveries: list[Delivery] = []
        for payment_id, old in pages:
            remove = [True, False, False, False] if remove_first else None
            deliveries += self._pay(payment_id, ignore_expiry=old, remove=remove, part_cents=part_cents, method=method)
        STATS["two pages for one bill"] += 1
        if together:
            self._deliver_all_at_once(deliveries)
            return
        for delivery in deliveries:
            self._deliver(delivery)
            self._check_moves(POSTBACK_MOVES, "postback")

    @rule(
        first_user=st.sampled_from(USERS),
        second_user=st.sampled_from(USERS),
        picks=st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True),
        pay_again=st.booleans(),
        method=METHODS,
    )
    def result_lost_then_paid_again(
        self, first_user: str, second_user: str, picks: list[int], pay_again: bool, method: str
    ) -> None:
        """A payer pays; Invoice Cloud's result is lost; the session expires. The portal must then warn
        before anyone pays those invoices again; someone may do so anyway, and be charged twice."""
        refs = self._pick(picks)
        first = self._start(first_user, refs)
        if first is None:
            return
        if not self._pay(first, method=method):
            return
        self._leave_open(first)
        item = self.fake.get_item(TableName=TABLE, Key=keys.payment_key(first))["Item"]
        if item["status"]["S"] != "EXPIRED":
            return
        invoices = billing.get_invoices(refs)
        for ref in refs:
            warned = invoices[ref].unresolved_since(clock.utc_now())
            assert warned is not None, f"{ref}: no warning after its session ended without a result"
        STATS["result lost, session expired"] += 1
        if not pay_again:
            return
        second = self._start(second_user, refs)
        if second is None:
            return
        for delivery in self._pay(second):
            self._deliver(delivery)
            self._check_moves(POSTBACK_MOVES, "postback")
        STATS["paid again after a lost result"] += 1

    # ---- time, expiry, reviews, billing ----------------------------------------------------------

    @rule(pick=st.integers(min_value=0, max_value=10**6))
    def payer_leaves_a_page_open(self, pick: int) -> None:
        if self.sessions:
            self._leave_open(self._in_order(self.sessions)[pick % len(self.sessions)])

    def _leave_open(self, payment_id: str) -> None:
        """A payer walks away from a session's page until our session and grace are over; the expiry
        job frees its invoices. The page may still be open at Invoice Cloud (``sessionMinutes``), or the
        payer may come back and pay it anyway (``ignoreExpiry``)."""
        item = deserialize(self.fake.get_item(TableName=TABLE, Key=keys.payment_key(payment_id))["Item"])
        until = clock.parse_timestamp(item["sessionExpiresAt"]) + timedelta(minutes=15, seconds=1)
        if until > clock.utc_now():
            clock.set_offset(clock.offset() + (until - clock.utc_now()))
        STATS["payments expired"] += expiry.expire_payments(ledger=get_ledger_settings()).expired
        self._check_moves(EXPIRY_MOVES, "expiry")

    @rule(minutes=st.sampled_from([1, 6, 10, 31, 46, 60 * 25]), billing_file=st.booleans())
    def time_passes(self, minutes: int, billing_file: bool) -> None:
        """The clock moves; the expiry job runs; sometimes the biller's file arrives."""
        clock.set_offset(clock.offset() + timedelta(minutes=minutes))
        STATS["payments expired"] += expiry.expire_payments(ledger=get_ledger_settings()).expired
        self._check_moves(EXPIRY_MOVES, "expiry")
        if billing_file:
            self._billing_file_arrives()

    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        dismiss=st.booleans(),
        twice=st.booleans(),
        guess=st.sampled_from([False, False, True]),
    )
    def settle_a_review(self, pick: int, dismiss: bool, twice: bool, guess: bool) -> None:
        """Ops settle a payment under review as Invoice Cloud's portal tells them: each invoice gets what
        Invoice Cloud charged there (taking back what the rules put where it charged nothing), or the
        payment is closed (refunded at Invoice Cloud). With ``guess``, ops take the rules' candidate
        allocation without checking (a mistake the next payment file shows, and a later review
        corrects). With ``twice``, Invoice Cloud tells that payment something new at once and ops settle
        it again, in the same second."""
        waiting = self._in_order(pid for pid, (status, _) in self.snapshot.items() if status is S.NEEDS_REVIEW)
        if not waiting:
            return
        payment_id = waiting[pick % len(waiting)]
        self._read_files()  # ops look at what Invoice Cloud says it charged before they decide
        if self._statuses()[payment_id][0] is not S.NEEDS_REVIEW:
            return
        self._settle(payment_id, dismiss=dismiss, guess=guess)
        self._check_moves(REVIEW_MOVES, "review")
        if guess:  # the next payment file shows what a wrong guess did; ops correct it
            self._read_files()
            if self._statuses()[payment_id][0] is S.NEEDS_REVIEW:
                self._settle(payment_id, dismiss=False)
                self._check_moves(REVIEW_MOVES, "review")
        again = self._settle_again_refused(payment_id)
        if twice and not again and payment_id in self.paid_sessions:
            self._tell_something_new(payment_id)
            if self.snapshot[payment_id][0] is S.NEEDS_REVIEW:
                self._settle(payment_id, dismiss=False)
                self._check_moves(REVIEW_MOVES, "review")
                STATS["review settled twice"] += 1

    def _settle(self, payment_id: str, *, dismiss: bool, guess: bool = False) -> None:
        guid, charged = self._charged_by(payment_id)
        gross = self._gross_credits(payment_id)
        told = {
            key: charged.get(key, 0) - gross.get(key, 0)
            for key in set(charged) | set(gross)
            if charged.get(key, 0) != gross.get(key, 0)
        }
        STATS.update(["review told a correction"] if any(cents < 0 for cents in told.values()) else [])
        if guess and (mistake := self._mistake(payment_id, told)):
            told = mistake
            STATS["review guessed"] += 1
        try:
            if guid is not None and not dismiss and (told or sum(gross.values())):
                review.apply_review(payment_id, told, note="IC portal", by="model", payment_guid=guid)
                STATS["review applied" + (" with a correction" if any(c < 0 for c in told.values()) else "")] += 1
            else:
                review.dismiss_review(payment_id, note="refunded at Invoice Cloud", by="model")
                STATS["review dismissed"] += 1
                self._refund_at_invoice_cloud(payment_id)
            STATS["review settled"] += 1
        except review.ReviewRefusedError as refused:
            STATS[f"review refused: {_refusal_kind(str(refused))}"] += 1
            if "above its bill" in str(refused) or "nothing" in str(refused):
                review.dismiss_review(payment_id, note="refunded at Invoice Cloud", by="model")
                STATS["review dismissed"] += 1
                STATS["review settled"] += 1
                self._refund_at_invoice_cloud(payment_id)

    def _refund_at_invoice_cloud(self, payment_id: str) -> None:
        """Ops refund at Invoice Cloud what a dismissed payment still holds there; the refund comes back
        in Invoice Cloud's file of the day (a REFUND of a closed payment: recorded only)."""
        guid, charged = self._charged_by(payment_id)
        if guid is None:
            return
        held: Counter[str] = Counter(charged)
        for reversal in self.world.simulator.reversals():
            if reversal["paymentGuid"] == guid:
                ref = InvoiceRef(account_number=reversal["accountNumber"], invoice_number=reversal["invoiceNumber"])
                sign = -1 if reversal["kind"] == "CHARGEBACK_REVERSAL" else 1
                held[ref.key] -= sign * money.parse_cents(reversal["amount"])
        refunds = [
            {
                "paymentGuid": guid,
                "kind": "REFUND",
                "accountNumber": InvoiceRef.from_key(key).account_number,
                "invoiceNumber": InvoiceRef.from_key(key).invoice_number,
                "amount": money.cents_to_text(cents),
            }
            for key, cents in sorted(held.items())
            if cents > 0
        ]
        if refunds:
            self._check_moves(REVIEW_MOVES, "review")
            written = self.world.simulator.write_payment_file({"reversals": refunds})
            STATS["refunds after a dismissal"] += 1
            self._reconcile(written["key"])
            self._check_moves(FILE_MOVES, "payment file", single_event=False)

    def _mistake(self, payment_id: str, told: dict[str, int]) -> dict[str, int] | None:
        """What ops might apply without checking: the rules' own candidate, or the whole amount on the
        first invoice that can take it; ``None`` when that is what Invoice Cloud charged anyway."""
        case = review.show_review(payment_id)
        guesses = [dict(candidate.allocation) for candidate in case.candidates if candidate.allocation]
        total = sum(told.values())
        if total > 0:
            guesses += [{line.ref.key: total} for line in case.payment.lines if 0 < total <= line.unpaid_cents]
        return next((guess for guess in guesses if guess != told), None)

    def _settle_again_refused(self, payment_id: str) -> bool:
        """A second decision on a payment a person just settled is refused, and changes nothing."""
        if self._statuses()[payment_id][0] is S.NEEDS_REVIEW:
            return True
        before = self.fake.table_items(TABLE)
        with pytest.raises(review.ReviewRefusedError):
            review.dismiss_review(payment_id, note="again", by="model")
        assert self.fake.table_items(TABLE) == before
        return False

    def _tell_something_new(self, payment_id: str) -> None:
        """Invoice Cloud's approval of the payment told again with another amount (a conflict)."""
        approvals = [d for d in self.outbox if d.payment_id == payment_id and d.fields.get("Approved") == "True"]
        if not approvals:
            return
        fields = dict(approvals[0].fields)
        fields["PaymentAmount"] = money.cents_to_text(money.parse_cents(fields.get("PaymentAmount") or "0") + 7)
        self.leaked.add(payment_id)
        self._deliver(Delivery(payment_id, fields))
        self._check_moves(POSTBACK_MOVES, "postback")

    def _charged_by(self, payment_id: str) -> tuple[str | None, dict[str, int]]:
        """What Invoice Cloud charged for a payment, without the fee: its payment id and cents by
        invoice key (what ops read on Invoice Cloud's portal)."""
        if payment_id not in self.sessions:
            return None, {}
        approved = [attempt for attempt in self._session(payment_id)["attempts"] if attempt["approved"]]
        if not approved:
            return None, {}
        (attempt,) = approved
        charged: Counter[str] = Counter()
        for line in attempt["invoices"]:
            ref = InvoiceRef(account_number=line["accountNumber"], invoice_number=line["invoiceNumber"])
            charged[ref.key] += money.parse_cents(line["amount"])
        return attempt["paymentGuid"], {key: cents for key, cents in charged.items() if cents}

    def _credit_entries(self) -> list[tuple[str, dict[str, Any]]]:
        """Every credit entry on every invoice: (invoice key, entry)."""
        entries = []
        for item in self._items("INVOICE#"):
            ref = InvoiceRef(account_number=item["accountNumber"], invoice_number=item["invoiceNumber"]).key
            entries.extend((ref, credit) for credit in (item.get("credits") or {}).values())
        return entries

    def _gross_credits(self, payment_id: str) -> dict[str, int]:
        """What a payment credited on each invoice before Invoice Cloud took anything back (its
        credits, less what reviews took back from it as misplaced)."""
        gross: Counter[str] = Counter()
        for ref, credit in self._credit_entries():
            if credit["paymentId"] == payment_id and credit.get("kind", "PAYMENT") in ("PAYMENT", "CORRECTION"):
                gross[ref] += int(credit["cents"])
        return dict(gross)

    def _billing_file_arrives(self) -> None:
        """The biller's exports of the days that ended, then its file as of now: each bill less what
        its system has posted, which is what our exports carried at least the settlement lag ago."""
        now = clock.utc_now()
        if now <= self.last_import:
            return
        zone = get_biller_time_zone()
        yesterday = now.astimezone(zone).date() - timedelta(days=1)
        while self.exported_through < yesterday:
            self.exported_through += timedelta(days=1)
            STATS["export rows"] += export.export_day(
                self.exported_through, ledger=get_ledger_settings(), bucket=get_exports_bucket(), zone=zone
            ).rows
        self.last_import = now
        invoices = billing.get_invoices(self.refs)
        billed = self.household.billed
        for ref in self.refs:
            invoice = invoices[ref]
            posted = sum(
                c.cents
                for c in invoice.credits.values()
                if c.exported_at is not None and c.exported_at + timedelta(hours=LAG_HOURS) < now
            )
            update = replace(invoice, billed_cents=billed[ref] - posted, billed_as_of=now)
            billing.update_invoice_from_billing(update, settlement_lag_hours=LAG_HOURS)
        STATS["billing files"] += 1
        self._check_moves({}, "billing file")

    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        reversals=st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=10**6),  # which kind, of those the payment's method can have
                st.one_of(st.none(), st.integers(min_value=1, max_value=3000)),
                st.integers(min_value=0, max_value=10**6),
            ),
            max_size=3,
        ),
    )
    def invoice_clouds_file_arrives(self, *, pick: int, reversals: list[tuple[int, int | None, int]]) -> None:
        """Invoice Cloud's payment file of today (what it charged, with reversals: several of each kind
        on one invoice, part or whole, chargebacks won back), reconciled: lost postbacks recovered,
        reversals applied, differences to review."""
        asked: list[dict[str, Any]] = []
        approved = self._in_order(self.paid_sessions)
        for kind_pick, cents, line_pick in reversals if approved else []:
            payment_id = approved[pick % len(approved)]
            attempt = next(a for a in self._session(payment_id)["attempts"] if a["approved"])
            kinds = KINDS_OF_METHOD[attempt["method"]]
            STATS[f"reversal target {attempt['method']}"] += 1
            kind = kinds[kind_pick % len(kinds)]
            line = attempt["invoices"][line_pick % len(attempt["invoices"])]
            reversal: dict[str, Any] = {
                "billerReference": payment_id,
                "kind": kind,
                "invoiceNumber": line["invoiceNumber"],
                "accountNumber": line["accountNumber"],
            }
            if cents is not None:
                reversal["amount"] = money.cents_to_text(min(cents, money.parse_cents(line["amount"]) or 1))
            asked.append(reversal)
        for chosen in (asked, asked[:1], []):
            try:
                written = self.world.simulator.write_payment_file({"reversals": chosen})
                STATS["reversals asked"] += len(chosen)
                STATS.update(f"reversal asked: {r['kind']}" for r in chosen)
                break
            except ControlError:  # that much was reversed already, nothing was paid (or charged back) there
                continue
        self._reconcile(written["key"])
        self._check_moves(FILE_MOVES, "payment file", single_event=False)

    @rule(pick=st.integers(min_value=0, max_value=10**6), part=st.booleans())
    def the_biller_wins_a_dispute(self, *, pick: int, part: bool) -> None:
        """A chargeback the biller disputed and won (one charged back now, when none is open): Invoice
        Cloud's file of today gives back what it took (all of it, or part), and the payment counts again
        unless its invoice was paid again meanwhile."""
        held: Counter[tuple[str, str, str]] = Counter()
        for reversal in self.world.simulator.reversals():
            if reversal["kind"] in ("CHARGEBACK", "CHARGEBACK_REVERSAL"):
                slot = (reversal["billerReference"], reversal["accountNumber"], reversal["invoiceNumber"])
                cents = money.parse_cents(reversal["amount"])
                held[slot] += cents if reversal["kind"] == "CHARGEBACK" else -cents
        disputed = sorted((slot for slot, cents in held.items() if cents > 0), key=self._slot_order)
        if not disputed:
            charged_back = self._charge_back(pick)
            if not charged_back:
                return
            held.update({slot: money.parse_cents(amount) for slot, amount in charged_back.items()})
            disputed = sorted(charged_back, key=self._slot_order)
        payment_id, account, invoice = slot = disputed[pick % len(disputed)]
        won = {"billerReference": payment_id, "kind": "CHARGEBACK_REVERSAL", "accountNumber": account}
        won |= {
            "invoiceNumber": invoice,
            "amount": money.cents_to_text(max(1, held[slot] // 2) if part else held[slot]),
        }
        written = self.world.simulator.write_payment_file({"reversals": [won]})
        STATS["dispute won" + (" in part" if part else "")] += 1
        before = self._statuses()[payment_id][0]
        self._reconcile(written["key"])
        self._check_moves(FILE_MOVES, "payment file", single_event=False)
        STATS[f"dispute won: {before.value} -> {self._statuses()[payment_id][0].value}"] += 1

    def _charge_back(self, pick: int) -> dict[tuple[str, str, str], str]:
        """A card payer disputes one invoice of an approved payment: Invoice Cloud's file of today charges
        it back in full, reconciled. The slot charged back and its amount (nothing when no card payment
        holds money there)."""
        cards = []
        for payment_id in self._in_order(self.paid_sessions):
            attempt = next(a for a in self._session(payment_id)["attempts"] if a["approved"])
            if attempt["method"] == "CARD":
                cards += [(payment_id, line) for line in attempt["invoices"]]
        for payment_id, line in cards[pick % len(cards) :] + cards[: pick % len(cards)] if cards else []:
            asked = {"billerReference": payment_id, "kind": "CHARGEBACK", "accountNumber": line["accountNumber"]}
            asked["invoiceNumber"] = line["invoiceNumber"]
            try:
                written = self.world.simulator.write_payment_file({"reversals": [asked]})
            except ControlError:  # taken back already
                continue
            STATS["dispute: charged back"] += 1
            self._reconcile(written["key"])
            self._check_moves(FILE_MOVES, "payment file", single_event=False)
            (row,) = [r for r in self.world.simulator.reversals() if r["kind"] == "CHARGEBACK"][-1:]
            return {(payment_id, row["accountNumber"], row["invoiceNumber"]): row["amount"]}
        return {}

    def _reconcile(self, key: str) -> None:
        text = (self.world.simulator.payment_file(key) or b"").decode("utf-8-sig")
        report = reconcile.reconcile_file(
            lambda: io.StringIO(text, newline=""), key=key, rules=ReconcileRules.from_environment()
        )
        assert report.status.value == "IMPORTED", report.summary()
        assert not report.bad_rows, report.bad_rows
        for name, count in report.counts.model_dump().items():
            STATS[f"file {name}"] += count

    # ---- quiet points ------------------------------------------------------------------------------

    @rule()
    def quiet_point(self) -> None:
        """Invoice Cloud's files of every day it charged or took back money, read again: whatever
        postback was lost is recovered. Then the books must balance."""
        self._read_files()
        self._check_conservation()
        STATS["conservation checked"] += 1

    def _read_files(self) -> None:
        for day in sorted(self._activity_days()):
            written = self.world.simulator.write_payment_file({"date": day})
            self._reconcile(written["key"])
        self._check_moves(FILE_MOVES, "payment file", single_event=False)

    def _activity_days(self) -> set[str]:
        days = {reversal["day"] for reversal in self.world.simulator.reversals()}
        for payment_id in self.paid_sessions:
            for attempt in self._session(payment_id)["attempts"]:
                if attempt["approved"]:
                    days.add(clock.parse_timestamp(attempt["at"]).date().isoformat())
        return days

    def _check_conservation(self) -> None:
        """For each Invoice Cloud payment id: charged = credited + taken back, per invoice; unless its
        payment waits for a person, or a person closed it (then it credits nothing)."""
        statuses = self._statuses()
        taken_back: Counter[tuple[str, str]] = Counter()
        for reversal in self.world.simulator.reversals():
            ref = InvoiceRef(account_number=reversal["accountNumber"], invoice_number=reversal["invoiceNumber"])
            sign = -1 if reversal["kind"] == "CHARGEBACK_REVERSAL" else 1  # a dispute won gives back
            taken_back[(reversal["paymentGuid"], ref.key)] += sign * money.parse_cents(reversal["amount"])
        credited: Counter[tuple[str, str, str]] = Counter()  # (payment, guid, invoice) -> credits less corrections
        reversed_: Counter[tuple[str, str, str]] = Counter()  # (payment, guid, invoice) -> taken back
        for ref, credit in self._credit_entries():
            slot = (credit["paymentId"], credit.get("paymentGuid", ""), ref)
            if credit.get("kind", "PAYMENT") in ("PAYMENT", "CORRECTION"):
                credited[slot] += int(credit["cents"])
            else:  # taken back (negative), or given back by a chargeback reversal (positive)
                reversed_[slot] -= int(credit["cents"])
        for payment_id, (status, _) in statuses.items():
            if status is S.NEEDS_REVIEW:
                STATS["conservation: under review"] += 1
                continue
            mine = {slot: cents for slot, cents in credited.items() if slot[0] == payment_id}
            if status is S.CLOSED:
                net = Counter[str]()
                for (_, guid, ref), cents in mine.items():
                    net[ref] += cents - reversed_[(payment_id, guid, ref)]
                assert not any(net.values()), f"{payment_id} was closed by a person but still credits {dict(net)}"
                STATS["conservation: closed"] += 1
                continue
            guid, charged = self._charged_by(payment_id)
            for (_, credit_guid, _ref), cents in mine.items():
                assert credit_guid == guid or not cents, f"{payment_id} credits {cents} of {credit_guid}, not {guid}"
            for ref in set(charged) | {slot[2] for slot in mine}:
                got = credited[(payment_id, guid or "", ref)]
                assert got == charged.get(ref, 0), (
                    f"{payment_id} ({status}): Invoice Cloud charged {charged.get(ref, 0)} on {ref} "
                    f"(payment id {guid}), we credited {got}"
                )
                back, theirs = reversed_[(payment_id, guid or "", ref)], taken_back[(guid or "", ref)]
                assert back == theirs, f"{payment_id} ({status}): Invoice Cloud took back {theirs} on {ref}, we {back}"
            STATS["conservation: balanced"] += 1

    # ---- the invariants -------------------------------------------------------------------------

    @invariant()
    def money_is_consistent(self) -> None:
        items = self._items("PAYMENT", "INVOICE#")
        applied = [
            (raw["PK"]["S"].removeprefix("PAYMENT#"), raw["read"]["M"]["identity"]["S"])
            for raw in self.fake.peek_items(TABLE)
            if raw["SK"]["S"].startswith("POSTBACK#") and raw["outcome"]["S"] == "APPLIED"
        ]
        assert len(applied) == len(set(applied)), "a postback was applied twice"
        payment_items = {item["paymentId"]: item for item in items if item["SK"] == "PAYMENT"}
        credited_by_payment: dict[tuple[str, str], int] = Counter()
        for item in items:
            if not str(item["SK"]).startswith("INVOICE#"):
                continue
            ref = InvoiceRef(account_number=item["accountNumber"], invoice_number=item["invoiceNumber"]).key
            credits = item.get("credits") or {}
            unreflected = sum(c["cents"] for c in credits.values() if "reflectedAsOf" not in c)
            assert item["unreflectedCents"] == unreflected, f"{ref}: unreflectedCents out of step"
            assert item["unpaidCents"] == item["billedCents"] - unreflected, f"{ref}: unpaidCents out of step"
            # A credit invoice is billed below zero (test_credit_model.py): nobody can pay it.
            assert item["billedCents"] < 0 or item["billedCents"] - unreflected >= 0, (
                f"{ref} is credited above its bill"
            )
            for key, credit in credits.items():
                if credit["cents"] > 0:
                    assert credit.get("reversedCents", 0) <= credit["cents"], f"{ref}: {key} reversed above its cents"
                else:
                    reversed_ = credits.get(credit.get("reverses", ""))
                    assert reversed_ is not None, f"{ref}: the reversal {key} takes back no credit"
                seen = self.approved_at.setdefault((ref, key), credit["approvedAt"])
                assert seen == credit["approvedAt"], f"{ref}: the approvedAt of {key} moved"
                credited_by_payment[(credit["paymentId"], ref)] += credit["cents"]
        for ref, key in self.approved_at:
            assert any(
                InvoiceRef(account_number=i["accountNumber"], invoice_number=i["invoiceNumber"]).key == ref
                and key in (i.get("credits") or {})
                for i in items
                if str(i["SK"]).startswith("INVOICE#")
            ), f"the credit {key} on {ref} disappeared"
        for payment_id, item in payment_items.items():
            for line in item["lines"]:
                ref = InvoiceRef(account_number=line["accountNumber"], invoice_number=line["invoiceNumber"]).key
                assert line.get("paidCents", 0) == credited_by_payment.get((payment_id, ref), 0), (
                    f"{payment_id}: paid on {ref} differs from the invoice's credits"
                )
            assert payment_id in self.leaked or int(item["amountPaidCents"]) <= self.charged[payment_id], (
                f"{payment_id}: credited more than Invoice Cloud charged"
            )
            if item["status"] == "CLOSED":
                assert int(item["amountPaidCents"]) == 0, f"{payment_id}: closed, yet it credits money"
        for key in credited_by_payment:
            assert key[0] in payment_items, f"a credit of unknown payment {key[0]}"

    def teardown(self) -> None:
        try:
            if sys.exc_info()[0] is None:  # after a failed step, only clean up
                self._close_the_books()
        finally:
            clock.set_offset(timedelta())

    def _close_the_books(self) -> None:
        """The end of every sequence, as ops end a day: Invoice Cloud's files read, every payment under
        review settled as Invoice Cloud's portal tells (twice: a decision may bring back a reversal
        recorded meanwhile), the files read again, and the books must balance."""
        for _ in range(2):
            self._read_files()
            statuses = self._statuses()
            for payment_id in self._in_order(statuses):
                status = statuses[payment_id][0]
                if status is S.NEEDS_REVIEW:
                    self._settle(payment_id, dismiss=False)
                    self._check_moves(REVIEW_MOVES, "review")
        self._read_files()
        self._check_conservation()
        STATS["books closed"] += 1
        for payment_id, (status, _) in self._statuses().items():
            item = self.fake.get_item(TableName=TABLE, Key=keys.payment_key(payment_id))["Item"]
            reason = item.get("reviewReason", {}).get("S", "")
            STATS[f"closed books: {status.value} {reason if status is S.NEEDS_REVIEW else ''}".rstrip()] += 1


# What a run must have done at least once, so that a model that stopped exploring fails loudly.
MUST_HAPPEN = (
    "start created",
    "pay approved",
    "pay declined",
    "pay part",
    "pay with invoices removed",
    "postback APPLIED",
    "postback DUPLICATE",
    "postback REVIEW",
    "postback INVALID",
    "odd amounts declined",
    "odd amounts approved",
    "payments expired",
    "review settled",
    "review applied with a correction",
    "review dismissed",
    "review settled twice",
    "forged postback refused",
    "billing files",
    "review reason duplicate_payment",
    "file recovered",
    "file matched",
    "file reversed",
    "file seen_before",
    "export rows",
    "result lost, session expired",
    "paid again after a lost result",
    "conservation checked",
    "books closed",
    "conservation: balanced",
    "dispute: charged back",
    "dispute won",
    "refunds after a dismissal",
    "reversal asked: REFUND",
    "household with /",
    "household with a space",
    "household with repeated invoice numbers",
)


@pytest.mark.model
def test_the_money_rules_hold_in_every_sequence(world: World) -> None:
    PaymentModel.world = world
    STATS.clear()
    started = time.monotonic()
    run_state_machine_as_test(
        PaymentModel,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
            database=None,
        ),
    )
    elapsed = time.monotonic() - started
    figures = {
        "sequences": EXAMPLES,
        "maxSteps": STEPS,
        "seconds": round(elapsed, 1),
        "events": dict(sorted(STATS.items())),
    }
    if REPORT:
        with open(REPORT, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)
    missing = (
        [event for event in MUST_HAPPEN if not any(name.startswith(event) for name in STATS)]
        if EXAMPLES >= 1000
        else []
    )
    assert not missing, f"the model never did {missing}: {figures}"
