"""An account with a credit invoice, in the browser (DESIGN §5, "the account's credit"): dana's account
ACCT-4001 (demo data) has a 130.00 bill, a newer 60.00 one and a -45.50 credit. The portal shows the
credit applied to the oldest bill, Invoice Cloud is asked for exactly what the portal shows, and once
paid the bill is paid with the credit and the credit is not offered again.

Screenshots of every step go to tests/e2e/artifacts/<test name>/ (git-ignored).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import DESKTOP
from tests.e2e.portal import (
    APPROVING_CARD,
    OpenBrowser,
    choose_invoices,
    expect_fact,
    go_to,
    go_to_invoice_cloud,
    invoice_card,
    pay_by_card,
    payment_view,
    receipt_cells,
    return_to_portal,
    sign_in,
    through_to_payment,
)

pytestmark = pytest.mark.e2e


def test_dana_pays_her_oldest_bill_less_her_credit(open_browser: OpenBrowser) -> None:
    run = open_browser(DESKTOP)
    page = run.page
    sign_in(run, "dana")

    # Her accounts: the credit lowers her oldest bill, and the page says so.
    oldest, newer, credit = (invoice_card(page, number) for number in ("INV-4001-1", "INV-4001-2", "INV-4001-C"))
    expect_fact(oldest, "Balance on bill", "$130.00")
    expect_fact(oldest, "Account credit applied", "-$45.50")
    expect_fact(oldest, "Payable now", "$84.50")
    expect_fact(newer, "Payable now", "$60.00")
    expect(newer.locator("dt", has_text="Account credit applied")).to_have_count(0)
    expect(credit.locator(".badge")).to_have_text("Credit")
    expect_fact(credit, "Balance on bill", "-$45.50")
    expect(credit.locator("dt", has_text="Payable now")).to_have_count(0)
    expect(page.locator(".account-credit")).to_have_text("Account credit applied to your oldest bills-$45.50")
    expect(page.locator("#grand-total")).to_have_text("$144.50")
    run.step("accounts-with-credit")

    # She pays the oldest bill: the portal, Invoice Cloud's page and the receipt all say $84.50.
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-4001-1"], "$84.50")
    go_to_invoice_cloud(page, "$84.50", run.simulator)
    expect(page.locator("#total")).to_have_text("$84.50")
    run.step("ic-account")
    through_to_payment(page)
    pay_by_card(page, APPROVING_CARD, "Dana Delgado")
    return_to_portal(run)
    expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
    receipt = payment_view(page)
    expect(receipt_cells(receipt, "INV-4001-1")).to_have_text(["$84.50", "$84.50"])
    expect_fact(receipt, "Amount paid", "$84.50")
    run.step("receipt")

    # Back on her accounts: the bill is paid (with the credit), the newer one alone is due, and the
    # credit is not offered again.
    go_to(page, "Accounts", "Your accounts")
    oldest = invoice_card(page, "INV-4001-1")
    expect(oldest.locator(".badge")).to_have_text("Paid")
    expect_fact(oldest, "Account credit applied", "-$45.50")
    expect_fact(oldest, "Payable now", "$0.00")
    expect_fact(invoice_card(page, "INV-4001-2"), "Payable now", "$60.00")
    expect(page.locator("#grand-total")).to_have_text("$60.00")
    run.step("accounts-after")
    go_to(page, "Pay bills", "Pay bills")
    expect(page.get_by_label("Invoice INV-4001-1")).to_be_disabled()
    choose_invoices(page, ["INV-4001-2"], "$60.00")
    run.step("pay-after")
