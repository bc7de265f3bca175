"""HTML of the simulated hosted payment route, built from plain strings.

Every value that reaches a page goes through :func:`_e` (``html.escape`` with quotes), because
names, addresses and invoice numbers come straight from a CPV2 request and a test sends
``<script>`` in them on purpose. The pages need no JavaScript; the one inline handler is the
receipt's print button, whose source is :data:`PRINT_HANDLER` so the app can allow exactly it in
its Content-Security-Policy.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DECLINE_TEXT",
    "PRINT_HANDLER",
    "STEPS",
    "AccountSummary",
    "AmountInput",
    "BillingForm",
    "CustomerAccountView",
    "CustomerInvoiceRow",
    "Frame",
    "IndexRow",
    "InvoiceRow",
    "MethodOffer",
    "PaymentForm",
    "ReceiptLine",
    "ReceiptView",
    "account_page",
    "billing_page",
    "confirmation_number",
    "customer_account_missing_page",
    "customer_account_page",
    "customer_portal_page",
    "expired_page",
    "index_page",
    "invoices_page",
    "not_found_page",
    "payment_page",
    "receipt_page",
]

PRINT_HANDLER = "window.print()"
STEPS: tuple[tuple[str, str], ...] = (
    ("account", "Account"),
    ("invoices", "Invoices"),
    ("billing", "Billing information"),
    ("payment", "Payment"),
    ("receipt", "Receipt"),
)
DECLINE_TEXT = "Your payment was declined. No money was taken. Try another card or bank account."

MethodKind = Literal["CARD", "ACH"]


def _e(value: object) -> str:
    """Escape for both element text and quoted attribute values."""
    return html.escape(str(value), quote=True)


# --------------------------------------------------------------------------- view models


@dataclass(frozen=True)
class Frame:
    """What every page of one session shares."""

    biller_name: str
    session_id: str
    css_url: str = ""
    return_url: str = ""  # the session's ReturnURL: every step links back there

    def step_url(self, step: str) -> str:
        return f"/cloudpayments/{self.session_id}/{step}"


@dataclass(frozen=True)
class AccountSummary:
    account_number: str
    customer_name: str
    invoice_count: int
    total: str


@dataclass(frozen=True)
class InvoiceRow:
    key: str
    account_number: str
    invoice_number: str
    invoice_date: str
    due_date: str
    balance: str
    statement_url: str = ""  # a link to the bill, when the biller sent one


@dataclass(frozen=True)
class AmountInput:
    """The amount field of one invoice that may be part-paid: ``value`` as typed, or the amount chosen."""

    key: str
    account_number: str
    invoice_number: str
    balance: str
    minimum: str  # "" when the invoice has no MinimumAmountDue
    value: str
    error: str | None = None

    @property
    def name(self) -> str:
        return f"amount-{self.key}"


@dataclass(frozen=True)
class BillingForm:
    name: str = ""
    address: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    email: str = ""


@dataclass(frozen=True)
class MethodOffer:
    """One way to pay, with its own convenience fee and total."""

    kind: MethodKind
    amount: str
    fee: str
    total: str


@dataclass(frozen=True)
class ReceiptLine:
    account_number: str
    invoice_number: str
    amount: str


def confirmation_number(payment_guid: str) -> str:
    """The reference a payer reads and quotes, from Invoice Cloud's payment id: its first twelve hex
    digits in three groups ("3F1C-2A4E-9B07"), not the GUID itself."""
    digits = "".join(character for character in payment_guid.upper() if character in "0123456789ABCDEF")[:12]
    return "-".join(digits[index : index + 4] for index in range(0, len(digits), 4)) or payment_guid


@dataclass(frozen=True)
class ReceiptView:
    receipt_number: str
    authorization: str
    paid_at: str
    method: str
    lines: Sequence[ReceiptLine]
    amount: str
    fee: str
    total: str
    payer_name: str
    return_url: str


@dataclass(frozen=True)
class IndexRow:
    session_id: str
    state: str
    created_at: str
    biller_reference: str


@dataclass(frozen=True)
class PaymentForm:
    """What the payment page shows again after an error; never the card or bank account number."""

    method: MethodKind | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    name_on_card: str = ""
    expiry: str = ""
    routing_number: str = ""
    account_type: str = "checking"


# --------------------------------------------------------------------------- pages


def account_page(frame: Frame, accounts: Sequence[AccountSummary], total: str) -> str:
    rows = "".join(
        f"<tr><td data-label='Account'>{_e(account.account_number)}</td>"
        f"<td data-label='Name'>{_e(account.customer_name)}</td>"
        f"<td data-label='Invoices' class='num'>{account.invoice_count}</td>"
        f"<td data-label='Amount owing' class='num'>{_e(account.total)}</td></tr>"
        for account in accounts
    )
    body = f"""
