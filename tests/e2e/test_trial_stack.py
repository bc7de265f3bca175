"""A trial stack in the browser, as its user meets it after ``make deploy ENV=dev``: the demo portal
published by ``python -m tools portal`` to its bucket and served by "CloudFront" on an origin of its
own (with template.yaml's response headers), signing in through the hosted sign-in (the authorization
code with PKCE) and calling the API across origins; before Invoice Cloud's credentials are set a
payment is refused in words the payer understands, after they are set the payer pays and comes back.

The two AWS-only parts are played locally (tests/e2e/trial.py): Cognito's hosted UI and CloudFront;
the API, Invoice Cloud and the buckets are the sandbox's, with the trial's parameters (the portal's
origin allowed by CORS, Invoice Cloud returning payers to it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import Browser, expect

from sandbox.runner import Sandbox, SandboxPorts
from sandbox.serving import RunningServer, free_port, start_server
from stackdef.template import load_template
from tests.e2e.browsing import DESKTOP, BrowserRun
from tests.e2e.conftest import ARTIFACTS, TIMEOUT_MS
from tests.e2e.portal import (
    APPROVING_CARD,
    choose_invoices,
    go_to,
    go_to_invoice_cloud,
    pay_by_card,
    result_panel,
    return_to_portal,
    through_to_payment,
)
from tests.e2e.trial import HostedSignIn, PortalSite, TrialUser, portal_response_headers
from tools import portal

CLIENT_ID = "trialportalclient"
BUCKET = "avocette-payments-dev-portal"
ALICE = TrialUser(email="alice@example.com", password="Correct-Horse-7", sub="alice")


@dataclass
class Trial:
    sandbox: Sandbox
    site: portal.Site
    hosted: HostedSignIn
    cloudfront: PortalSite

    @property
    def portal_origin(self) -> str:
        return self.site.portal_url.rstrip("/")


@pytest.fixture(scope="module")
def trial(chromium_path: str) -> Iterator[Trial]:
    site_port, sign_in_port = free_port(), free_port()
    portal_origin, sign_in_origin = f"http://127.0.0.1:{site_port}", f"http://127.0.0.1:{sign_in_port}"
    sandbox = Sandbox(
        SandboxPorts.free(),
        parameters={"CorsAllowOrigins": portal_origin, "PortalReturnUrl": portal_origin + "/#/return/{paymentId}"},
    )
    sandbox.start()
    servers: list[RunningServer] = []
    try:
        # Invoice Cloud's credentials as the stack creates them: not set yet.
        initial = load_template()["Resources"]["InvoiceCloudSecret"]["Properties"]["SecretString"]
        boto3.client("secretsmanager").put_secret_value(SecretId=sandbox.names.ic_secret_name, SecretString=initial)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        distribution = boto3.client("cloudfront").create_distribution(
            DistributionConfig={
                "CallerReference": "trial",
                "Comment": "demo portal",
                "Enabled": True,
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "portal",
                            "DomainName": f"{BUCKET}.s3.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {"TargetOriginId": "portal", "ViewerProtocolPolicy": "redirect-to-https"},
            }
        )["Distribution"]
        site = portal.Site(
            bucket=BUCKET,
            distribution_id=distribution["Id"],
            portal_url=portal_origin + "/",
            api_url=sandbox.gateway_url,
            sign_in_url=sign_in_origin,
            client_id=CLIENT_ID,
        )
        portal.publish(site)
        assert sandbox.issuer is not None
        hosted = HostedSignIn(
            issuer=sandbox.issuer,
            client_id=CLIENT_ID,
            callback_urls=(site.portal_url,),
            users=(ALICE,),
            portal_origin=portal_origin,
        )
        cloudfront = PortalSite(BUCKET, portal_response_headers(sandbox.gateway_url, sign_in_origin))
        servers.append(start_server(cloudfront, site_port, name="cloudfront"))
        servers.append(start_server(hosted, sign_in_port, name="hosted-sign-in"))
        yield Trial(sandbox=sandbox, site=site, hosted=hosted, cloudfront=cloudfront)
    finally:
        for server in servers:
            server.stop()
        sandbox.stop()


@pytest.fixture
def run(browser: Browser, trial: Trial, request: pytest.FixtureRequest) -> Iterator[BrowserRun]:
    artifacts = ARTIFACTS / request.node.name
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.png"):
        old.unlink()
    context = browser.new_context(**DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    browsing = BrowserRun(
        page=page, gateway=trial.portal_origin, simulator=trial.sandbox.simulator_url, artifacts=Path(artifacts)
    )
    page.on("console", browsing.on_console)
    page.on("pageerror", browsing.on_page_error)
    yield browsing
    context.close()
    assert not browsing.problems, "the browser reported errors:\n" + "\n".join(browsing.problems)


def sign_in_through_the_hosted_ui(run: BrowserRun, trial: Trial) -> None:
    page = run.page
    expect(page.get_by_text("Trial sign-in.")).to_be_visible()
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{trial.site.sign_in_url}/oauth2/authorize?*")
    run.step("hosted-sign-in")
    page.get_by_label("Email").fill(ALICE.email)
    page.get_by_label("Password").fill(ALICE.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text(f"Signed in as {ALICE.email}")


def test_a_trial_user_signs_in_through_the_hosted_ui_is_told_payments_wait_for_invoice_cloud_then_pays(
    run: BrowserRun, trial: Trial
) -> None:
    page = run.page
    # A page that needs a sign-in, opened first: the sign-in page, then back to it.
    run.open("#/history")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Mailbox")).to_have_count(0)  # the sandbox's only
    expect(page.locator("#where")).to_have_text("a trial stack")
    run.step("sign-in")

    sign_in_through_the_hosted_ui(run, trial)

    expect(page.get_by_role("heading", name="Payment history", level=1)).to_be_visible()
    assert "code=" not in page.url and page.url == f"{trial.portal_origin}/#/history"
    # The code came back in the address once, and was traded once, with the verifier of its challenge.
    assert [path for path in trial.cloudfront.requested if "code=" in path] and len(trial.hosted.token_requests) == 1
    (token_request,) = trial.hosted.token_requests
    assert token_request["redirect_uri"] == trial.site.portal_url
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token_request["code_verifier"])
    run.step("signed-in")

    # Before Invoice Cloud's credentials are set: accounts work, paying is refused, and says why.
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-1001-1"], "$84.20")
    run.allowed_http_errors.append((503, f"{trial.sandbox.gateway_url}/payments"))
    page.get_by_role("button", name="Pay $84.20 with Invoice Cloud").click()
    refused = page.get_by_text(re.compile("Online payment is not available yet"))
    expect(refused).to_be_visible()
    expect(refused).to_contain_text("No money was taken")
    run.step("not-configured")

    # Ops set the credentials; Lambda's next cold start reads them.
    sandbox = trial.sandbox
    boto3.client("secretsmanager").put_secret_value(
        SecretId=sandbox.names.ic_secret_name,
        SecretString=(
            f'{{"apiKey": "{sandbox.secrets.ic_api_key}", "billerGuid": "{sandbox.secrets.biller_guid}", '
            f'"webServiceKey": "{sandbox.secrets.web_service_key}"}}'
        ),
    )
    sandbox.pools["StartPaymentFunction"].recycle()

    run.open("#/pay")
    expect(page.get_by_role("heading", name="Pay bills", level=1)).to_be_visible()
    choose_invoices(page, ["INV-1001-1"], "$84.20")
    go_to_invoice_cloud(page, "$84.20", sandbox.simulator_url)
    through_to_payment(page)
    pay_by_card(page, APPROVING_CARD, "Alice Anders")
    payment_id = return_to_portal(run)
    result_panel(page, "Payment approved")
    expect(page.locator("#who")).to_contain_text(f"Signed in as {ALICE.email}")  # the same tab's sign-in
    run.step("paid")
    assert payment_id

    # Signing out goes through the hosted sign-in's /logout and back to the portal, signed out.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(re.escape(trial.portal_origin) + r"/(#/signin)?$"))
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(page.locator("#who")).not_to_contain_text("Signed in as")
    run.step("signed-out")


def test_a_sign_in_that_comes_back_with_a_state_this_tab_did_not_send_is_refused(run: BrowserRun, trial: Trial) -> None:
    """A code planted in a link (login CSRF) is not traded: the state must be this tab's."""
    page = run.page
    page.goto(f"{trial.portal_origin}/?code=planted-code&state=not-this-tabs")
    expect(page.get_by_text("That sign-in was not started from this tab. Please sign in again.")).to_be_visible()
    assert "code=" not in page.url
    expect(page.locator("#who")).not_to_contain_text("Signed in as")
    assert not [form for form in trial.hosted.token_requests if form.get("code") == "planted-code"]
