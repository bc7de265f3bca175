"""Starting a payment (DESIGN §6a): POST /payments. Only this talks to Invoice Cloud's payment API
and keeps idempotency records; reading payments back is :mod:`avocette.service.payments`, so that the
read-only payments function loads neither (docs/performance.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from avocette import SERVICE_NAME, clock, errors, money
from avocette.api.payments import InvoiceSelection, StartPaymentResponse
from avocette.domain.billing import Account, AccountPayable, Invoice, InvoiceRef, account_payable
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.domain.statements import StatementLink
from avocette.errors import ConfigurationError, InvoiceCloudError, StoreUnavailableError
from avocette.invoicecloud.client import InvoiceCloudClient, get_client
from avocette.invoicecloud.cpv2 import build_payment_request
from avocette.security import KeyRing
from avocette.service.statements import statement_link_token
from avocette.settings.invoicecloud import get_invoice_cloud_secret, get_invoice_cloud_settings
from avocette.settings.ledger import LedgerSettings, get_ledger_settings
from avocette.settings.payments import Cpv2Options, StartSettings, get_cpv2_options, get_start_settings
from avocette.settings.portal import get_biller_time_zone
from avocette.settings.secrets import get_postback_key_ring
from avocette.settings.statements import get_statement_link_key_ring, get_statement_link_settings
from avocette.store import billing as billing_store
from avocette.store import links as links_store
from avocette.store import payments as payments_store
from avocette.store.table import TransactionRaceError

__all__ = ["StartPaymentCommand", "StartPaymentOutcome", "StartRules", "StatementLinking", "start_payment"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

IDEMPOTENCY_EXPIRY_SECONDS = 24 * 60 * 60
_HOLD_ATTEMPTS = 3


class StartPaymentCommand(BaseModel):
    """What POST /payments asks for, with who asks. Only ``sub`` and ``idempotency_key`` key the
    idempotency record; only ``invoices`` is compared when a key comes back."""

    model_config = ConfigDict(frozen=True)

    sub: str
    email: str | None = None  # where a reversal of this payment is reported (a verified address only)
    idempotency_key: str | None = None
    invoices: list[InvoiceSelection]
    postback_base_url: str  # the API's public base URL: of the postback, and of statement links


class StartPaymentOutcome(BaseModel):
    created: bool
    response: StartPaymentResponse


@lru_cache(maxsize=1)
def _idempotency_store(table_name: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table_name)


@dataclass(frozen=True)
class StatementLinking:
    """Signed statement links in the CPV2 request (``IC_STATEMENT_LINKS`` on, DESIGN §6g): the key
    ring that signs them, the invoice field that carries them, and how long each works."""

    key_ring: KeyRing
    field: str
    lifetime: timedelta

    @classmethod
    def from_environment(cls) -> StatementLinking | None:
        """``None`` while links are off (the default): then no key is read."""
        settings = get_statement_link_settings()
        if not settings.ic_statement_links:
            return None
        return cls(
            key_ring=get_statement_link_key_ring(),
            field=settings.ic_statement_link_field,
            lifetime=timedelta(minutes=settings.ic_statement_link_minutes),
        )


@dataclass(frozen=True)
class StartRules:
    """What starting a payment needs, as its handler loaded it: the session and where Invoice Cloud
    sends the payer back, the biller's CPV2 options, the payment page's allowed prefixes, the key ring
    of the postback tokens, the money rules' settings (grace, abandoned sessions), the biller's zone
    (for the payer's words), Invoice Cloud's client (made when first asked) and credentials (read
    before anything is held: a stack without them answers 503 and writes nothing), and the statement
    links to send, if any."""

    start: StartSettings
    cpv2: Cpv2Options
    payment_url_prefixes: tuple[str, ...]
    key_ring: KeyRing
    ledger: LedgerSettings
    time_zone: tzinfo
    client: Callable[[], InvoiceCloudClient] = get_client
    credentials: Callable[[], object] = get_invoice_cloud_secret
    statement_links: StatementLinking | None = None

    @classmethod
    def from_environment(cls) -> StartRules:
        """The settings groups starting a payment reads (each loaded once, and cached, by its module)."""
        return cls(
            start=get_start_settings(),
            cpv2=get_cpv2_options(),
            payment_url_prefixes=get_invoice_cloud_settings().ic_payment_url_prefixes,
            key_ring=get_postback_key_ring(),
            ledger=get_ledger_settings(),
            time_zone=get_biller_time_zone(),
            statement_links=StatementLinking.from_environment(),
        )


def start_payment(
    command: StartPaymentCommand, lambda_context: LambdaContext | None = None, *, rules: StartRules
) -> StartPaymentOutcome:
    """Start (or offer again) a payment session. With an ``Idempotency-Key``, a retry of the same
    request gets the same answer; errors are not remembered, so a failed request can be retried."""
    if not command.idempotency_key:
        return _start_payment(command, rules)
    config = IdempotencyConfig(
        event_key_jmespath="[sub, idempotency_key]",
        payload_validation_jmespath="invoices",
        expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    def start_payment_once(command: StartPaymentCommand) -> StartPaymentOutcome:
        return _start_payment(command, rules)

    guarded = idempotent_function(
        data_keyword_argument="command",
        persistence_store=_idempotency_store(rules.start.idempotency_table_name),
        config=config,
        output_serializer=PydanticSerializer(model=StartPaymentOutcome),
    )(start_payment_once)
    try:
        outcome: StartPaymentOutcome = guarded(command=command)
    except IdempotencyAlreadyInProgressError:
        raise errors.RequestInProgressError() from None
    except IdempotencyValidationError:
        raise errors.IdempotencyKeyReusedError() from None
    except IdempotencyPersistenceLayerError as exc:
        raise StoreUnavailableError("the idempotency table is unavailable") from exc
    return outcome


def _start_payment(command: StartPaymentCommand, rules: StartRules) -> StartPaymentOutcome:
    settings = rules.start
    refs = [selection.ref for selection in command.invoices]

    # One BatchGetItem reads the user's links to these accounts and how many sessions the user left to
    # expire today; the accounts are read only once the user is known to own them.
    reads = billing_store.read_for_payment(command.sub, refs, clock.utc_now())
    ledger_settings = rules.ledger
    _check_caller(command.sub, refs, reads, ledger_settings.abandoned_sessions_per_day, rules.time_zone)
    # Before any invoice is held: without Invoice Cloud's credentials nothing could be paid.
    rules.credentials()

    grace = ledger_settings.payment_session_grace_minutes
    for _attempt in range(_HOLD_ATTEMPTS):
        now = clock.utc_now()
        billed = _read_accounts(refs)
        invoices = billed.invoices
        if len(invoices) != len(refs):
            raise errors.InvoiceNotFoundError()
        holders = {holder for invoice in invoices.values() if (holder := invoice.held_by(now))}
        if holders:
            found = _open_session_of(holders, command.sub, set(refs), now)
            if isinstance(found, StartPaymentOutcome):
                return found
            # A request of this user for these invoices held them and then failed (or died) before
            # recording Invoice Cloud's session: nobody was given a URL, so this one asks again.
            payment = found
            ordered = [invoices[line.ref] for line in payment.lines]
            logger.info("Resuming a payment left without its session", extra={"payment_id": payment.payment_id})
            break
        # What each invoice asks of the payer: its own payable amount less the account's credit
        # balance applied to it (DESIGN §5), never what the browser said.
        if any(billed.payable[ref.account_number].payable_cents(ref) <= 0 for ref in refs):
            raise errors.InvoiceNotPayableError()
        ordered = [invoices[ref] for ref in refs]
        payment = _new_payment(command.sub, ordered, billed.payable, settings.payment_session_minutes, command.email)
        # Invoice Cloud's page may outlive our session: the invoices stay held through the grace,
        # until the expiry job closes the payment (DESIGN §6c).
        hold_until = payment.session_expires_at + timedelta(minutes=grace)
        try:
            payments_store.create_payment(payment, ordered, now, hold_until=hold_until)
            logger.info("Payment created", extra={"payment_id": payment.payment_id, "invoice_count": len(refs)})
            break
        except payments_store.InvoiceHoldConflictError:
            logger.info("Invoice hold raced; reading again", extra={"payment_id": payment.payment_id})
    else:
        raise errors.PaymentInProgressError()

    accounts = billed.accounts
    request = build_payment_request(
        rules.cpv2,
        [
            (
                accounts.get(invoice.account_number) or Account(account_number=invoice.account_number),
                invoice,
                line.due_cents,
            )
            for invoice, line in zip(ordered, payment.lines, strict=True)
        ],
        post_back_url=_postback_url(command.postback_base_url, payment.payment_id, rules.key_ring),
        return_url=settings.portal_return_url.replace("{paymentId}", payment.payment_id),
        biller_reference=payment.payment_id,
        statement_links=_statement_links(ordered, command.postback_base_url, rules.statement_links),
        statement_link_field=rules.statement_links.field if rules.statement_links else None,
    )
    try:
        url = rules.client().start_cloud_payment(request, allowed_url_prefixes=rules.payment_url_prefixes)
    except (InvoiceCloudError, ConfigurationError) as exc:
        metrics.add_metric(name="PaymentStartFailed", unit=MetricUnit.Count, value=1)
        try:
            payments_store.mark_failed(payment, type(exc).__name__, clock.utc_now())
        except (StoreUnavailableError, TransactionRaceError):
            # The holds lapse at the session's expiry; the expiry job finishes the payment.
            logger.warning("Could not mark the payment FAILED", extra={"payment_id": payment.payment_id})
        logger.warning(
            "Payment start failed", extra={"payment_id": payment.payment_id, "error_type": type(exc).__name__}
        )
        raise
    pending = payments_store.mark_pending(payment, url)
    metrics.add_metric(name="PaymentStarted", unit=MetricUnit.Count, value=1)
    logger.info("Payment pending", extra={"payment_id": payment.payment_id, "status": pending.status.value})
    return StartPaymentOutcome(created=True, response=_start_response(pending, url))


@dataclass(frozen=True)
class _Billed:
    """The payment's accounts as stored: their profiles, the invoices asked for, and what each account
    owes on each invoice once its credit balance is applied."""

    accounts: dict[str, Account]
    invoices: dict[InvoiceRef, Invoice]
    payable: dict[str, AccountPayable]


def _read_accounts(refs: list[InvoiceRef]) -> _Billed:
    """Each account of ``refs`` whole (its profile and every invoice, one Query each): its credit
    balance goes to its oldest invoices, whichever of them the payer picked (DESIGN §5)."""
    wanted = set(refs)
    accounts: dict[str, Account] = {}
    invoices: dict[InvoiceRef, Invoice] = {}
    payable: dict[str, AccountPayable] = {}
    for number, (account, stored) in billing_store.get_accounts_with_invoices(r.account_number for r in refs).items():
        if account is not None:
            accounts[number] = account
        invoices.update((invoice.ref, invoice) for invoice in stored if invoice.ref in wanted)
        payable[number] = account_payable(stored)
    return _Billed(accounts=accounts, invoices=invoices, payable=payable)


def _check_caller(
    sub: str, refs: list[InvoiceRef], reads: billing_store.PaymentReads, abandoned_limit: int, zone: tzinfo
) -> None:
    """Ownership first (an unknown invoice and another user's answer alike), then the user's budget of
    sessions left to expire today."""
    if any(ref.account_number not in reads.linked for ref in refs):
        # Only on this refusal: is the user registered at all (403) or not for this account (404)?
        if not links_store.list_links(sub):
            raise errors.RegistrationRequiredError()
        raise errors.InvoiceNotFoundError()
    if reads.abandoned_today >= abandoned_limit:
        raise _too_many_abandoned(zone)


def _too_many_abandoned(zone: tzinfo) -> errors.TooManyAttemptsError:
    """The 429 for a user who left too many sessions to expire today: each held the invoices from the
    others on the account. ``details.retryAt`` is when the (UTC) day turns; the message says it in the
    biller's zone."""
    now = clock.utc_now()
    retry = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    when = clock.local_time(retry, zone)
    return errors.TooManyAttemptsError(
        "You have left several payment sessions unfinished today, and each kept these bills from being paid "
        f"by anyone else on the account. You can start a new payment after {when}.",
        details={"retryAt": clock.timestamp(retry)},
    )


def _new_payment(
    sub: str, invoices: list[Invoice], payable: dict[str, AccountPayable], session_minutes: int, email: str | None
) -> Payment:
    now = clock.utc_now()
    return Payment(
        payment_id=str(uuid.uuid4()),
        sub=sub,
        email=email,
        status=PaymentStatus.CREATED,
        lines=tuple(
            PaymentLine(
                account_number=invoice.account_number,
                invoice_number=invoice.invoice_number,
                due_cents=payable[invoice.account_number].payable_cents(invoice.ref),
                minimum_cents=invoice.minimum_amount_due_cents,
                allow_partial=invoice.allow_partial_payments,
                account_credit_cents=payable[invoice.account_number].applied_to(invoice.ref),
            )
            for invoice in invoices
        ),
        created_at=now,
        session_expires_at=now + timedelta(minutes=session_minutes),
    )


def _postback_url(base_url: str, payment_id: str, key_ring: KeyRing) -> str:
    token = key_ring.postback_token(payment_id)
    # The token goes in the path: Invoice Cloud may add its fields as a query string, and access logs
    # and proxies keep query strings (DESIGN §3).
    return f"{base_url.rstrip('/')}/postback/{payment_id}/{token}"


def _statement_links(invoices: list[Invoice], base_url: str, linking: StatementLinking | None) -> dict[InvoiceRef, str]:
    """A signed, expiring link to each invoice's bill, for the invoices that have one (DESIGN §6g)."""
    if linking is None:
        return {}
    expires_at = clock.utc_now() + linking.lifetime
    return {
        invoice.ref: f"{base_url.rstrip('/')}/statement-links/"
        + statement_link_token(linking.key_ring, StatementLink(ref=invoice.ref, expires_at=expires_at))
        for invoice in invoices
        if invoice.statement_file
    }


def _start_response(payment: Payment, url: str) -> StartPaymentResponse:
    return StartPaymentResponse(
        payment_id=payment.payment_id,
        status="DECLINED" if payment.status is PaymentStatus.DECLINED else "PENDING",
        payment_url=url,
        amount_due=money.cents_to_text(payment.amount_due_cents),
        session_expires_at=payment.session_expires_at,
    )


def _open_session_of(
    holders: set[str], sub: str, refs: set[InvoiceRef], now: datetime
) -> StartPaymentOutcome | Payment:
    """The same user asking for the same invoices while their session is open gets it back; a payment
    of theirs for them still CREATED (its request failed or died between holding the invoices and
    recording the session) is returned to be resumed; any other overlap is a payment in progress.

    Resuming while the first request is in fact still running costs at most a second Invoice Cloud
    session that nobody is shown: :func:`payments_store.mark_pending` records one URL only."""
    if len(holders) == 1:
        payment = payments_store.get_payment(next(iter(holders)))
        if payment is not None and payment.sub == sub and payment.refs == refs and payment.session_open(now):
            if payment.payment_url is None:
                if payment.status is PaymentStatus.CREATED:
                    return payment
                raise errors.PaymentInProgressError()
            logger.info("Open session offered again", extra={"payment_id": payment.payment_id})
            return StartPaymentOutcome(created=False, response=_start_response(payment, payment.payment_url))
    raise errors.PaymentInProgressError()