<section class="panel">
  <h1>Your account</h1>
  <p class="lead">You are paying <strong>{_e(frame.biller_name)}</strong>.</p>
  <table class="lines">
    <thead><tr><th scope="col">Account</th><th scope="col">Name</th>
    <th scope="col" class="num">Invoices</th><th scope="col" class="num">Amount owing</th></tr></thead>
    <tbody>{rows}</tbody>
  </table>
  <p class="total">Total amount owing <strong id="total">{_e(total)}</strong></p>
  <form method="post" action="{_e(frame.step_url("account"))}" class="actions">
    <button type="submit" class="primary">Continue</button>
  </form>
</section>"""
    return _layout(frame, "Account", "account", body)


def invoices_page(
    frame: Frame,
    rows: Sequence[InvoiceRow],
    total: str,
    *,
    allow_remove: bool,
    message: str = "",
    amounts: Sequence[AmountInput] = (),
) -> str:
    """The invoices, each removable when allowed; below them, the amount fields of those that may be
    part-paid, in the form that continues (so they work without JavaScript)."""
    remove_header = "<th scope='col'><span class='visually-hidden'>Remove</span></th>" if allow_remove else ""
    body_rows = "".join(_invoice_row(frame, row, allow_remove=allow_remove) for row in rows)
    banner = _banner(message, "error") if any(field.error for field in amounts) else _banner(message, "warning")
    body = f"""
<section class="panel">
  <h1>Invoice details</h1>
  {banner}
  <table class="lines">
    <thead><tr><th scope="col">Account</th><th scope="col">Invoice</th><th scope="col">Invoice date</th>
    <th scope="col">Due date</th><th scope="col" class="num">Balance</th>{remove_header}</tr></thead>
    <tbody>{body_rows}</tbody>
  </table>
  <p class="total">Total to pay <strong id="total">{_e(total)}</strong></p>
  <form method="post" action="{_e(frame.step_url("invoices"))}" novalidate>
    <input type="hidden" name="action" value="continue">
    {_amount_fields(amounts)}
    <div class="actions">
      <a class="button" href="{_e(frame.step_url("account"))}">Back</a>
      <button type="submit" class="primary">Continue to billing information</button>
    </div>
  </form>
