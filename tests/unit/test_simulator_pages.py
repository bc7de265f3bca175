"""The simulator's payer-facing pages: a way back to the biller on every step, a fee text true to the
fees offered, times in the biller's zone, and the customer portal the registration email links to."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from werkzeug.test import Client

from sandbox.invoicecloud import InvoiceCloudSimulator, pages
from sandbox.invoicecloud.clock import receipt_time
from sandbox.invoicecloud.customers import CustomerRecord

RETURN_URL = "https://portal.example.com/#/return/pay-1?x=<y>"
FRAME = pages.Frame("Avocette Utilities", "abc123", return_url=RETURN_URL)
CANCEL = '<a id="cancel-link" href="https://portal.example.com/#/return/pay-1?x=&lt;y&gt;">'
CARD = pages.MethodOffer("CARD", "$40.75", "$1.00", "$41.75")
ACH = pages.MethodOffer("ACH", "$40.75", "$0.50", "$41.25")


def _receipt(frame: pages.Frame) -> str:
    view = pages.ReceiptView(
        receipt_number="g-1",
        authorization="APPROVED 1",
        paid_at="Nov 25, 2026, 2:25 PM EST",
        method="Visa ending in 1111",
        lines=[pages.ReceiptLine("ACCT-1001", "INV-1001-1", "$10.00")],
        amount="$10.00",
        fee="$1.00",
        total="$11.00",
        payer_name="Alice",
        return_url=RETURN_URL,
    )
    return pages.receipt_page(frame, view)


@pytest.mark.parametrize(
    "page",
    [
        pages.account_page(FRAME, [pages.AccountSummary("ACCT-1001", "Alice", 1, "$10.00")], "$10.00"),
        pages.invoices_page(FRAME, [], "$0.00", allow_remove=True),
        pages.billing_page(FRAME, pages.BillingForm()),
        pages.payment_page(FRAME, [CARD, ACH]),
        pages.payment_page(FRAME, [CARD, ACH], notice="Card declined. " + pages.DECLINE_TEXT),
    ],
    ids=["account", "invoices", "billing", "payment", "after-a-decline"],
)
def test_every_step_before_the_receipt_links_back_to_the_return_url(page: str) -> None:
    assert page.count(CANCEL) == 1
    assert ">Cancel and return to Avocette Utilities</a> · no money has been taken" in page


def test_the_expired_page_links_back_and_the_receipt_has_its_own_way_back() -> None:
    expired = pages.expired_page(FRAME)
    assert CANCEL in expired and ">Return to Avocette Utilities</a>" in expired
    receipt = _receipt(FRAME)
    assert 'id="cancel-link"' not in receipt
    assert "id='return-link'" in receipt


def test_no_return_url_no_cancel_link() -> None:
    page = pages.account_page(pages.Frame("Avocette Utilities", "abc123"), [], "$0.00")
    assert "cancel-link" not in page


@pytest.mark.parametrize(
    ("offers", "text"),
    [
        ([CARD, ACH], "Choose how to pay. The convenience fee depends on the payment method: $1.00 by card and "
         "$0.50 by bank account."),
        ([CARD, pages.MethodOffer("ACH", "$40.75", "$1.00", "$41.75")],
         "Choose how to pay. The convenience fee is $1.00 whichever way you pay."),
        ([pages.MethodOffer("CARD", "$5", "$0.00", "$5"), pages.MethodOffer("ACH", "$5", "$0.00", "$5")],
         "Choose how to pay. There is no convenience fee."),
        ([CARD], "A convenience fee of $1.00 is added to this payment."),
        ([pages.MethodOffer("ACH", "$5", "$0.00", "$5")], "There is no convenience fee."),
    ],
)  # fmt: skip
def test_the_fee_text_says_what_the_fees_are(offers: list[pages.MethodOffer], text: str) -> None:
    assert pages.fee_text(offers) == text
    assert text in pages.payment_page(FRAME, offers)


def test_receipt_times_are_in_the_biller_zone_with_its_name() -> None:
    moment = datetime(2026, 11, 25, 19, 25, 2, tzinfo=UTC)
    assert receipt_time(moment) == "Nov 25, 2026, 2:25 PM EST"
    assert receipt_time(moment, ZoneInfo("America/Los_Angeles")) == "Nov 25, 2026, 11:25 AM PST"
    assert receipt_time(datetime(2026, 7, 4, 4, 5, tzinfo=UTC)) == "Jul 4, 2026, 12:05 AM EDT"


# ---- the customer portal -------------------------------------------------------------------------


@pytest.fixture
def simulator() -> InvoiceCloudSimulator:
    records = [
        CustomerRecord("ACCT-3002", registered=False, registration_value="3002-REG"),
        CustomerRecord("ACCT-3001", registered=False),  # no registration value on file
    ]
    return InvoiceCloudSimulator(
        api_key="k",
        biller_guid="g",
        web_service_key="w",
        customer_records=records,
        clock=lambda: datetime(2026, 11, 26, 3, 0, tzinfo=UTC),  # Nov 25 in the biller's zone
    )


def test_the_customer_portal_page_answers(simulator: InvoiceCloudSimulator) -> None:
    answer = Client(simulator).get("/portal/")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "<h1>Customer portal</h1>" in page and 'action="/portal/"' in page
    assert "Registration value (printed on your bill)" in page


def test_the_customer_portal_registers_an_account_with_its_registration_value(
    simulator: InvoiceCloudSimulator,
) -> None:
    form = {"account_number": "ACCT-3002", "registration_value": "3002 reg", "login_email": "carol@example.com"}
    answer = Client(simulator).post("/portal/", data=form)
    assert answer.status_code == 200
    assert "You are registered" in answer.get_data(as_text=True)
    record = simulator.customer_records()["ACCT-3002"]
    assert (record["registered"], record["loginName"], record["registrationDate"]) == (
        True,
        "carol@example.com",
        "11/25/2026",
    )


@pytest.mark.parametrize(
    "form",
    [
        {"account_number": "ACCT-3002", "registration_value": "3003-REG", "login_email": "carol@example.com"},
        {"account_number": "ACCT-3001", "registration_value": "3001-REG", "login_email": "carol@example.com"},
        {"account_number": "ACCT-9999", "registration_value": "9999-REG", "login_email": "carol@example.com"},
        {"account_number": "ACCT-3002", "registration_value": "3002-REG", "login_email": "not an email"},
    ],
    ids=["wrong-value", "no-value-on-file", "unknown-account", "bad-email"],
)
def test_the_customer_portal_refuses_what_it_cannot_register(
    simulator: InvoiceCloudSimulator, form: dict[str, str]
) -> None:
    answer = Client(simulator).post("/portal/", data=form)
    assert answer.status_code == 400
    assert 'class="banner error"' in answer.get_data(as_text=True)
    assert not any(record["registered"] for record in simulator.customer_records().values())


def test_the_customer_portals_bills_escape_what_the_biller_sent() -> None:
    """Invoice numbers come from the biller's answer to a balance refresh: a page shows them as text."""
    view = pages.CustomerAccountView(
        account_number="A<1>",
        rows=(pages.CustomerInvoiceRow('I"<script>', "12/15/2026", "$1.00", due=True, paid_here=""),),
        total="$1.00",
        source="Balances refreshed from <b>",
        failure="the biller's answer could not be read (<i>)",
    )
    page = pages.customer_account_page("Avocette Utilities", view)
    assert "<script>" not in page and "<b>" not in page and "<i>" not in page and "A<1>" not in page
    assert 'data-invoice="I&quot;&lt;script&gt;"' in page and "A&lt;1&gt;" in page
    assert 'class="banner warning" role="status"' in page


