"""Registering accounts (DESIGN §6b): prove each account against billing data, link it, ask Invoice
Cloud about its customer record (creating a missing one), and tell the payer what happened.

Linking depends only on the proof; Invoice Cloud's answers only fill the ``invoiceCloud*`` fields.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock, emails
from avocette.config import (
    ConfigurationError,
    Settings,
    get_invoice_cloud_secret,
    get_registration_hash_key,
    get_settings,
)
from avocette.domain import errors
from avocette.domain.billing import Account
from avocette.domain.common import Caller
from avocette.domain.registration import (
    AccountResult,
    IcRecord,
    LinkedAccountView,
    LinkOutcome,
    RegistrationRequest,
    RegistrationResponse,
    RegistrationsView,
    matches,
)
from avocette.email import send_email
from avocette.invoicecloud.client import InvoiceCloudClient, get_client
from avocette.invoicecloud.customers import NewCustomerRecord
from avocette.invoicecloud.errors import InvoiceCloudError
from avocette.store import billing as billing_store
from avocette.store import links as links_store
from avocette.store import ratelimits

__all__ = ["list_registrations", "register_accounts"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

_IC_WORKERS = 8


@dataclass(frozen=True)
class _Proven:
    account_number: str
    account: Account
    registration_value: str  # as the payer typed it; sent to IC only to create a missing record
    newly_linked: bool


@dataclass(frozen=True)
class _IcAnswer:
    record: IcRecord
    registered: bool | None


_UNKNOWN = _IcAnswer(IcRecord.UNKNOWN, None)


def register_accounts(caller: Caller, request: RegistrationRequest) -> RegistrationResponse:
    """POST /registrations. Raises ``EmailUnverifiedError`` (403) and ``TooManyAttemptsError`` (429)."""
    if not caller.email or not caller.email_verified:
        raise errors.EmailUnverifiedError()
    settings = get_settings()
    now = clock.utc_now()
    rejected, proofs = _prove(caller.sub, request, now, settings)
    proven = [
        _Proven(
            account_number=number,
            account=account,
            registration_value=value,
            newly_linked=links_store.create_link(
                links_store.Link(sub=caller.sub, account_number=number, linked_at=now)
            ),
        )
        for number, (account, value) in proofs.items()
    ]
    answers = _ask_invoice_cloud(proven, settings)
    for item in proven:
        registered = answers[item.account_number].registered
        if registered is not None:
            links_store.set_invoice_cloud_registered(caller.sub, item.account_number, registered)

    newly = [item for item in proven if item.newly_linked]
    email_sent = bool(newly) and _send_linked_email(caller.email, newly, answers, settings)
    for item in newly:
        _send_security_notice(item, caller.email, settings, now)

    linked_now = bool(proven) or bool(links_store.list_links(caller.sub))
    results = {
        item.account_number: AccountResult(
            account_number=item.account_number,
            outcome=LinkOutcome.LINKED if item.newly_linked else LinkOutcome.ALREADY_LINKED,
            invoice_cloud_record=answers[item.account_number].record,
            invoice_cloud_registered=answers[item.account_number].registered,
        )
        for item in proven
    }
    results.update(rejected)
    metrics.add_metric(name="AccountsLinked", unit=MetricUnit.Count, value=len(newly))
    metrics.add_metric(name="RegistrationChecksFailed", unit=MetricUnit.Count, value=len(rejected))
    logger.info(
        "Registration processed",
        extra={"linked": len(newly), "already_linked": len(proven) - len(newly), "rejected": len(rejected)},
    )
    return RegistrationResponse(
        status="REGISTERED" if linked_now else "NOT_REGISTERED",
        email_sent=email_sent,
        accounts=[results[account.account_number] for account in request.accounts],
    )


def _prove(
    sub: str, request: RegistrationRequest, now: datetime, settings: Settings
) -> tuple[dict[str, AccountResult], dict[str, tuple[Account, str]]]:
    """Check each account in order, within the failure budgets: (rejected results, proven accounts
    with the value offered). An unknown account and a wrong value are checked, and answered, alike."""
    key = get_registration_hash_key()
    stored = billing_store.get_accounts(account.account_number for account in request.accounts)
    rejected: dict[str, AccountResult] = {}
    proven: dict[str, tuple[Account, str]] = {}
    budget_spent = False
    checked = 0
    for offered in request.accounts:
        number = offered.account_number
        reservation = None
        if not budget_spent:
            reservation = ratelimits.reserve(
                sub,
                number,
                now,
                user_limit=settings.registration_user_failures_per_hour,
                account_limit=settings.registration_account_failures_per_day,
            )
            budget_spent = reservation is None
        if reservation is None:
            rejected[number] = _rejected(number, "rate_limited")
            continue
        checked += 1
        account = stored.get(number)
        # matches() hashes the offered value even for an unknown account: timing tells nothing.
        if matches(key, offered.registration_value, account.registration_hash if account else None) and account:
            ratelimits.release(reservation)
            proven[number] = (account, offered.registration_value)
        else:
            rejected[number] = _rejected(number, "not_found_or_mismatch")
    if budget_spent:
        metrics.add_metric(name="RegistrationRateLimited", unit=MetricUnit.Count, value=1)
        if not checked:
            raise errors.TooManyAttemptsError()
    return rejected, proven


def _rejected(number: str, reason: str) -> AccountResult:
    return AccountResult.model_validate(
        {
            "account_number": number,
            "outcome": LinkOutcome.REJECTED,
            "reason": reason,
            "invoice_cloud_record": IcRecord.UNKNOWN,
            "invoice_cloud_registered": None,
        }
    )


def _ask_invoice_cloud(proven: list[_Proven], settings: Settings) -> dict[str, _IcAnswer]:
    """ViewCustomerRecord for every proven account in parallel, creating missing records, within
    the budget; what did not answer in time (or failed) is UNKNOWN."""
    answers = dict.fromkeys((item.account_number for item in proven), _UNKNOWN)
    if not proven:
        return answers
    budget = settings.registration_ic_budget_seconds
    deadline = time.monotonic() + budget
    # Made here, not in the pool: boto3 (behind the cached secret) creates clients safely from one
    # thread, and every call below then shares one HTTP session.
    client = get_client()
    try:
        get_invoice_cloud_secret()
    except ConfigurationError:
        logger.error("Invoice Cloud secret unusable; records unknown")
        return answers
    pool = ThreadPoolExecutor(max_workers=min(_IC_WORKERS, len(proven)), thread_name_prefix="ic-records")
    try:
        futures: dict[Future[_IcAnswer], str] = {
            pool.submit(_customer_record, client, item, deadline, settings.ic_missing_record_fault): item.account_number
            for item in proven
        }
        done, _ = wait(futures, timeout=budget)
        for future in done:
            answers[futures[future]] = future.result()
    finally:
        # Calls still running end by themselves at the deadline; the answer does not wait for them.
        pool.shutdown(wait=False, cancel_futures=True)
    unknown = sum(answer.record is IcRecord.UNKNOWN for answer in answers.values())
    if unknown:
        metrics.add_metric(name="InvoiceCloudRecordUnknown", unit=MetricUnit.Count, value=unknown)
    return answers


def _customer_record(client: InvoiceCloudClient, item: _Proven, deadline: float, missing_fault: str) -> _IcAnswer:
    try:
        record = client.view_customer_record(
            item.account_number, missing_fault=missing_fault, deadline_seconds=deadline - time.monotonic()
        )
        if record is not None:
            return _IcAnswer(IcRecord.EXISTING, record.registered)
        account = item.account
        client.create_customer_record(
            NewCustomerRecord(
                account_number=item.account_number,
                customer_name=account.name,
                address1=account.address,
                city=account.city,
                state=account.state,
                zip=account.zip,
                email_address=account.email,
                registration_value=item.registration_value,
            ),
            deadline_seconds=deadline - time.monotonic(),
        )
    except InvoiceCloudError as exc:
        logger.warning(
            "Invoice Cloud customer record unknown",
            extra={"account_number": item.account_number, "error_type": type(exc).__name__},
        )
        return _UNKNOWN
    logger.info("Invoice Cloud customer record created", extra={"account_number": item.account_number})
    return _IcAnswer(IcRecord.CREATED, False)


def _send_linked_email(to: str, newly: list[_Proven], answers: dict[str, _IcAnswer], settings: Settings) -> bool:
    subject, body = emails.registration_email(
        biller_name=settings.biller_name,
        linked=[item.account_number for item in newly],
        unregistered=[item.account_number for item in newly if answers[item.account_number].registered is not True],
        ic_portal_url=settings.ic_customer_portal_url,
    )
    return send_email(to=to, subject=subject, body=body, purpose="accounts_linked")


def _send_security_notice(item: _Proven, caller_email: str, settings: Settings, now: datetime) -> None:
    """The account's billing email on file, when it is not the caller's, hears of the new link."""
    on_file = item.account.email.strip()
    if not on_file or on_file.lower() == caller_email.strip().lower():
        return
    subject, body = emails.security_notice(
        biller_name=settings.biller_name, account_number=item.account_number, linked_at=now
    )
    send_email(to=on_file, subject=subject, body=body, purpose="security_notice")


def list_registrations(sub: str) -> RegistrationsView:
    """GET /registrations: the user's linked accounts, oldest link first."""
    links = sorted(links_store.list_links(sub).values(), key=lambda link: (link.linked_at, link.account_number))
    return RegistrationsView(
        status="REGISTERED" if links else "NOT_REGISTERED",
        accounts=[
            LinkedAccountView(
                account_number=link.account_number,
                linked_at=link.linked_at,
                invoice_cloud_registered=link.invoice_cloud_registered,
            )
            for link in links
        ],
    )