</section>"""
    return _layout(frame, "Invoices", "invoices", body)


def _amount_fields(amounts: Sequence[AmountInput]) -> str:
    if not amounts:
        return ""
    fields = "".join(_amount_input(field) for field in amounts)
    return f"""<fieldset class="part-payments">
      <legend>How much would you like to pay?</legend>
      <p class="lead">You can pay part of {"this invoice" if len(amounts) == 1 else "these invoices"} now:
      any amount above $0.00, up to the balance.</p>
      {fields}
    </fieldset>"""


def _amount_input(field: AmountInput) -> str:
    name = field.name
    hint = f"Balance {field.balance}" + (f" · minimum amount due {field.minimum}" if field.minimum else "")
    described = f"{name}-hint" + (f" {name}-error" if field.error else "")
    invalid = ' aria-invalid="true"' if field.error else ""
    return (
        f'<div class="field"><label for="{_e(name)}">Amount to pay on invoice {_e(field.invoice_number)}'
        f" (account {_e(field.account_number)})</label>"
        f'<p class="hint" id="{_e(name)}-hint">{_e(hint)}</p>'
        f'<input id="{_e(name)}" name="{_e(name)}" type="text" inputmode="decimal" value="{_e(field.value)}"'
        f' autocomplete="off" aria-describedby="{_e(described)}"{invalid}>{_field_error(name, field.error)}</div>'
    )


def _invoice_row(frame: Frame, row: InvoiceRow, *, allow_remove: bool) -> str:
    remove_cell = ""
    if allow_remove:
        remove_cell = (
            f"<td class='remove'><form method='post' action='{_e(frame.step_url('invoices'))}'>"
            f"<input type='hidden' name='remove' value='{_e(row.key)}'>"
            f"<button type='submit' class='link' aria-label='Remove invoice {_e(row.invoice_number)}'>Remove</button>"
            "</form></td>"
        )
    return (
        f"<tr><td data-label='Account'>{_e(row.account_number)}</td>"
        f"<td data-label='Invoice'>{_e(row.invoice_number)}{_statement_link(row)}</td>"
        f"<td data-label='Invoice date'>{_e(row.invoice_date)}</td>"
        f"<td data-label='Due date'>{_e(row.due_date)}</td>"
        f"<td data-label='Balance' class='num'>{_e(row.balance)}</td>{remove_cell}</tr>"
    )


def _statement_link(row: InvoiceRow) -> str:
    """The biller's link to the bill (validated as an http(s) URL when the request came in)."""
    if not row.statement_url:
        return ""
    return (
        f" <a class='statement' href='{_e(row.statement_url)}' target='_blank' rel='noopener noreferrer'"
        f" aria-label='View the bill of invoice {_e(row.invoice_number)}'>View bill</a>"
    )


def billing_page(frame: Frame, billing: BillingForm, errors: Mapping[str, str] | None = None) -> str:
    errors = errors or {}
    fields = "".join(
        _text_input(name, label, value, errors.get(name), autocomplete=autocomplete, input_type=input_type)
        for name, label, value, autocomplete, input_type in (
            ("name", "Full name", billing.name, "name", "text"),
            ("address", "Street address", billing.address, "street-address", "text"),
            ("city", "City", billing.city, "address-level2", "text"),
            ("state", "State", billing.state, "address-level1", "text"),
            ("zip", "ZIP code", billing.zip, "postal-code", "text"),
            ("email", "Email for the receipt (optional)", billing.email, "email", "email"),
        )
    )
    summary = _banner("Please correct the fields marked below.", "error") if errors else ""
    body = f"""
<section class="panel">
  <h1>Billing information</h1>
  {summary}
  <form method="post" action="{_e(frame.step_url("billing"))}" novalidate>
    <div class="grid">{fields}</div>
    <div class="actions">
      <a class="button" href="{_e(frame.step_url("invoices"))}">Back</a>
      <button type="submit" class="primary">Continue to payment</button>
    </div>
  </form>
</section>"""
    return _layout(frame, "Billing information", "billing", body)


def payment_page(
    frame: Frame, offers: Sequence[MethodOffer], *, notice: str = "", form: PaymentForm | None = None
) -> str:
    form = form or PaymentForm()
    banner = _banner(notice, "error") if notice else ""
    if form.errors:
        banner += _banner("Please correct the fields marked below.", "error")
    panels = "".join(
        _card_panel(frame, offer, form) if offer.kind == "CARD" else _ach_panel(frame, offer, form) for offer in offers
    )
    body = f"""
<section class="panel">
  <h1>Payment</h1>
  {banner}
  <p class="lead">{_e(fee_text(offers))}</p>
</section>
<div class="methods">{panels}</div>
<section class="panel hints" aria-labelledby="hints-title">
  <h2 id="hints-title">Test details</h2>
  <ul>
    <li>Card <code>4111 1111 1111 1111</code> is approved; <code>4000 0000 0000 0002</code>
    (or any other number) is declined. Any future expiry date and any 3 digit code.</li>
    <li>Bank account: routing number <code>011000015</code> with any account number is approved,
    except account numbers ending in <code>0002</code>, which are declined.</li>
  </ul>
</section>
<p><a href="{_e(frame.step_url("billing"))}">Back to billing information</a></p>"""
    return _layout(frame, "Payment", "payment", body)