# ---- a link to the bill (DESIGN §6g) ---------------------------------------------------------------------


def test_the_invoice_page_shows_the_billers_link_to_a_bill_and_escapes_it() -> None:
    rows = [
        pages.InvoiceRow("0-0", "ACCT-1001", "INV-1001-1", "10/28/2026", "12/15/2026", "$84.20", "https://a/s?x='y'"),
        pages.InvoiceRow("0-1", "ACCT-1001", "INV-1001-2", "11/01/2026", "12/20/2026", "$42.15"),
    ]
    html = pages.invoices_page(FRAME, rows, "$126.35", allow_remove=True)
    assert html.count("View bill") == 1
    assert "href='https://a/s?x=&#x27;y&#x27;'" in html and "rel='noopener noreferrer'" in html
    assert "aria-label='View the bill of invoice INV-1001-1'" in html


@pytest.mark.parametrize(
    ("field", "invoice_extra", "problem"),
    [
        ("StatementURL", {"StatementURL": "https://api.example/statement-links/v1.a.b"}, None),
        ("BillPdf", {"BillPdf": "https://api.example/statement-links/v1.a.b"}, None),
        (None, {"StatementURL": "https://api.example/statement-links/v1.a.b"}, "StatementURL is not a known field"),
        ("BillPdf", {"StatementURL": "https://x/"}, "StatementURL is not a known field"),
        ("StatementURL", {"StatementURL": "javascript:alert(1)"}, "StatementURL"),
        ("StatementURL", {"StatementURL": 7}, "StatementURL"),
    ],
)
def test_the_cpv2_request_may_carry_a_link_in_the_field_the_simulator_is_told_of(
    field: str | None, invoice_extra: dict[str, object], problem: str | None
) -> None:
    from sandbox.invoicecloud.validation import RequestValidationError, validate_cpv2_request

    request = {
        "Customers": [{"AccountNumber": "ACCT-1001", "Invoices": [{"InvoiceNumber": "INV-1", **invoice_extra}]}],
        "ViewMode": 0,
    }
    if problem is None:
        validate_cpv2_request(request, statement_link_field=field)
        return
    with pytest.raises(RequestValidationError, match=problem):
        validate_cpv2_request(request, statement_link_field=field)


def test_the_receipt_shows_a_readable_confirmation_number_not_the_guid() -> None:
    assert pages.confirmation_number("decc4174-880a-4bd2-8cf8-9b30e213e03f") == "DECC-4174-880A"
    view = pages.ReceiptView(
        receipt_number=pages.confirmation_number("decc4174-880a-4bd2-8cf8-9b30e213e03f"),
        authorization="APPROVED 1",
        paid_at="Nov 25, 2026, 2:25 PM EST",
        method="Visa ending in 1111",
        lines=[],
        amount="$10.00",
        fee="$1.00",
        total="$11.00",
        payer_name="",
        return_url="",
    )
    page = pages.receipt_page(FRAME, view)
    assert "DECC-4174-880A" in page and "decc4174-880a-4bd2" not in page
    assert '<dd class="when">Nov 25, 2026, 2:25 PM EST</dd>' in page
