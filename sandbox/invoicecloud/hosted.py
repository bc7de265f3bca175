"""The hosted payment route, ``/cloudpayments/{sessionId}/{step}``: account, invoices, billing, payment, receipt.

Plain HTML forms that work without JavaScript (the pages are in ``pages``); every POST answers with
a redirect to the next step (303) or the same page with its errors (400).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final

from werkzeug.wrappers import Request, Response

from sandbox.invoicecloud import pages
from sandbox.invoicecloud.amounts import dollars, money, parse_amount
from sandbox.invoicecloud.clock import receipt_time
from sandbox.invoicecloud.core import SimulatorCore
from sandbox.invoicecloud.responses import html_response, see_other
from sandbox.invoicecloud.sessions import MethodKind, PaymentMethod, Session, card_brand, method_kind, total
from sandbox.invoicecloud.validation import validate_ach_form, validate_card_form

__all__ = ["APPROVING_CARD", "APPROVING_ROUTING_NUMBER", "DECLINING_ACCOUNT_SUFFIX", "HostedPages"]

APPROVING_CARD: Final = "4111111111111111"
APPROVING_ROUTING_NUMBER: Final = "011000015"
DECLINING_ACCOUNT_SUFFIX: Final = "0002"

_BILLING_FIELDS: Final = ("name", "address", "city", "state", "zip", "email")
_BILLING_LABELS: Final = {
    "name": "Enter the name of the person paying.",
    "address": "Enter the street address.",
    "city": "Enter the city.",
    "state": "Enter the state.",
    "zip": "Enter the ZIP code.",
}

_Step = Callable[[Request, pages.Frame, Session], Response]


class HostedPages(SimulatorCore):
    def _steps(self) -> dict[str, _Step]:
        return {
            "account": self._step_account,
            "invoices": self._step_invoices,
            "billing": self._step_billing,
            "payment": self._step_payment,
            "receipt": self._step_receipt,
        }

    def _handle_hosted(self, request: Request, session_id: str, step: str = "account") -> Response:
        steps = self._steps()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or step not in steps:
                return html_response(pages.not_found_page(self.biller_name), 404)
            frame = pages.Frame(
                self.biller_name, session_id, str(session.request.get("CssUrl", "")), return_url=session.return_url
            )
            refusal = self._may_pay(session)
            if refusal == "APPROVED":
                if step == "receipt" and request.method == "GET":
                    return self._receipt(frame, session)
                return see_other(frame.step_url("receipt"))
            if refusal == "EXPIRED":
                return html_response(pages.expired_page(frame), 410, frame.css_url)
            return steps[step](request, frame, session)

    def _step_account(self, request: Request, frame: pages.Frame, session: Session) -> Response:
        if request.method == "POST":
            return see_other(frame.step_url("invoices"))
        selected = session.selected_lines()
        accounts = []
        for index, customer in enumerate(session.customers()):
            lines = [line for line in selected if line.customer_index == index]
            display = customer.get("DisplayAccountNumber") or customer["AccountNumber"]
            accounts.append(pages.AccountSummary(display, customer.get("Name", ""), len(lines), dollars(total(lines))))
        page = pages.account_page(frame, accounts, dollars(total(selected)))
        return html_response(page, css_url=frame.css_url)

    def _step_invoices(self, request: Request, frame: pages.Frame, session: Session) -> Response:
        message, status = "", 200
        typed: dict[str, str] = {}
        errors: dict[str, str] = {}
        if request.method == "POST":
            if "remove" in request.form:
                refusal = self._remove_lines(session, [request.form["remove"]])
                if refusal is None:
                    return see_other(frame.step_url("invoices"))
                message, status = refusal, 400
            else:
                typed, chosen, errors = self._read_amounts(session, request.form)
                if not errors:
                    session.amounts.update(chosen)
                    return see_other(frame.step_url("billing"))
                message, status = "Please correct the amounts marked below.", 400
        selected = session.selected_lines()
        rows = [
            pages.InvoiceRow(
                line.key,
                line.display_account_number,
                line.invoice_number,
                line.invoice_date,
                line.due_date,
                dollars(line.balance_due),
                line.statement_url,
            )
            for line in selected
        ]
        amounts = [
            pages.AmountInput(
                key=line.key,
                account_number=line.display_account_number,
                invoice_number=line.invoice_number,
                balance=dollars(line.balance_due),
                minimum=dollars(line.effective_minimum) if line.effective_minimum else "",
                value=typed.get(line.key, money(session.amount_for(line))),
                error=errors.get(line.key),
            )
            for line in selected
            if line.part_payable
        ]
        paying = sum((item.amount for item in session.paid_lines()), Decimal(0))
        page = pages.invoices_page(
            frame, rows, dollars(paying), allow_remove=session.allow_remove, message=message, amounts=amounts
        )
        return html_response(page, status, frame.css_url)

    def _read_amounts(
        self, session: Session, form: Mapping[str, str]
    ) -> tuple[dict[str, str], dict[str, Decimal], dict[str, str]]:
        """The part payments posted with "Continue": (typed, chosen, errors), each by line key.

        A field that was not posted leaves that invoice's amount as it was (the balance at first),
        so a client that posts only ``action=continue`` pays in full, as before part payments.
        """
        typed: dict[str, str] = {}
        chosen: dict[str, Decimal] = {}
        errors: dict[str, str] = {}
        enforce = bool(self._config["enforceMinimumAmount"])
        for line in session.selected_lines():
            name = f"amount-{line.key}"
            if not line.part_payable or name not in form:
                continue
            typed[line.key] = form[name]
            amount = parse_amount(form[name])
            problem = (
                "Enter an amount in dollars and cents, like 25.00."
                if amount is None
                else line.amount_problem(amount, enforce_minimum=enforce)
            )
            if problem is not None:
                errors[line.key] = problem
            elif amount is not None:
                chosen[line.key] = amount
        return typed, chosen, errors

    def _step_billing(self, request: Request, frame: pages.Frame, session: Session) -> Response:
        if request.method == "GET":
            return html_response(pages.billing_page(frame, session.billing), css_url=frame.css_url)
        form = pages.BillingForm(**{name: request.form.get(name, "").strip() for name in _BILLING_FIELDS})
        errors = _billing_errors(form)
        if errors:
            return html_response(pages.billing_page(frame, form, errors), 400, frame.css_url)
        session.billing = form
        return see_other(frame.step_url("payment"))

    def _step_payment(self, request: Request, frame: pages.Frame, session: Session) -> Response:
        if request.method == "GET":
            notice, session.notice = session.notice, ""
            return self._payment_page(frame, session, notice=notice)
        kind = method_kind(request.form.get("method", ""))
        if kind is None or not session.allows(kind):
            return self._payment_page(
                frame, session, notice="Choose a payment method offered on this page.", status=400
            )
        method, approved, form = self._read_payment_form(kind, request.form)
        if method is None:
            return self._payment_page(frame, session, form=form, status=400)
        attempt = self._record_attempt(session, method, approved=approved)
        if attempt.approved:
            return see_other(frame.step_url("receipt"))
        session.notice = ("Card declined. " if kind == "CARD" else "Bank account declined. ") + pages.DECLINE_TEXT
        return see_other(frame.step_url("payment"))

    def _step_receipt(self, request: Request, frame: pages.Frame, session: Session) -> Response:
        # Only reached while the session is open, i.e. before an approval: nothing to show yet.
        return see_other(frame.step_url("payment"))

    def _read_payment_form(
        self, kind: MethodKind, form: Mapping[str, str]
    ) -> tuple[PaymentMethod | None, bool, pages.PaymentForm]:
        """Turn the posted fields into a payment method and the test outcome; keep no full numbers."""
        if kind == "CARD":
            card, errors = validate_card_form(form, self._now().date())
            retry = pages.PaymentForm(
                "CARD", errors, name_on_card=form.get("name_on_card", ""), expiry=form.get("expiry", "")
            )
            if card is None:
                return None, False, retry
            method = PaymentMethod("CARD", card_brand(card.number), card.last4)
            return method, card.number == APPROVING_CARD, retry
        ach, errors = validate_ach_form(form)
        retry = pages.PaymentForm(
            "ACH", errors, routing_number=form.get("routing_number", ""), account_type=form.get("account_type", "")
        )
        if ach is None:
            return None, False, retry
        approved = ach.routing_number == APPROVING_ROUTING_NUMBER and not ach.account_number.endswith(
            DECLINING_ACCOUNT_SUFFIX
        )
        return PaymentMethod("ACH", "", ach.last4), approved, retry

    def _payment_page(
        self,
        frame: pages.Frame,
        session: Session,
        *,
        notice: str = "",
        form: pages.PaymentForm | None = None,
        status: int = 200,
    ) -> Response:
        paid = session.paid_lines()
        amount = sum((item.amount for item in paid), Decimal(0))
        offers = []
        for kind in ("CARD", "ACH"):
            if session.allows(kind):
                fee = sum((item.line.fee_for(kind) for item in paid), Decimal(0))
                offers.append(pages.MethodOffer(kind, dollars(amount), dollars(fee), dollars(amount + fee)))
        page = pages.payment_page(frame, offers, notice=notice, form=form)
        return html_response(page, status, frame.css_url)

    def _receipt(self, frame: pages.Frame, session: Session) -> Response:
        attempt = session.approved_attempt()
        if attempt is None:  # callers check the state first; stay safe if one forgets
            return see_other(frame.step_url("payment"))
        receipt = pages.ReceiptView(
            receipt_number=pages.confirmation_number(attempt.payment_guid),
            authorization=attempt.authorization or "",
            paid_at=receipt_time(attempt.at, self.time_zone),
            method=attempt.method.description,
            lines=[
                pages.ReceiptLine(item.line.display_account_number, item.line.invoice_number, dollars(item.amount))
                for item in attempt.paid
            ],
            amount=dollars(attempt.amount),
            fee=dollars(attempt.fee),
            total=dollars(attempt.amount + attempt.fee),
            payer_name=session.billing.name,
            return_url=session.return_url,
        )
        return html_response(pages.receipt_page(frame, receipt), css_url=frame.css_url)


def _billing_errors(form: pages.BillingForm) -> dict[str, str]:
    errors = {name: message for name, message in _BILLING_LABELS.items() if not getattr(form, name)}
    if form.email and ("@" not in form.email or " " in form.email):
        errors["email"] = "Enter an email address like name@example.com, or leave it empty."
    return errors