def fee_text(offers: Sequence[MethodOffer]) -> str:
    """What the payment page says about the convenience fee, true to the fees offered."""
    fees = {offer.fee for offer in offers}
    if len(offers) < 2:
        only = offers[0] if offers else None
        if only is None or only.fee == "$0.00":
            return "There is no convenience fee."
        return f"A convenience fee of {only.fee} is added to this payment."
    if fees == {"$0.00"}:
        return "Choose how to pay. There is no convenience fee."
    if len(fees) == 1:
        return f"Choose how to pay. The convenience fee is {offers[0].fee} whichever way you pay."
    described = " and ".join(f"{offer.fee} by {'card' if offer.kind == 'CARD' else 'bank account'}" for offer in offers)
    return f"Choose how to pay. The convenience fee depends on the payment method: {described}."


def _card_panel(frame: Frame, offer: MethodOffer, form: PaymentForm) -> str:
    errors = form.errors if form.method == "CARD" else {}
    fields = (
        _text_input("card_number", "Card number", "", errors.get("card_number"), autocomplete="cc-number", numeric=True)
        + _text_input("expiry", "Expiry (MM/YY)", form.expiry, errors.get("expiry"), autocomplete="cc-exp")
        + _text_input("cvv", "Security code (CVV)", "", errors.get("cvv"), autocomplete="cc-csc", numeric=True)
        + _text_input(
            "name_on_card", "Name on card", form.name_on_card, errors.get("name_on_card"), autocomplete="cc-name"
        )
    )
    return _method_panel(frame, offer, "Pay by card", fields, "Pay {total} by card")


def _ach_panel(frame: Frame, offer: MethodOffer, form: PaymentForm) -> str:
    errors = form.errors if form.method == "ACH" else {}
    options = "".join(
        f"<option value='{_e(value)}'{' selected' if form.account_type == value else ''}>{_e(label)}</option>"
        for value, label in (("checking", "Checking"), ("savings", "Savings"))
    )
    type_error = errors.get("account_type")
    fields = (
        _text_input("routing_number", "Routing number", form.routing_number, errors.get("routing_number"), numeric=True)
        + _text_input("account_number", "Account number", "", errors.get("account_number"), numeric=True)
        + "<div class='field'><label for='account_type'>Account type</label>"
        f"<select id='account_type' name='account_type'>{options}</select>"
        f"{_field_error('account_type', type_error)}</div>"
    )
    return _method_panel(frame, offer, "Pay from a bank account (ACH)", fields, "Pay {total} from bank account")


def _method_panel(frame: Frame, offer: MethodOffer, title: str, fields: str, button: str) -> str:
    panel_id = f"method-{offer.kind.lower()}"
    return f"""
<section class="panel method" aria-labelledby="{panel_id}">
  <h2 id="{panel_id}">{_e(title)}</h2>
  <form method="post" action="{_e(frame.step_url("payment"))}" autocomplete="on" novalidate>
    <input type="hidden" name="method" value="{_e(offer.kind)}">
    {fields}
    <dl class="amounts">
      <dt>Invoices</dt><dd>{_e(offer.amount)}</dd>
      <dt>Convenience fee</dt><dd>{_e(offer.fee)}</dd>
      <dt>Total</dt><dd><strong>{_e(offer.total)}</strong></dd>
    </dl>
    <button type="submit" class="primary wide">{_e(button.format(total=offer.total))}</button>
  </form>
</section>"""


