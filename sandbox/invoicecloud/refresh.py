"""Invoice Cloud's side of the balance refresh (DESIGN §8): ``POST /_sim/refresh/{accountNumber}`` calls the
biller's endpoint as Invoice Cloud would, with the credential and in the format the biller set up;
``GET /_sim/refresh/{accountNumber}`` shows Invoice Cloud's copy of the account's bills; its customer
portal shows them to the payer (``/portal/accounts/{accountNumber}``), and says when a refresh failed.

Invoice Cloud's public limits are settings (``POST /_sim/config``): ``refreshIntervalHours``, no new
pull within that many hours of a successful one; ``refreshPaidHoldHours``, no refresh of an invoice
paid at Invoice Cloud within that many hours (``POST /_sim/portal-payments`` takes such a payment: the
payer paid on Invoice Cloud's own pages, by AutoPay or by phone). ``refreshWrongCredential`` makes it
call with a credential the biller no longer accepts (its page then says the refresh failed).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from urllib.parse import quote

import requests
from werkzeug.wrappers import Request, Response

from sandbox.invoicecloud import pages
from sandbox.invoicecloud.amounts import dollars, money, parse_amount
from sandbox.invoicecloud.balances import AccountCopy, CopiedInvoice, RefreshState, RefreshTarget
from sandbox.invoicecloud.clock import receipt_time, rfc3339
from sandbox.invoicecloud.config import ControlError
from sandbox.invoicecloud.core import SimulatorCore
from sandbox.invoicecloud.refresh_format import AnswerError, RefreshAnswerFormat, RefreshedAccount
from sandbox.invoicecloud.responses import control_error, html_response, json_response, read_json

__all__ = ["BalanceRefresh"]

logger = logging.getLogger(__name__)

_PAYMENT_FIELDS: Final = frozenset({"accountNumber", "invoiceNumber", "amount"})


class BalanceRefresh(SimulatorCore):
    # ------------------------------------------------------------------ the control API

    def _handle_refresh(self, request: Request, account_number: str) -> Response:
        if request.method == "GET":
            with self._lock:
                if account_number not in self._copies and account_number not in self._refresh_states:
                    error = ControlError(404, "account_not_found", "Invoice Cloud has no bills of that account")
                    return control_error(error)
                return json_response(self._copy_json(account_number))
        try:
            return json_response(self.refresh_account(account_number))
        except ControlError as error:
            return control_error(error)

    def _handle_portal_payment(self, request: Request) -> Response:
        try:
            return json_response(self.take_portal_payment(read_json(request, exact_numbers=True)), 201)
        except ControlError as error:
            return control_error(error)

    def _handle_customer_account(self, request: Request, account_number: str) -> Response:
        with self._lock:
            copy = self._copies.get(account_number)
            if copy is None:
                return html_response(pages.customer_account_missing_page(self.biller_name, account_number), 404)
            state = self._refresh_states.get(account_number, RefreshState())
            zone = self.time_zone
            view = pages.CustomerAccountView(
                account_number=account_number,
                rows=tuple(
                    pages.CustomerInvoiceRow(
                        invoice_number=invoice.invoice_number,
                        due_date=invoice.due_date.strftime("%m/%d/%Y") if invoice.due_date else "",
                        balance=dollars(invoice.balance_due),
                        due=invoice.balance_due > 0,
                        paid_here=receipt_time(invoice.paid_here_at, zone) if invoice.paid_here_at else "",
                    )
                    for invoice in copy.invoices.values()
                ),
                total=dollars(sum((invoice.balance_due for invoice in copy.invoices.values()), Decimal(0))),
                source=(
                    f"Balances refreshed from {self.biller_name} on {receipt_time(copy.as_of, zone)}"
                    if copy.source == "refresh"
                    else f"Balances of the bills {self.biller_name} sent on {receipt_time(copy.as_of, zone)}"
                ),
                failure=(
                    f"Invoice Cloud could not get current balances from {self.biller_name} on "
                    f"{receipt_time(state.last_attempt_at, zone)}: {state.last_failure}. "
                    "The balances below may be out of date."
                    if state.last_failure and state.last_attempt_at
                    else ""
                ),
            )
        return html_response(pages.customer_account_page(self.biller_name, view))

    # ------------------------------------------------------------------ for code in the same process

    def refresh_account(self, account_number: str) -> dict[str, Any]:
        """What ``POST /_sim/refresh/{accountNumber}`` does: pull the account's balances from the biller,
        unless Invoice Cloud's limits say not now. Answers the outcome (``REFRESHED``, ``SKIPPED`` or
        ``FAILED``) with Invoice Cloud's copy afterwards."""
        target = self._refresh_target
        if target is None:
            raise ControlError(409, "refresh_not_configured", "No balance refresh endpoint is set up")
        answer_format = RefreshAnswerFormat.load(target.format_name)
        with self._lock:
            now = self._now()
            interval = timedelta(hours=float(self._config["refreshIntervalHours"]))
            state = self._refresh_states.setdefault(account_number, RefreshState())
            last = state.last_success_at
            if last is not None and now - last < interval:
                return {
                    **self._copy_json(account_number),
                    "outcome": "SKIPPED",
                    "reason": "refreshed_recently",
                    "nextRefreshAt": rfc3339(last + interval),
                }
            if self._config["refreshWrongCredential"]:
                target = dataclasses.replace(target, secret="not-" + target.secret)
        # Outside the lock: the biller's endpoint may take its time (and, in the sandbox, runs in this
        # process's gateway).
        answered, failure, status = self._call_biller(target, answer_format, account_number, now)
        with self._lock:
            state = self._refresh_states.setdefault(account_number, RefreshState())
            state.last_attempt_at = now
            if answered is None:
                state.last_failure = failure
                logger.info("Balance refresh failed (HTTP status %s)", status)
                return {**self._copy_json(account_number), "outcome": "FAILED", "httpStatus": status, "error": failure}
            kept = self._apply(account_number, answered, now)
            state.last_success_at = now
            state.last_failure = None
            logger.info("Balance refresh applied: %d invoices, %d kept as paid here", len(answered.invoices), len(kept))
            return {
                **self._copy_json(account_number),
                "outcome": "REFRESHED",
                "httpStatus": status,
                "keptPaidHere": kept,
            }

    def take_portal_payment(self, body: Any) -> dict[str, Any]:
        """What ``POST /_sim/portal-payments`` does: the payer paid an invoice on Invoice Cloud's own pages
        (or by AutoPay, or by phone), so Invoice Cloud's copy shows it paid and a refresh leaves it alone
        for ``refreshPaidHoldHours``. ``amount`` defaults to all that is due."""
        if not isinstance(body, dict) or set(body) - _PAYMENT_FIELDS:
            raise ControlError(400, "invalid_request", 'Send {"accountNumber", "invoiceNumber", "amount"?}')
        account, number = body.get("accountNumber"), body.get("invoiceNumber")
        if not isinstance(account, str) or not isinstance(number, str):
            raise ControlError(400, "invalid_request", "accountNumber and invoiceNumber are strings")
        with self._lock:
            copy = self._copies.get(account)
            invoice = copy.invoices.get(number) if copy else None
            if invoice is None:
                raise ControlError(404, "invoice_not_found", "Invoice Cloud shows no such invoice on that account")
            amount = parse_amount(body["amount"]) if "amount" in body else invoice.balance_due
            if amount is None or not 0 < amount <= invoice.balance_due:
                raise ControlError(
                    400, "invalid_amount", f"amount must be more than 0 and at most {money(invoice.balance_due)}"
                )
            invoice.balance_due -= amount
            invoice.paid_here_at = self._now()
            return {"accountNumber": account, **invoice.to_json(), "amount": money(amount)}

    def _copy_json(self, account_number: str) -> dict[str, Any]:
        """Invoice Cloud's copy of the account's bills and its refreshes (call with the lock held)."""
        copy = self._copies.get(account_number)
        state = self._refresh_states.get(account_number, RefreshState())
        return {
            "accountNumber": account_number,
            "source": copy.source if copy else None,
            "asOf": rfc3339(copy.as_of) if copy else None,
            **state.to_json(),
            "invoices": [invoice.to_json() for invoice in copy.invoices.values()] if copy else [],
        }

    # ------------------------------------------------------------------ calling the biller

    def _call_biller(
        self, target: RefreshTarget, answer_format: RefreshAnswerFormat, account_number: str, now: datetime
    ) -> tuple[RefreshedAccount | None, str, int | None]:
        """The biller's answer read, or ``None`` with what went wrong (words for the payer's page)."""
        url = target.url_template.replace("{accountNumber}", quote(account_number, safe=""))
        headers = {"Accept": answer_format.media_type, **_credential_headers(target, account_number, now)}
        try:
            response = requests.get(url, headers=headers, timeout=target.timeout_seconds, allow_redirects=False)
        except requests.RequestException:
            return None, "the biller did not answer", None
        status = response.status_code
        if status == 401:
            return None, "the biller refused Invoice Cloud's credential", status
        if status == 404:
            return None, "the biller has no such account", status
        if status != 200:
            return None, f"the biller answered with an error ({status})", status
        if response.headers.get("Content-Type", "").split(";")[0].strip().lower() != answer_format.media_type:
            return None, "the biller's answer is not in the agreed format", status
        try:
            answered = answer_format.read(response.content)
        except AnswerError as error:
            return None, f"the biller's answer could not be read ({error})", status
        if answered.account_number is not None and answered.account_number != account_number:
            return None, "the biller's answer is about another account", status
        return answered, "", status

    def _apply(self, account_number: str, answered: RefreshedAccount, now: datetime) -> list[str]:
        """Replace the copy with the answer, but for invoices paid here within ``refreshPaidHoldHours``,
        which stay as Invoice Cloud has them. Answers those kept (call with the lock held)."""
        hold = timedelta(hours=float(self._config["refreshPaidHoldHours"]))
        old = self._copies.get(account_number)
        previous = old.invoices if old else {}

        def held(invoice: CopiedInvoice | None) -> bool:
            return invoice is not None and invoice.paid_here_at is not None and now - invoice.paid_here_at < hold

        invoices: dict[str, CopiedInvoice] = {}
        kept: list[str] = []
        for line in answered.invoices:
            mine = previous.get(line.invoice_number)
            if held(mine):
                assert mine is not None
                invoices[line.invoice_number] = mine
                kept.append(line.invoice_number)
            else:  # the biller's balance is the truth again, Invoice Cloud's own payment included or not
                invoices[line.invoice_number] = CopiedInvoice(line.invoice_number, line.due_date, line.balance_due)
        for number, mine in previous.items():  # left out of the answer: no longer due, unless held
            if number not in invoices and held(mine):
                invoices[number] = dataclasses.replace(mine)
                kept.append(number)
        self._copies[account_number] = AccountCopy(invoices=invoices, source="refresh", as_of=now)
        return kept


def _credential_headers(target: RefreshTarget, account_number: str, now: datetime) -> dict[str, str]:
    """The credential as the biller's ``IC_REFRESH_AUTH`` asks for it."""
    if target.auth == "basic":
        token = base64.b64encode(f"{target.username}:{target.secret}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}
    if target.auth == "header":
        return {target.header: target.secret}
    # The signature as the biller documents it (avocette.settings.refresh), written here on its own.
    timestamp = str(int(now.timestamp()))
    nonce = secrets.token_urlsafe(18)
    message = f"invoicecloud-refresh\n{account_number}\n{timestamp}\n{nonce}".encode()
    digest = hmac.new(target.secret.encode(), message, hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return {"X-IC-Timestamp": timestamp, "X-IC-Nonce": nonce, "X-IC-Signature": signature}
