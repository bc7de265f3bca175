"""A model of payments over shared invoices, run as a hypothesis state machine (DESIGN §6c).

Two users of one household share two accounts and their four invoices. Random sequences start
payments, play the payer on Invoice Cloud's simulator (pay, decline, remove invoices, pay part,
pay a session that has expired), deliver the postbacks the simulator produced — duplicated,
reordered, some concurrently, reformatted, forged — run the expiry job, settle reviews and import
billing files, under every mode of the simulator for DESIGN §4a's open questions. After every step
the invariants of the money rules must hold:

- each postback identity is applied at most once;
- no invoice is credited above its bill across payments (unless refused to a review);
- the credits on invoices are exactly what the payments' applied postbacks and reviews paid;
- a payment under review applied nothing by itself;
- every change of status is a cell of the §6c table for the event that caused it;
- a credit's approvedAt never moves, and no credit disappears;
- no payment is credited more than Invoice Cloud charged for it.

The service code runs for real (the postback, start, expiry and review use cases) over an in-memory
DynamoDB (tests/fakes/dynamodb.py) and the Invoice Cloud simulator, so that ``make test`` can run
over a thousand sequences in under a minute; ``make soak`` runs many more (``MODEL_EXAMPLES``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
from avocette import clock, config, money, runtime
from avocette.domain import errors
from avocette.domain.billing import Account, Invoice, InvoiceRef
from avocette.domain.payments import InvoiceSelection, PaymentStatus
from avocette.service import expiry, export, postbacks, reconcile, review, starting
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
from requests import PreparedRequest, Response
from requests.adapters import BaseAdapter
from werkzeug.test import Client

from sandbox.invoicecloud import InvoiceCloudSimulator
from sandbox.invoicecloud.config import ControlError
from sandbox.serving import start_server
from sandbox.stack import StackNames, StackSecrets, environment, provision
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
ACCOUNTS = ("A-1", "A-2")
# account, invoice, billed, allows partial payments
BILLS = (
    ("A-1", "I-1", "30.00", False),
    ("A-1", "I-2", "20.00", True),
    ("A-2", "J-1", "40.00", False),
    ("A-2", "J-2", "15.00", True),
)
REFS = tuple(InvoiceRef(account_number=a, invoice_number=i) for a, i, _, _ in BILLS)
BILLED = {ref: money.parse_cents(amount) for ref, (_, _, amount, _) in zip(REFS, BILLS, strict=True)}
PARTIAL = {number: money.parse_cents(amount) for _, number, amount, partial in BILLS if partial}

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
REVIEW_MOVES = {S.NEEDS_REVIEW: {S.APPROVED, S.CLOSED}}


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
        S.NEEDS_REVIEW: set(),
    }
)
START_MOVES = {S.CREATED: {S.PENDING, S.FAILED}}
# A file's rows: recovered approvals (the postback column), reversals (APPROVED -> REVERSED, or
# anything else -> NEEDS_REVIEW), in any number and order.

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
        runtime.reset()
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
        runtime.reset()
        from avocette.invoicecloud.client import CPV2_PATH, get_client
        from avocette.security import KeyRing

        get_client()._session.mount(server.url + CPV2_PATH, InProcess(simulator))  # a test transport

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
            runtime.reset()


class InProcess(BaseAdapter):
    """A requests transport that hands each request to a WSGI app in this process: the Invoice Cloud
    client talks to the simulator without sockets (the model makes thousands of CPV2 calls)."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.client = Client(app)

    def send(self, request: PreparedRequest, **_: Any) -> Response:
        answer = self.client.open(
            str(request.path_url), method=request.method, headers=dict(request.headers), data=request.body
        )
        response = Response()
        response.status_code = answer.status_code
        response.headers.update(answer.headers)
        response._content = answer.get_data()  # how requests stores a body it has read
        response.url = str(request.url)
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        return None


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
        self.exported_through = clock.utc_now().date() - timedelta(days=1)

    # ---- set-up ----------------------------------------------------------------------------------

    @initialize(mode=MODES)
    def setup(self, mode: dict[str, Any]) -> None:
        self.mode = mode
        simulator = self.world.simulator
        simulator.reset()
        modes = {name: value for name, value in mode.items() if name != "settingRight"}
        simulator.update_config({**modes, "dropPostbacks": True, "payExpiredSessions": False})
        includes_fee = mode["feeInAmount"] == mode["settingRight"]
        os.environ["IC_AMOUNT_INCLUDES_FEE"] = "true" if includes_fee else "false"
        config.get_postback_settings.cache_clear()
        for number in ACCOUNTS:
            billing.put_account(Account(account_number=number, name="Household", billed_as_of=AS_OF))
            for user in USERS:
                links.put_link(links.Link(sub=user, account_number=number, linked_at=AS_OF))
        for (account, number, _, partial), ref in zip(BILLS, REFS, strict=True):
            billing.put_invoice(
                Invoice(
                    account_number=account,
                    invoice_number=number,
                    billed_cents=BILLED[ref],
                    billed_as_of=AS_OF,
                    allow_partial_payments=partial,
                    minimum_amount_due_cents=500 if partial else None,
                )
            )
        self.snapshot = self._statuses()

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

    # ---- payers ---------------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), picks=st.lists(st.sampled_from(REFS), min_size=1, max_size=4, unique=True))
    def start(self, user: str, picks: list[InvoiceRef]) -> None:
        command = starting.StartPaymentCommand(
            sub=user,
            invoices=[
                InvoiceSelection(account_number=r.account_number, invoice_number=r.invoice_number) for r in picks
            ],
            postback_base_url="https://api.avocette.test",
        )
        try:
            outcome = starting.start_payment(command)
        except (errors.PaymentInProgressError, errors.InvoiceNotPayableError, errors.RequestInProgressError) as exc:
            STATS[f"start refused {exc.code}"] += 1
            self._check_moves({}, "refused start")
            return
        STATS["start " + ("created" if outcome.created else "offered again")] += 1
        response = outcome.response
        self.sessions[response.payment_id] = response.payment_url.rstrip("/").rsplit("/", 1)[-1]
        self._check_moves(START_MOVES, "start")

    # Draws never depend on the state (which concurrent deliveries make nondeterministic): indices are
    # drawn whole and taken modulo what there is, so that hypothesis can replay and shrink a sequence.

    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        outcome=st.sampled_from(["approve", "approve", "decline"]),
        method=st.sampled_from(["CARD", "ACH"]),
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
        # Mostly the pages still to pay; now and then one already paid (Invoice Cloud refuses it).
        unpaid = sorted(set(self.sessions) - self.paid_sessions)
        candidates = unpaid if unpaid and pick % 5 else sorted(self.sessions)
        if not candidates:
            return
        payment_id = candidates[pick % len(candidates)]
        session = self.sessions[payment_id]
        state = self.world.app.get(f"/_sim/sessions/{session}").get_json()
        numbers = [line["invoiceNumber"] for line in state["invoices"] if not line["removed"]]
        body: dict[str, Any] = {"outcome": outcome, "method": method, "ignoreExpiry": ignore_expiry}
        removed = [number for number, gone in zip(numbers, remove, strict=False) if gone]
        if removed and len(removed) < len(numbers):
            body["removeInvoices"] = removed
        partial = [
            line
            for line in state["invoices"]
            if line["allowPartialPayments"] and not line["removed"] and line["invoiceNumber"] not in removed
        ]
        if partial and part:
            line = partial[part_pick % len(partial)]
            balance = money.parse_cents(line["balanceDue"])
            cents = min(balance, max(500, part_cents % (balance + 1)))
            body["amounts"] = {line["invoiceNumber"]: money.cents_to_text(cents)}
        answer = self.world.app.post(f"/_sim/sessions/{session}/complete", json=body)
        if answer.status_code != 200:
            STATS["pay refused by Invoice Cloud"] += 1
            return  # the session is not open (approved already, or expired): the payer cannot pay
        result = answer.get_json()
        attempt = result["attempt"]
        STATS["pay " + ("approved" if attempt["approved"] else "declined")] += 1
        if attempt["approved"]:
            self.paid_sessions.add(payment_id)
        STATS.update(["pay part"] if "amounts" in body else [])
        STATS.update(["pay after expiry"] if attempt.get("afterExpiry") else [])
        STATS.update(["pay with invoices removed"] if body.get("removeInvoices") else [])
        if attempt["approved"]:
            self.charged[payment_id] += money.parse_cents(attempt["amount"]) + money.parse_cents(attempt["fee"])
        deliveries = [Delivery(payment_id, dict(record["fields"])) for record in result["postbacks"]]
        self.outbox.extend(deliveries)
        if deliver_now:  # as Invoice Cloud usually does, at once; later rules send them again, late, racing
            for delivery in deliveries:
                self._deliver(delivery)
                self._check_moves(POSTBACK_MOVES, "postback")

    # ---- Invoice Cloud's deliveries -------------------------------------------------------------

    def _deliver(self, delivery: Delivery, *, token: str | None = None) -> None:
        token = token if token is not None else self.world.token_ring.postback_token(delivery.payment_id)
        try:
            result = postbacks.receive_postback(
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
            # "credited no more than charged"; the others all are.
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

    # ---- time, expiry, reviews, billing ----------------------------------------------------------

    @rule(
        first_user=st.sampled_from(USERS),
        second_user=st.sampled_from(USERS),
        picks=st.lists(st.sampled_from(REFS), min_size=1, max_size=3, unique=True),
        overlap=st.lists(st.sampled_from(REFS), min_size=1, max_size=3, unique=True),
        old_page_first=st.booleans(),
        together=st.booleans(),
        part_cents=st.one_of(st.none(), st.integers(min_value=500, max_value=2000)),
        remove_first=st.booleans(),
    )
    def two_pages_for_one_bill(
        self,
        *,
        first_user: str,
        second_user: str,
        picks: list[InvoiceRef],
        overlap: list[InvoiceRef],
        old_page_first: bool,
        together: bool,
        part_cents: int | None,
        remove_first: bool,
    ) -> None:
        """The double payment of the money-safety issue, with random parts: a payment's page is left
        open past our session; the expiry frees its invoices; someone in the household starts and
        pays another payment of some of them; the old page is paid too (Invoice Cloud's session
        outlives ours, or the payer ignores that it ended); the postbacks arrive in either order, or
        at once. Money moved twice for the shared invoices: only one payment may credit them."""
        first = self._started(first_user, picks)
        if first is None:
            return
        self.payer_leaves_a_page_open(sorted(self.sessions).index(first))
        second = self._started(second_user, overlap)
        if second is None:
            return
        pages = [(first, True), (second, False)] if old_page_first else [(second, False), (first, True)]
        deliveries: list[Delivery] = []
        for payment_id, old in pages:
            body: dict[str, Any] = {"outcome": "approve", "method": "CARD", "ignoreExpiry": old}
            invoices = [ref.invoice_number for ref in (picks if old else overlap)]
            if remove_first and len(invoices) > 1:  # the payer removes the first invoice on the page
                body["removeInvoices"] = invoices[:1]
            partial = [n for n in invoices[1 if "removeInvoices" in body else 0 :] if n in PARTIAL]
            if part_cents is not None and partial:  # and pays part of one that allows it
                body["amounts"] = {partial[0]: money.cents_to_text(min(part_cents, PARTIAL[partial[0]]))}
            answer = self.world.app.post(f"/_sim/sessions/{self.sessions[payment_id]}/complete", json=body)
            if answer.status_code == 200:
                STATS.update(["pay part"] if "amounts" in body else [])
                STATS.update(["pay with invoices removed"] if "removeInvoices" in body else [])
                result = answer.get_json()
                attempt = result["attempt"]
                self.paid_sessions.add(payment_id)
                self.charged[payment_id] += money.parse_cents(attempt["amount"]) + money.parse_cents(attempt["fee"])
                deliveries += [Delivery(payment_id, dict(record["fields"])) for record in result["postbacks"]]
        self.outbox.extend(deliveries)
        STATS["two pages for one bill"] += 1
        if together:
            self._deliver_all_at_once(deliveries)
            return
        for delivery in deliveries:
            self._deliver(delivery)
            self._check_moves(POSTBACK_MOVES, "postback")

    def _started(self, user: str, picks: list[InvoiceRef]) -> str | None:
        before = set(self.sessions)
        self.start(user=user, picks=picks)
        new = set(self.sessions) - before
        return new.pop() if new else None

    @rule(pick=st.integers(min_value=0, max_value=10**6))
    def payer_leaves_a_page_open(self, pick: int) -> None:
        """A payer walks away from a session's page until our session and grace are over; the expiry
        job frees its invoices. The page may still be open at Invoice Cloud (``sessionMinutes``), or the
        payer may come back and pay it anyway (``ignoreExpiry``)."""
        if not self.sessions:
            return
        payment_id = sorted(self.sessions)[pick % len(self.sessions)]
        item = deserialize(self.fake.get_item(TableName=TABLE, Key=keys.payment_key(payment_id))["Item"])
        until = clock.parse_timestamp(item["sessionExpiresAt"]) + timedelta(minutes=15, seconds=1)
        if until > clock.utc_now():
            clock.set_offset(clock.offset() + (until - clock.utc_now()))
        STATS["payments expired"] += expiry.expire_payments().expired
        self._check_moves(EXPIRY_MOVES, "expiry")

    @rule(minutes=st.sampled_from([1, 10, 31, 46, 60 * 25]), billing_file=st.booleans())
    def time_passes(self, minutes: int, billing_file: bool) -> None:
        """The clock moves; the expiry job runs; sometimes the biller's file arrives."""
        clock.set_offset(clock.offset() + timedelta(minutes=minutes))
        STATS["payments expired"] += expiry.expire_payments().expired
        self._check_moves(EXPIRY_MOVES, "expiry")
        if billing_file:
            self._billing_file_arrives()

    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        apply=st.booleans(),
        proposal=st.integers(min_value=0, max_value=10),
    )
    def settle_a_review(self, pick: int, apply: bool, proposal: int) -> None:
        waiting = sorted(pid for pid, (status, _) in self.snapshot.items() if status is S.NEEDS_REVIEW)
        if not waiting:
            return
        payment_id = waiting[pick % len(waiting)]
        case = review.show_review(payment_id)
        proposals = [candidate.allocation for candidate in case.candidates if candidate.allocation]
        # What ops settle on after asking Invoice Cloud: what it charged on each invoice, less what the
        # payment has already applied there.
        state = self.world.app.get(f"/_sim/sessions/{self.sessions[payment_id]}").get_json()
        charged = Counter[str]()
        for attempt in state["attempts"]:
            if attempt["approved"]:
                for line in attempt["invoices"]:
                    charged[f"{line['accountNumber']}/{line['invoiceNumber']}"] += money.parse_cents(line["amount"])
        told = {
            str(line.ref): charged[str(line.ref)] - line.paid_cents
            for line in case.payment.lines
            if charged[str(line.ref)] > line.paid_cents
        }
        proposals += [told] if told else []
        try:
            if proposals and apply:
                review.apply_review(payment_id, proposals[proposal % len(proposals)], note="model", by="model")
                STATS["review applied"] += 1
                STATS["review settled"] += 1
            else:
                review.dismiss_review(payment_id, note="model", by="model")
                STATS["review dismissed"] += 1
                STATS["review settled"] += 1
        except review.ReviewRefusedError:
            STATS["review refused"] += 1
        self._check_moves(REVIEW_MOVES, "review")

    def _billing_file_arrives(self) -> None:
        """The biller's exports of the days that ended, then its file as of now: each bill less what
        its system has posted, which is what our exports carried at least the settlement lag ago."""
        now = clock.utc_now()
        if now <= self.last_import:
            return
        yesterday = (now - timedelta(days=1)).date()
        while self.exported_through < yesterday:
            self.exported_through += timedelta(days=1)
            STATS["export rows"] += export.export_day(self.exported_through).rows
        self.last_import = now
        invoices = billing.get_invoices(REFS)
        for ref in REFS:
            invoice = invoices[ref]
            posted = sum(
                c.cents
                for c in invoice.credits.values()
                if c.exported_at is not None and c.exported_at + timedelta(hours=LAG_HOURS) < now
            )
            update = invoice.model_copy(update={"billed_cents": BILLED[ref] - posted, "billed_as_of": now})
            billing.update_invoice_from_billing(update, settlement_lag_hours=LAG_HOURS)
        STATS["billing files"] += 1
        self._check_moves({}, "billing file")

    @rule(
        reverse=st.booleans(),
        pick=st.integers(min_value=0, max_value=10**6),
        kind=st.sampled_from(["VOID", "ACH_RETURN", "CHARGEBACK"]),
        part=st.booleans(),
    )
    def invoice_clouds_file_arrives(self, *, reverse: bool, pick: int, kind: str, part: bool) -> None:
        """Invoice Cloud's payment file of today (what it charged, maybe a reversal), reconciled:
        lost postbacks recovered, reversals applied, differences to review."""
        body: dict[str, Any] = {}
        approved = sorted(self.paid_sessions)
        if reverse and approved:
            payment_id = approved[pick % len(approved)]
            state = self.world.app.get(f"/_sim/sessions/{self.sessions[payment_id]}").get_json()
            attempt = next(a for a in state["attempts"] if a["approved"])
            line = attempt["invoices"][pick % len(attempt["invoices"])]
            reversal: dict[str, Any] = {
                "billerReference": payment_id,
                "kind": kind,
                "invoiceNumber": line["invoiceNumber"],
                "accountNumber": line["accountNumber"],
            }
            if part and money.parse_cents(line["amount"]) > 100:
                reversal["amount"] = "1.00"
            body["reversals"] = [reversal]
        try:
            written = self.world.simulator.write_payment_file(body)
        except ControlError:  # that much was reversed already, or nothing was paid there
            written = self.world.simulator.write_payment_file({})
        text = (self.world.simulator.payment_file(written["key"]) or b"").decode("utf-8-sig")
        report = reconcile.reconcile_file(lambda: io.StringIO(text, newline=""), key=written["key"])
        assert report.status.value == "IMPORTED", report.summary()
        assert not report.bad_rows, report.bad_rows
        for name, count in report.counts.model_dump().items():
            STATS[f"file {name}"] += count
        self._check_moves(FILE_MOVES, "payment file", single_event=False)

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
            ref = f"{item['accountNumber']}/{item['invoiceNumber']}"
            credits = item.get("credits") or {}
            unreflected = sum(c["cents"] for c in credits.values() if "reflectedAsOf" not in c)
            assert item["unreflectedCents"] == unreflected, f"{ref}: unreflectedCents out of step"
            assert item["unpaidCents"] == item["billedCents"] - unreflected, f"{ref}: unpaidCents out of step"
            assert item["billedCents"] - unreflected >= 0, f"{ref} is credited above its bill"
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
                f"{i.get('accountNumber')}/{i.get('invoiceNumber')}" == ref and key in (i.get("credits") or {})
                for i in items
            ), f"the credit {key} on {ref} disappeared"
        for payment_id, item in payment_items.items():
            for line in item["lines"]:
                ref = f"{line['accountNumber']}/{line['invoiceNumber']}"
                assert line.get("paidCents", 0) == credited_by_payment.get((payment_id, ref), 0), (
                    f"{payment_id}: paid on {ref} differs from the invoice's credits"
                )
            assert payment_id in self.leaked or int(item["amountPaidCents"]) <= self.charged[payment_id], (
                f"{payment_id}: credited more than Invoice Cloud charged"
            )
        for key in credited_by_payment:
            assert key[0] in payment_items, f"a credit of unknown payment {key[0]}"

    def teardown(self) -> None:
        clock.set_offset(timedelta())


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
    "payments expired",
    "review settled",
    "forged postback refused",
    "billing files",
    "review reason duplicate_payment",
    "file recovered",
    "file matched",
    "file reversed",
    "export rows",
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
    missing = [event for event in MUST_HAPPEN if not STATS[event]] if EXAMPLES >= 1000 else []
    assert not missing, f"the model never did {missing}: {figures}"