def receipt_page(frame: Frame, receipt: ReceiptView) -> str:
    lines = "".join(
        f"<tr><td data-label='Account'>{_e(line.account_number)}</td>"
        f"<td data-label='Invoice'>{_e(line.invoice_number)}</td>"
        f"<td data-label='Amount paid' class='num'>{_e(line.amount)}</td></tr>"
        for line in receipt.lines
    )
    return_link = ""
    if receipt.return_url:
        return_link = (
            f"<a class='button primary' id='return-link' href='{_e(receipt.return_url)}'>"
            f"Return to {_e(frame.biller_name)}</a>"
        )
    body = f"""
<section class="panel receipt">
  <h1><span class="ok" aria-hidden="true">&#10004;</span> Payment successful</h1>
  <p class="lead">Thank you{", " + _e(receipt.payer_name) if receipt.payer_name else ""}.
  Your payment to {_e(frame.biller_name)} was approved.</p>
  <dl class="facts">
    <dt>Confirmation number</dt><dd id="receipt-number" class="code">{_e(receipt.receipt_number)}</dd>
    <dt>Authorization code</dt><dd id="authorization" class="code">{_e(receipt.authorization)}</dd>
    <dt>Date</dt><dd class="when">{_e(receipt.paid_at)}</dd>
    <dt>Payment method</dt><dd>{_e(receipt.method)}</dd>
  </dl>
  <table class="lines">
    <thead><tr><th scope="col">Account</th><th scope="col">Invoice</th>
    <th scope="col" class="num">Amount paid</th></tr></thead>
    <tbody>{lines}</tbody>
  </table>
  <dl class="amounts">
    <dt>Invoices</dt><dd>{_e(receipt.amount)}</dd>
    <dt>Convenience fee</dt><dd>{_e(receipt.fee)}</dd>
    <dt>Total charged</dt><dd><strong>{_e(receipt.total)}</strong></dd>
  </dl>
  <div class="actions no-print">
    <button type="button" onclick="{_e(PRINT_HANDLER)}">Print receipt</button>
    {return_link}
  </div>
</section>"""
    return _layout(frame, "Receipt", "receipt", body)


def expired_page(frame: Frame) -> str:
    body = f"""
<section class="panel">
  <h1>This payment session has expired</h1>
  <p>For your security, payment pages are only open for a limited time. No payment was taken
  in this session after it expired.</p>
  <p>Go back to {_e(frame.biller_name)} and start the payment again.</p>
</section>"""
    return _layout(frame, "Session expired", None, body, back_label=f"Return to {frame.biller_name}")


def not_found_page(biller_name: str) -> str:
    body = """
<section class="panel">
  <h1>Payment page not found</h1>
  <p>This payment link is not valid. Check that you copied the whole link, or start the payment
  again from the biller's website.</p>
</section>"""
    return _layout(Frame(biller_name=biller_name, session_id=""), "Not found", None, body)


def index_page(biller_name: str, rows: Iterable[IndexRow]) -> str:
    body_rows = "".join(
        f"<tr><td data-label='Session'><a href='/cloudpayments/{_e(row.session_id)}'>{_e(row.session_id)}</a></td>"
        f"<td data-label='State'>{_e(row.state)}</td><td data-label='Created'>{_e(row.created_at)}</td>"
        f"<td data-label='Biller reference'>{_e(row.biller_reference)}</td>"
        f"<td data-label='Details'><a href='/_sim/sessions/{_e(row.session_id)}'>JSON</a></td></tr>"
        for row in rows
    )
    if not body_rows:
        body_rows = "<tr><td colspan='5'>No sessions yet. Start a payment from the portal.</td></tr>"
    body = f"""
<section class="panel">
  <h1>Invoice Cloud simulator</h1>
  <p>Recent Cloud Payments V2 sessions, newest first. Control API:
  <a href="/_sim/sessions">/_sim/sessions</a>, <a href="/_sim/config">/_sim/config</a>,
  <a href="/_sim/customers">/_sim/customers</a>.</p>
  <table class="lines">
    <thead><tr><th scope="col">Session</th><th scope="col">State</th><th scope="col">Created</th>
    <th scope="col">Biller reference</th><th scope="col">Details</th></tr></thead>
    <tbody>{body_rows}</tbody>
  </table>
</section>"""
    return _layout(Frame(biller_name=biller_name, session_id=""), "Sessions", None, body)


