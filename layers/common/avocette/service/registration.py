"""Registering accounts (DESIGN §6b): prove each account against billing data, link it, ask Invoice
Cloud about its customer record (creating a missing one), and tell the payer what happened.

Linking depends only on the proof; Invoice Cloud's answers only fill the ``invoiceCloud*`` fields.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock, errors
from avocette.api.registrations import (
    AccountResult,
    IcRecord,
    LinkedAccountView,
    LinkOutcome,
    RegistrationRequest,
    RegistrationResponse,
    RegistrationsView,
)
from avocette.domain.billing import Account
from avocette.domain.changes import (
    ChangeEvent,
    ChangeKind,
    InvoiceCloudStatus,
    invoice_cloud_changes,
    portal_user_ref,
)
from avocette.domain.common import Caller
from avocette.domain.registration import matches
from avocette.errors import ConfigurationError, InvoiceCloudError
from avocette.invoicecloud.client import InvoiceCloudClient, get_client
from avocette.invoicecloud.customers import NewCustomerRecord
from avocette.mail import templates as emails
from avocette.mail.send import send_email
from avocette.security import account_hash
from avocette.settings.invoicecloud import InvoiceCloudSettings, get_invoice_cloud_secret, get_invoice_cloud_settings
from avocette.settings.portal import PortalSettings, get_portal_settings
from avocette.settings.registration import RegistrationSettings, get_registration_hash_key, get_registration_settings
from avocette.store import changes as changes_store
from avocette.store import links as links_store
from avocette.store import ratelimits
from avocette.store import registrations as registrations_store
from avocette.store.table import TransactionRaceError, transact

__all__ = [
    "RegistrationRules",
    "list_registrations",
    "register_accounts",
    "unlink_account",
]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()


@dataclass(frozen=True)
class RegistrationRules:
    """What a registration needs, as its handler loaded it: the budgets, the portal's words, Invoice
    Cloud's addresses, the registration values' hash key, and Invoice Cloud's client and credentials
    (loaded when asked: an unusable secret leaves the records unknown, never the registration undone)."""

    registration: RegistrationSettings
    portal: PortalSettings
    invoice_cloud: InvoiceCloudSettings
    hash_key: Callable[[], bytes]
    ic_secret: Callable[[], object]
    client: Callable[[], InvoiceCloudClient] = get_client

    @classmethod
    def from_environment(cls) -> RegistrationRules:
        """The settings groups a registration reads (each loaded once, and cached, by its module)."""
        return cls(
            registration=get_registration_settings(),
            portal=get_portal_settings(),
            invoice_cloud=get_invoice_cloud_settings(),
            hash_key=get_registration_hash_key,
            ic_secret=get_invoice_cloud_secret,
        )


_IC_WORKERS = 8


@dataclass(frozen=True)
class _Proven:
    account_number: str
    account: Account
    registration_value: str  # as the payer typed it; sent to IC only to create a missing record
    newly_linked: bool
    account_hash: str  # what logs name the account by, never its number (docs/security.md)
    ic_status: InvoiceCloudStatus | None = None  # what we knew of it at Invoice Cloud (DESIGN §6g)


@dataclass(frozen=True)
class _IcAnswer:
    record: IcRecord
    registered: bool | None


_UNKNOWN = _IcAnswer(IcRecord.UNKNOWN, None)


def register_accounts(
    caller: Caller, request: RegistrationRequest, *, rules: RegistrationRules
) -> RegistrationResponse:
    """POST /registrations. Raises ``EmailUnverifiedError`` (403) and ``TooManyAttemptsError`` (429)."""
    if not caller.email or not caller.email_verified:
        raise errors.EmailUnverifiedError()
    settings = rules
    now = clock.utc_now()
    rejected, proven = _prove_and_link(caller.sub, request, now, settings)
    answers = _ask_invoice_cloud(proven, now, settings)
    for item in proven:
        registered = answers[item.account_number].registered
        if registered is not None:
            links_store.set_invoice_cloud_registered(caller.sub, item.account_number, registered, now)

    newly = [item for item in proven if item.newly_linked]
    email_sent = bool(newly) and _send_linked_email(caller.email, newly, answers, settings)
    for item in newly:
        _send_security_notice(item, caller.email, settings, now)
    # Last, so that a store failing here (503) has linked and emailed already: the payer's retry finds
    # the links made, and logs what Invoice Cloud said then (the status remembers what is left to log).
    _log_invoice_cloud_changes(proven, answers, now, settings)

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


_RECORD_ATTEMPTS = 4


def _prove_and_link(
    sub: str, request: RegistrationRequest, now: datetime, settings: RegistrationRules
) -> tuple[dict[str, AccountResult], list[_Proven]]:
    """Check each account in order, within the failure budgets, and link the proven ones: (rejected
    results, proven accounts). An unknown account and a wrong value are checked, and answered, alike.

    One BatchGetItem reads the accounts, the user's links to them, the budgets and what we knew of them
    at Invoice Cloud (:mod:`avocette.store.registrations`); one transaction
    records the failures and makes the links, at the budgets read (see :mod:`avocette.store.ratelimits`).
    When another request of this user moved the budgets meanwhile, everything is read and checked again:
    no result is answered that was checked against a budget that was not the current one."""
    key = settings.hash_key()
    budgets = settings.registration
    numbers = [account.account_number for account in request.accounts]
    offered = {account.account_number: account.registration_value for account in request.accounts}
    for attempt in range(_RECORD_ATTEMPTS):
        state = registrations_store.read_registration_state(sub, numbers, now)
        stored, linked, ic_statuses, budget = state.accounts, state.linked, state.invoice_cloud, state.budget
        granted, refused = budget.grant(
            numbers,
            user_limit=budgets.registration_user_failures_per_hour,
            account_limit=budgets.registration_account_failures_per_day,
        )
        if refused:
            metrics.add_metric(name="RegistrationRateLimited", unit=MetricUnit.Count, value=1)
            if not granted:
                raise _too_many_attempts(budget, numbers, settings)
        rejected: dict[str, AccountResult] = {number: _rejected(number, "rate_limited") for number in refused}
        proven: list[_Proven] = []
        for number in granted:
            account = stored.get(number)
            # matches() hashes the offered value even for an unknown account: timing tells nothing.
            if matches(key, offered[number], account.registration_hash if account else None) and account:
                proven.append(
                    _Proven(
                        number,
                        account,
                        offered[number],
                        newly_linked=number not in linked,
                        account_hash=account_hash(key, number),
                        ic_status=ic_statuses.get(number),
                    )
                )
            else:
                rejected[number] = _rejected(number, "not_found_or_mismatch")
        failed = [number for number in granted if number in rejected]
        writes = budget.writes(
            failed,
            [item.account_number for item in proven],
            account_limit=budgets.registration_account_failures_per_day,
        )
        for item in proven:
            if item.newly_linked:
                link = links_store.Link(
                    sub=sub,
                    account_number=item.account_number,
                    linked_at=now,
                    proof_hash=item.account.registration_hash,
                )
                writes.append(links_store.new_link_put(link))
                event = ChangeEvent.recorded(
                    ChangeKind.LINKED,
                    item.account_number,
                    at=now,
                    zone=settings.portal.time_zone,
                    event_id=uuid.uuid4().hex,
                    portal_user=portal_user_ref(key, sub),
                )
                writes.append(changes_store.put_change(event))
            else:
                writes.append(links_store.link_exists_check(sub, item.account_number))
        try:
            transact(writes)
        except TransactionRaceError:
            if attempt == _RECORD_ATTEMPTS - 1:
                raise
            logger.info("Registration budgets or links moved; reading again")
            continue
        return rejected, proven
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


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


def _ask_invoice_cloud(proven: list[_Proven], now: datetime, settings: RegistrationRules) -> dict[str, _IcAnswer]:
    """ViewCustomerRecord for every proven account in parallel, creating missing records, within
    the budget; what did not answer in time (or failed) is UNKNOWN."""
    answers = dict.fromkeys((item.account_number for item in proven), _UNKNOWN)
    if not proven:
        return answers
    budget = settings.registration.registration_ic_budget_seconds
    deadline = time.monotonic() + budget
    # Made here, not in the pool: boto3 (behind the cached secret) creates clients safely from one
    # thread, and every call below then shares one HTTP session.
    client = settings.client()
    try:
        settings.ic_secret()
    except ConfigurationError:
        logger.error("Invoice Cloud secret unusable; records unknown")
        return answers
    pool = ThreadPoolExecutor(max_workers=min(_IC_WORKERS, len(proven)), thread_name_prefix="ic-records")
    try:
        futures: dict[Future[_IcAnswer], str] = {
            pool.submit(
                _customer_record, client, item, deadline, settings.invoice_cloud.ic_missing_record_fault, now
            ): item.account_number
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


def _customer_record(
    client: InvoiceCloudClient, item: _Proven, deadline: float, missing_fault: str, now: datetime
) -> _IcAnswer:
    try:
        record = client.view_customer_record(
            item.account_number, missing_fault=missing_fault, deadline_seconds=deadline - time.monotonic()
        )
        if record is not None:
            return _IcAnswer(IcRecord.EXISTING, record.registered)
        # Remembered first: should the creation's answer, or its logging, be lost, the next look at the
        # record still logs it for the biller (DESIGN §6g). Not remembered, not created: the store's
        # failure is the request's (503), and the payer's retry creates it.
        changes_store.mark_create_requested(item.account_number, now)
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
            extra={"account_hash": item.account_hash, "error_type": type(exc).__name__},
        )
        return _UNKNOWN
    logger.info("Invoice Cloud customer record created", extra={"account_hash": item.account_hash})
    return _IcAnswer(IcRecord.CREATED, False)


def _log_invoice_cloud_changes(
    proven: list[_Proven], answers: dict[str, _IcAnswer], now: datetime, settings: RegistrationRules
) -> None:
    """What Invoice Cloud's answers changed, for the biller's change log (DESIGN §6g): a record we
    created (now, or by a request whose answer was lost), a registration seen for the first time
    (each an event, once, by a conditional write), a registration seen gone (remembered only)."""
    for item in proven:
        answer = answers[item.account_number]
        found = invoice_cloud_changes(
            item.ic_status,
            record_exists=answer.record is not IcRecord.UNKNOWN,
            created_now=answer.record is IcRecord.CREATED,
            registered=answer.registered,
        )
        if found.record_created:
            changes_store.record_created(_ic_event(ChangeKind.IC_RECORD_CREATED, item, now, settings))
        if found.registration_seen:
            changes_store.registration_seen(_ic_event(ChangeKind.IC_REGISTRATION_SEEN, item, now, settings))
        elif found.registration_gone:
            changes_store.mark_registration_gone(item.account_number)


def _ic_event(kind: ChangeKind, item: _Proven, now: datetime, settings: RegistrationRules) -> ChangeEvent:
    return ChangeEvent.recorded(
        kind, item.account_number, at=now, zone=settings.portal.time_zone, event_id=uuid.uuid4().hex
    )


def _send_linked_email(
    to: str, newly: list[_Proven], answers: dict[str, _IcAnswer], settings: RegistrationRules
) -> bool:
    subject, body = emails.registration_email(
        biller_name=settings.portal.biller_name,
        linked=[item.account_number for item in newly],
        unregistered=[item.account_number for item in newly if answers[item.account_number].registered is not True],
        ic_portal_url=settings.portal.ic_customer_portal_url,
    )
    return send_email(sender=settings.portal.sender_email, to=to, subject=subject, body=body, purpose="accounts_linked")


def _send_security_notice(item: _Proven, caller_email: str, settings: RegistrationRules, now: datetime) -> None:
    """The account's billing email on file, when it is not the caller's, hears of the new link."""
    on_file = item.account.email.strip()
    if not on_file or on_file.lower() == caller_email.strip().lower():
        return
    subject, body = emails.security_notice(
        biller_name=settings.portal.biller_name, account_number=item.account_number, linked_at=now
    )
    send_email(sender=settings.portal.sender_email, to=on_file, subject=subject, body=body, purpose="security_notice")


def list_registrations(sub: str, *, rules: RegistrationRules) -> RegistrationsView:
    """GET /registrations: the user's linked accounts, oldest link first.

    A payer may register at Invoice Cloud after linking here: each link Invoice Cloud has not been
    seen to call registered is asked about again, at most every ``REGISTRATION_IC_RECHECK_SECONDS``
    (per link; only those links, in parallel, within ``REGISTRATION_IC_BUDGET_SECONDS``). What it
    says is remembered on the link and, when it changes what we knew, told to the biller's change
    log (``IC_REGISTRATION_SEEN``, DESIGN §6g). When Invoice Cloud does not answer, the link keeps
    what was known and the listing says its registration is unknown (``null``): never a 5xx."""
    now = clock.utc_now()
    links = sorted(links_store.list_links(sub).values(), key=lambda link: (link.linked_at, link.account_number))
    interval = timedelta(seconds=rules.registration.registration_ic_recheck_seconds)
    due = [
        link.account_number
        for link in links
        if link.invoice_cloud_registered is not True
        and (link.invoice_cloud_checked_at is None or now - link.invoice_cloud_checked_at >= interval)
    ]
    rechecked = _recheck_invoice_cloud(due, rules) if due else {}
    _record_rechecks(sub, rechecked, now, rules)
    return RegistrationsView(
        status="REGISTERED" if links else "NOT_REGISTERED",
        accounts=[
            LinkedAccountView(
                account_number=link.account_number,
                linked_at=link.linked_at,
                invoice_cloud_registered=(
                    rechecked[link.account_number].registered
                    if link.account_number in rechecked
                    else link.invoice_cloud_registered
                ),
            )
            for link in links
        ],
    )


@dataclass(frozen=True)
class _Recheck:
    record_exists: bool
    registered: bool | None  # None: Invoice Cloud did not answer


_NO_ANSWER = _Recheck(record_exists=False, registered=None)


def _recheck_invoice_cloud(numbers: list[str], rules: RegistrationRules) -> dict[str, _Recheck]:
    """ViewCustomerRecord for each account, in parallel within the budget; no answer is ``_NO_ANSWER``.
    Nothing is created here: a missing record is not registered."""
    answers = dict.fromkeys(numbers, _NO_ANSWER)
    key = rules.hash_key()  # for the logs; loaded before the budget starts
    budget = rules.registration.registration_ic_budget_seconds
    deadline = time.monotonic() + budget
    client = rules.client()
    try:
        rules.ic_secret()
    except ConfigurationError:
        logger.error("Invoice Cloud secret unusable; registrations unknown")
        return answers
    missing_fault = rules.invoice_cloud.ic_missing_record_fault

    def ask(number: str) -> _Recheck:
        try:
            record = client.view_customer_record(
                number, missing_fault=missing_fault, deadline_seconds=deadline - time.monotonic()
            )
        except InvoiceCloudError as exc:
            logger.warning(
                "Invoice Cloud registration unknown",
                extra={"account_hash": account_hash(key, number), "error_type": type(exc).__name__},
            )
            return _NO_ANSWER
        if record is None:
            return _Recheck(record_exists=False, registered=False)
        return _Recheck(record_exists=True, registered=record.registered)

    pool = ThreadPoolExecutor(max_workers=min(_IC_WORKERS, len(numbers)), thread_name_prefix="ic-recheck")
    try:
        futures = {pool.submit(ask, number): number for number in numbers}
        done, _ = wait(futures, timeout=budget)
        for future in done:
            answers[futures[future]] = future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    unknown = sum(answer.registered is None for answer in answers.values())
    if unknown:
        metrics.add_metric(name="InvoiceCloudRegistrationUnknown", unit=MetricUnit.Count, value=unknown)
    return answers


def _record_rechecks(sub: str, rechecked: dict[str, _Recheck], now: datetime, rules: RegistrationRules) -> None:
    """Invoice Cloud's answers: first the biller's events (what they change of what we knew, each
    once by a conditional write), then the link. Should the link's update be lost, the next listing
    asks again and finds the event written already."""
    answered = {number: answer for number, answer in rechecked.items() if answer.registered is not None}
    if not answered:
        return
    known = registrations_store.read_invoice_cloud_statuses(sorted(answered))
    zone = rules.portal.time_zone
    for number, answer in answered.items():
        found = invoice_cloud_changes(
            known.get(number), record_exists=answer.record_exists, created_now=False, registered=answer.registered
        )
        if found.record_created:
            changes_store.record_created(_recheck_event(ChangeKind.IC_RECORD_CREATED, number, now, zone))
        if found.registration_seen:
            changes_store.registration_seen(_recheck_event(ChangeKind.IC_REGISTRATION_SEEN, number, now, zone))
            metrics.add_metric(name="InvoiceCloudRegistrationsSeen", unit=MetricUnit.Count, value=1)
        elif found.registration_gone:
            changes_store.mark_registration_gone(number)
        links_store.set_invoice_cloud_registered(sub, number, bool(answer.registered), now)


def _recheck_event(kind: ChangeKind, number: str, now: datetime, zone: tzinfo) -> ChangeEvent:
    return ChangeEvent.recorded(kind, number, at=now, zone=zone, event_id=uuid.uuid4().hex)


def unlink_account(sub: str, account_number: str, *, time_zone: tzinfo, hash_key: Callable[[], bytes]) -> None:
    """DELETE /registrations/{accountNumber}: the caller's own link goes, with its event for the
    biller's change log (DESIGN §6g, in the biller's ``time_zone``, the user named by a keyed hash);
    other users' links stay. Raises ``AccountNotFoundError`` (404) when the caller has no such link,
    whoever else does."""
    event = ChangeEvent.recorded(
        ChangeKind.UNLINKED,
        account_number,
        at=clock.utc_now(),
        zone=time_zone,
        event_id=uuid.uuid4().hex,
        portal_user=portal_user_ref(hash_key(), sub),
    )
    if not links_store.delete_link(sub, account_number, event):
        raise errors.AccountNotFoundError()
    metrics.add_metric(name="AccountsUnlinked", unit=MetricUnit.Count, value=1)
    logger.info("Account unlinked")


def _too_many_attempts(
    budget: ratelimits.Budget, numbers: list[str], settings: RegistrationRules
) -> errors.TooManyAttemptsError:
    """The 429, saying when a check may be tried again (``details.retryAt``, RFC 3339 UTC; the message
    in the biller's zone): when enough of the user's failures have left the sliding hour for one more,
    and, when every account asked for has spent its daily budget, when the (UTC) day turns."""
    budgets = settings.registration
    retry = budget.now
    failures = sorted(budget.log)
    if len(failures) >= budgets.registration_user_failures_per_hour:
        oldest_to_leave = failures[len(failures) - budgets.registration_user_failures_per_hour]
        retry = max(retry, datetime.fromtimestamp(oldest_to_leave, UTC) + ratelimits.HOUR)
    limit = budgets.registration_account_failures_per_day
    if all(budget.account_failures.get(number, 0) >= limit for number in numbers):
        next_day = (budget.now.astimezone(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        retry = max(retry, next_day)
    retry = retry.replace(microsecond=0) + timedelta(seconds=1)
    when = clock.local_time(retry, settings.portal.time_zone)
    return errors.TooManyAttemptsError(
        f"Too many unsuccessful attempts. Please try again after {when}.",
        details={"retryAt": clock.timestamp(retry)},
    )
