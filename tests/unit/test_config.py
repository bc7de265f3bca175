"""Settings: each group from the environment, errors that name the variable, never a value; each
function reads only its own group (the template gives it only those variables)."""

from __future__ import annotations

import pytest
from avocette.errors import ConfigurationError
from avocette.settings.invoicecloud import InvoiceCloudSettings
from avocette.settings.ledger import LedgerSettings
from avocette.settings.payments import Cpv2Options, StartSettings
from avocette.settings.portal import PortalSettings
from avocette.settings.postbacks import PostbackSettings

from stackdef.template import function_specs

START = {spec.logical_id: spec for spec in function_specs()}["StartPaymentFunction"].environment
CPV2 = {name: value for name, value in START.items() if name.startswith("CPV2_") and isinstance(value, str)}


def test_the_templates_cpv2_values_read_as_the_seed_says() -> None:
    read = Cpv2Options.from_environment(CPV2)
    assert read.allow_swipe is False and read.allow_remove is True and read.view_mode == 0
    assert (read.cc_service_fee_cents, read.ach_service_fee_cents, read.invoice_type_id) == (100, 100, 6)
    assert read.css_url is None


def test_defaults_of_the_open_questions() -> None:
    postback = PostbackSettings.from_environment({})
    assert (postback.ic_amount_includes_fee, postback.ic_payment_type_ids, postback.postback_source_cidrs) == (
        False,
        {},
        (),
    )
    ledger = LedgerSettings.from_environment({})
    assert (ledger.payment_session_grace_minutes, ledger.ach_return_days, ledger.reconcile_missing_days) == (15, 5, 3)
    ic = InvoiceCloudSettings.from_environment({"IC_BASE_URL": "https://www.invoicecloud.com"})
    assert ic.ic_basic_auth_form == "key"


@pytest.mark.parametrize(
    ("model", "environ", "named"),
    [
        (StartSettings, {"PORTAL_RETURN_URL": "https://p/#/r/{paymentId}"}, "IDEMPOTENCY_TABLE_NAME"),
        (StartSettings, {"IDEMPOTENCY_TABLE_NAME": "idem", "PORTAL_RETURN_URL": "https://p/r"}, "PORTAL_RETURN_URL"),
        (
            InvoiceCloudSettings,
            {"IC_BASE_URL": "https://x", "IC_PAYMENT_URL_PREFIXES": "https://x"},
            "IC_PAYMENT_URL_PREFIXES",
        ),
        (InvoiceCloudSettings, {"IC_BASE_URL": "https://x", "IC_BASIC_AUTH_FORM": "colon"}, "IC_BASIC_AUTH_FORM"),
        (InvoiceCloudSettings, {}, "IC_BASE_URL"),
        (PostbackSettings, {"POSTBACK_SOURCE_CIDRS": "10.0.0.0/33"}, "POSTBACK_SOURCE_CIDRS"),
        (PostbackSettings, {"IC_PAYMENT_TYPE_IDS": '{"1": "CHECK"}'}, "IC_PAYMENT_TYPE_IDS"),
        (PortalSettings, {}, "BILLER_NAME"),
        (LedgerSettings, {"ACH_RETURN_DAYS": "-1"}, "ACH_RETURN_DAYS"),
    ],
)
def test_bad_settings_are_named(model: type, environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        model.from_environment(environ)


@pytest.mark.parametrize("missing", ["CPV2_ALLOW_SWIPE", "CPV2_CC_SERVICE_FEE"])
def test_a_missing_cpv2_option_is_named(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from avocette.settings.payments import get_cpv2_options

    for name, value in CPV2.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(missing)
    get_cpv2_options.cache_clear()
    with pytest.raises(ConfigurationError, match=missing):
        get_cpv2_options()
    get_cpv2_options.cache_clear()


def test_postback_source_cidrs() -> None:
    anyone = PostbackSettings.from_environment({})
    assert anyone.postback_source_allowed(None) and anyone.postback_source_allowed("203.0.113.5")
    limited = PostbackSettings.from_environment({"POSTBACK_SOURCE_CIDRS": "203.0.113.0/24, 2001:db8::/32"})
    assert limited.postback_source_allowed("203.0.113.5")
    assert limited.postback_source_allowed("2001:db8::1")
    assert not limited.postback_source_allowed("198.51.100.1")
    assert not limited.postback_source_allowed(None)
    assert not limited.postback_source_allowed("not-an-ip")


def test_blank_public_base_url_means_the_requests_own() -> None:
    start = StartSettings.from_environment(
        {"IDEMPOTENCY_TABLE_NAME": "idem", "PORTAL_RETURN_URL": "https://p/#/r/{paymentId}", "PUBLIC_API_BASE_URL": ""}
    )
    assert start.public_api_base_url is None


def test_the_portal_url_is_the_return_url_before_its_route() -> None:
    portal = PortalSettings.from_environment(
        {"BILLER_NAME": "B", "PORTAL_RETURN_URL": "https://portal.example/#/return/{paymentId}"}
    )
    assert portal.portal_url == "https://portal.example/"


def test_the_table_name_is_read_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from avocette.settings.resources import get_table_name

    get_table_name.cache_clear()
    monkeypatch.delenv("APP_TABLE_NAME", raising=False)
    with pytest.raises(ConfigurationError, match="APP_TABLE_NAME"):
        get_table_name()
    monkeypatch.setenv("APP_TABLE_NAME", "avocette-app")
    assert get_table_name() == "avocette-app"
    get_table_name.cache_clear()


@pytest.mark.parametrize(
    ("stored", "not_configured"),
    [
        ({"apiKey": "", "billerGuid": "", "webServiceKey": ""}, True),  # as the stack creates it
        ({"apiKey": "   ", "billerGuid": "b"}, True),
        ({}, True),
        ({"apiKey": 12345}, False),  # set, but not as text: a malformed secret
        ({"apiKey": "key", "billerGuid": ["b"]}, False),
    ],
)
def test_an_invoice_cloud_secret_without_its_key_is_not_configured_yet(
    monkeypatch: pytest.MonkeyPatch, stored: dict[str, object], not_configured: bool
) -> None:
    """An empty apiKey is a stack whose credentials are not set yet (503 for the payer, UNKNOWN for
    registration); any other bad value is a broken deployment (500). Neither message holds a value."""
    from avocette.errors import InvoiceCloudNotConfiguredError
    from avocette.settings import invoicecloud

    monkeypatch.setenv("IC_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:ic")
    monkeypatch.setattr(invoicecloud, "secret_json", lambda arn, what: stored)
    with pytest.raises(ConfigurationError) as raised:
        invoicecloud.get_invoice_cloud_secret()
    assert isinstance(raised.value, InvoiceCloudNotConfiguredError) is not_configured
    assert (raised.value.status, raised.value.code) == (
        (503, "invoice_cloud_not_configured") if not_configured else (500, "internal_error")
    )
    assert "12345" not in str(raised.value) and "'b'" not in str(raised.value)


def test_a_set_invoice_cloud_secret_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from avocette.settings import invoicecloud

    monkeypatch.setenv("IC_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:ic")
    monkeypatch.setattr(invoicecloud, "secret_json", lambda arn, what: {"apiKey": "key", "billerGuid": "b"})
    secret = invoicecloud.get_invoice_cloud_secret()
    assert (secret.api_key.get_secret_value(), secret.biller_guid) == ("key", "b")