# --------------------------------------------------------------------------- building blocks


# A padlock drawn inline: an emoji depends on the fonts of the machine showing the page.
_LOCK_ICON = (
    '<svg class="lock" aria-hidden="true" viewBox="0 0 16 16" width="16" height="16">'
    '<path fill="currentColor" d="M4 7V5a4 4 0 1 1 8 0v2h1a1 1 0 0 1 1 1v6a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V8a1 1 0 0 1 '
    '1-1h1zm2 0h4V5a2 2 0 1 0-4 0v2z"/></svg>'
)


def _layout(frame: Frame, title: str, step: str | None, body: str, *, back_label: str = "") -> str:
    """The page around ``body``. Before the receipt (which has its own way back), every page of a session
    with a ReturnURL offers a way back to the biller: the payer is never left with only Back."""
    custom_css = f'<link rel="stylesheet" href="{_e(frame.css_url)}">' if frame.css_url else ""
    steps = _step_indicator(step) if step else ""
    back = ""
    if frame.return_url and step != "receipt":
        label = back_label or f"Cancel and return to {frame.biller_name}"
        back = (
            f'<p class="cancel-row no-print"><a id="cancel-link" href="{_e(frame.return_url)}">{_e(label)}</a>'
            f"{'' if back_label else ' · no money has been taken'}</p>"
        )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{_e(title)} · {_e(frame.biller_name)} · Invoice Cloud</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/ic.css">{custom_css}
</head>
<body>
<div class="ribbon" role="note">Test mode · no real money moves</div>
<header class="topbar">
  <div class="container">
    {_LOCK_ICON}
    <span class="brand">Invoice Cloud</span> · <span>Secure payment for {_e(frame.biller_name)}</span>
  </div>
</header>
<main class="container">
{steps}
{body}
{back}
</main>
<footer class="container footer">
  Simulated Invoice Cloud for local development and tests. Never enter real card data.
</footer>
</body>
</html>
"""


def _step_indicator(current: str) -> str:
    position = [name for name, _ in STEPS].index(current)
    items = []
    for index, (name, label) in enumerate(STEPS):
        state = "done" if index < position else "current" if index == position else "todo"
        aria = ' aria-current="step"' if name == current else ""
        separator = '<span class="sep" aria-hidden="true"> › </span>' if index < len(STEPS) - 1 else ""
        items.append(f'<li class="{state}"{aria}>{_e(label)}{separator}</li>')
    return f'<nav aria-label="Payment steps"><ol class="steps">{"".join(items)}</ol></nav>'


def _banner(message: str, kind: Literal["error", "warning"]) -> str:
    if not message:
        return ""
    role = "alert" if kind == "error" else "status"
    return f'<div class="banner {kind}" role="{role}">{_e(message)}</div>'


def _text_input(
    name: str,
    label: str,
    value: str,
    error: str | None,
    *,
    autocomplete: str = "off",
    input_type: str = "text",
    numeric: bool = False,
) -> str:
    extra = ' inputmode="numeric"' if numeric else ""
    invalid = f' aria-invalid="true" aria-describedby="{name}-error"' if error else ""
    return (
        f'<div class="field"><label for="{_e(name)}">{_e(label)}</label>'
        f'<input id="{_e(name)}" name="{_e(name)}" type="{_e(input_type)}" value="{_e(value)}"'
        f' autocomplete="{_e(autocomplete)}"{extra}{invalid}>{_field_error(name, error)}</div>'
    )


def _field_error(name: str, error: str | None) -> str:
    return f'<p class="field-error" id="{_e(name)}-error">{_e(error)}</p>' if error else ""


# --------------------------------------------------------------------------- customer portal


def customer_portal_page(
    biller_name: str, *, account_number: str = "", login_email: str = "", message: str = "", registered: bool = False
) -> str:
    """Invoice Cloud's customer portal, where the registration email sends a payer to finish registering:
    the payer names the account, the registration value printed on the bill and a login email."""
    if registered:
        body = f"""
