"""Bills in the browser (DESIGN §6g): "View bill" on the portal's accounts page opens the invoice's PDF
from the sandbox's S3 (moto) through the presigned URL the API answers, and Chromium's PDF viewer
shows it; an invoice without a bill has no such button; a bill removed from the bucket says so."""

from __future__ import annotations

import re
import time

import boto3
import pytest
from playwright.sync_api import Page, expect

from sandbox.runner import Sandbox
from tests.e2e.browsing import DESKTOP, PHONE
from tests.e2e.portal import OpenBrowser, invoice_card, sign_in

pytestmark = pytest.mark.e2e


def viewer_frame(bill: Page, seconds: float = 20.0) -> bool:
    """Whether Chromium's PDF viewer (an extension's frame) took the tab: it comes a moment after the
    page has loaded, later on a loaded machine."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(frame.url.startswith("chrome-extension://") for frame in bill.frames):
            return True
        bill.wait_for_timeout(200)
    return False


def tab_title(page: Page, expected: str, timeout: float = 10.0) -> str:
    """The tab's title as the browser shows it, once it is ``expected`` or after ``timeout`` seconds.
    Under the PDF viewer the page's document.title stays empty: the tab shows the address until the
    viewer has read the PDF, then the PDF's own /Title."""
    session = page.context.new_cdp_session(page)
    deadline = time.monotonic() + timeout
    while True:
        title = str(session.send("Target.getTargetInfo")["targetInfo"]["title"])
        if title == expected or time.monotonic() > deadline:
            return title
        time.sleep(0.1)


def test_alice_opens_a_bill_from_her_accounts(open_browser: OpenBrowser, sandbox: Sandbox) -> None:
    run = open_browser(DESKTOP)
    page = run.page
    sign_in(run, "alice")

    # Her invoices with a bill have "View bill"; the one without (INV-1001-2) has none.
    card = invoice_card(page, "INV-1001-1")
    button = card.get_by_role("button", name=re.compile(r"^View bill"))
    expect(button).to_be_visible()
    expect(button).to_have_accessible_name("View bill of invoice INV-1001-1 (PDF, opens in a new tab)")
    expect(invoice_card(page, "INV-1001-2").get_by_role("button", name=re.compile(r"^View bill"))).to_have_count(0)
    run.step("accounts-with-bills")

    # Pressed, it opens the PDF in a new tab, straight from S3 (the sandbox's moto), and says so.
    with page.expect_popup() as opening:
        button.click()
    bill = opening.value
    bill.wait_for_load_state()
    assert bill.url.startswith(f"{sandbox.moto_url}/{sandbox.names.inbound_bucket}/statements/"), bill.url
    assert "X-Amz-Signature=" in bill.url and "X-Amz-Expires=300" in bill.url
    # Chromium's PDF viewer took the tab, and named it by the title inside the PDF: it read the document.
    assert bill.evaluate("() => document.contentType") == "application/pdf"
    assert viewer_frame(bill), [f.url for f in bill.frames]
    assert tab_title(bill, "Avocette Utilities bill INV-1001-1") == "Avocette Utilities bill INV-1001-1"
    answer = page.request.get(bill.url)
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == 'inline; filename="INV-1001-1.pdf"'
    assert answer.body().startswith(b"%PDF-1.4") and answer.body().rstrip().endswith(b"%%EOF")
    bill.screenshot(path=run.artifacts / "bill.png")
    status = card.get_by_role("status")
    expect(status).to_contain_text("Your bill opens in a new tab.")
    expect(status.get_by_role("link", name="open your bill here")).to_have_attribute("href", bill.url)
    run.step("bill-opened")
    bill.close()


def test_a_bill_missing_from_the_bucket_is_said_plainly(open_browser: OpenBrowser, sandbox: Sandbox) -> None:
    """The billing file names INV-2001-1's PDF; the biller has not dropped it (yet)."""
    s3 = boto3.client("s3", endpoint_url=sandbox.moto_url)
    key = "statements/2026-11/INV-2001-1.pdf"
    saved = s3.get_object(Bucket=sandbox.names.inbound_bucket, Key=key)["Body"].read()
    s3.delete_object(Bucket=sandbox.names.inbound_bucket, Key=key)
    try:
        run = open_browser(PHONE)
        page = run.page
        sign_in(run, "bob")
        card = invoice_card(page, "INV-2001-1")
        run.allow_http_error(404, "/accounts/ACCT-2001/invoices/INV-2001-1/statement")
        card.get_by_role("button", name=re.compile(r"^View bill")).click()
        expect(card.get_by_role("status")).to_have_text("There is no bill to show for that invoice.")
        expect(card.get_by_role("button", name=re.compile(r"^View bill"))).to_be_enabled()
        run.step("bill-missing")
    finally:
        s3.put_object(Bucket=sandbox.names.inbound_bucket, Key=key, Body=saved, ContentType="application/pdf")