<section class="panel">
  <h1><span class="ok" aria-hidden="true">&#10004;</span> You are registered</h1>
  <p class="lead" role="status">Account <strong>{_e(account_number)}</strong> is registered with Invoice Cloud
  for {_e(biller_name)}; your login is <strong>{_e(login_email)}</strong>.</p>
  <p>You can close this page and go back to the {_e(biller_name)} portal.</p>
</section>"""
        return _layout(Frame(biller_name=biller_name, session_id=""), "Registered", None, body)
    banner = _banner(message, "error")
    fields = (
        _text_input("account_number", "Account number", account_number, None, autocomplete="off")
        + _text_input("registration_value", "Registration value (printed on your bill)", "", None)
        + _text_input(
            "login_email", "Email for your login", login_email, None, autocomplete="email", input_type="email"
        )
    )
    body = f"""
<section class="panel">
  <h1>Customer portal</h1>
  <p class="lead">Register with Invoice Cloud to manage your {_e(biller_name)} account: paperless bills,
  AutoPay and your payment history.</p>
  {banner}
  <form method="post" action="/portal/" novalidate>
    {fields}
    <div class="actions"><button type="submit" class="primary">Register</button></div>
  </form>
</section>"""
    return _layout(Frame(biller_name=biller_name, session_id=""), "Customer portal", None, body)


@dataclass(frozen=True)
class CustomerInvoiceRow:
    invoice_number: str
    due_date: str
    balance: str
    due: bool
    paid_here: str  # when the payer paid it on Invoice Cloud's own pages, in words; "" when not


@dataclass(frozen=True)
class CustomerAccountView:
    """An account's bills as Invoice Cloud has them: from the biller's invoice load, or a balance refresh."""

    account_number: str
    rows: tuple[CustomerInvoiceRow, ...]
    total: str
    source: str  # where the balances come from, and when
    failure: str  # why the last balance refresh failed, in words; "" when it did not


def _customer_invoice_row(row: CustomerInvoiceRow) -> str:
    status = "Due" if row.due else "Paid"
    if row.paid_here:
        status += f" (paid here, {_e(row.paid_here)})"
    return (
        f'<tr data-invoice="{_e(row.invoice_number)}">'
        f'<th scope="row" data-label="Invoice">{_e(row.invoice_number)}</th>'
        f'<td data-label="Due date">{_e(row.due_date)}</td>'
        f'<td data-label="Balance" class="num">{_e(row.balance)}</td>'
        f'<td data-label="Status">{status}</td></tr>'
    )


def customer_account_page(biller_name: str, view: CustomerAccountView) -> str:
    """The customer portal's page of one account: each invoice, Due or Paid, and where the balances
    come from (the biller's last invoice load, or a balance refresh)."""
    rows = "".join(_customer_invoice_row(row) for row in view.rows) or "<tr><td colspan='4'>No bills.</td></tr>"
    body = f"""
<section class="panel">
  <h1>Your bills</h1>
  <p class="lead">{_e(biller_name)} account <strong>{_e(view.account_number)}</strong></p>
  {_banner(view.failure, "warning")}
  <table class="lines" id="bills">
    <thead><tr><th scope="col">Invoice</th><th scope="col">Due date</th><th scope="col" class="num">Balance</th>
    <th scope="col">Status</th></tr></thead>
    <tbody>{rows}</tbody>
    <tfoot><tr><th scope="row" colspan="2">Total due</th>
    <td class="num" id="total-due">{_e(view.total)}</td><td></td></tr></tfoot>
  </table>
  <p class="hints" id="balances-source">{_e(view.source)}</p>
</section>"""
    return _layout(Frame(biller_name=biller_name, session_id=""), "Your bills", None, body)


def customer_account_missing_page(biller_name: str, account_number: str) -> str:
    body = f"""
<section class="panel">
  <h1>Account not found</h1>
  <p>Invoice Cloud has no bills of {_e(biller_name)} account {_e(account_number)}.</p>
</section>"""
    return _layout(Frame(biller_name=biller_name, session_id=""), "Not found", None, body)
