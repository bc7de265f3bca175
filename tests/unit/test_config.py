"""Settings: every one from the environment, errors that name the variable, never a value."""

from __future__ import annotations

import pytest
from avocette.config import ConfigurationError, Settings

from sandbox.template import global_environment

BASE = {
    name: value for name, value in global_environment().items() if isinstance(value, str) and name.startswith("CPV2_")
} | {
    "APP_TABLE_NAME": "app",
    "IDEMPOTENCY_TABLE_NAME": "idem",
    "IC_BASE_URL": "https://www.invoicecloud.com",
    "IC_PAYMENT_URL_PREFIXES": "https://www.invoicecloud.com/",
    "PORTAL_RETURN_URL": "https://portal.example/#/return/{paymentId}",
    "BILLER_NAME": "Avocette Utilities",
    "IC_SECRET_ARN": "arn:ic",
    "POSTBACK_KEYS_ARN": "arn:keys",
}


def settings(**changes: str) -> Settings:
    environ = {**BASE, **changes}
    return Settings.from_environment({name: value for name, value in environ.items() if value != "<unset>"})


def test_template_values_read_as_the_seed_says() -> None:
    read = settings()
    assert read.cpv2.allow_swipe is False and read.cpv2.allow_remove is True and read.cpv2.view_mode == 0
    assert (read.cpv2.cc_service_fee_cents, read.cpv2.ach_service_fee_cents, read.cpv2.invoice_type_id) == (100, 100, 6)
    assert read.cpv2.css_url is None
    assert (read.ic_amount_includes_fee, read.payment_session_minutes, read.postback_source_cidrs) == (False, 30, ())


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"IDEMPOTENCY_TABLE_NAME": "<unset>"}, "IDEMPOTENCY_TABLE_NAME"),
        ({"PORTAL_RETURN_URL": "https://portal.example/return"}, "PORTAL_RETURN_URL"),
        ({"IC_PAYMENT_URL_PREFIXES": "https://www.invoicecloud.com"}, "IC_PAYMENT_URL_PREFIXES"),
        ({"POSTBACK_SOURCE_CIDRS": "10.0.0.0/33"}, "POSTBACK_SOURCE_CIDRS"),
        ({"CPV2_ALLOW_SWIPE": "<unset>"}, "CPV2_ALLOW_SWIPE"),
        ({"CPV2_CC_SERVICE_FEE": "1.005"}, "CPV2_CC_SERVICE_FEE"),
        ({"CPV2_VIEW_MODE": "2"}, "CPV2_VIEW_MODE"),
    ],
)
def test_bad_settings_are_named(changes: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        settings(**changes)


def test_postback_source_cidrs() -> None:
    anyone = settings()
    assert anyone.postback_source_allowed(None) and anyone.postback_source_allowed("203.0.113.5")
    limited = settings(POSTBACK_SOURCE_CIDRS="203.0.113.0/24, 2001:db8::/32")
    assert limited.postback_source_allowed("203.0.113.5")
    assert limited.postback_source_allowed("2001:db8::1")
    assert not limited.postback_source_allowed("198.51.100.1")
    assert not limited.postback_source_allowed(None)
    assert not limited.postback_source_allowed("not-an-ip")


def test_blank_public_base_url_means_the_requests_own() -> None:
    assert settings(PUBLIC_API_BASE_URL="").public_api_base_url is None


def test_the_table_name_is_read_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from avocette.config import get_table_name

    get_table_name.cache_clear()
    monkeypatch.delenv("APP_TABLE_NAME", raising=False)
    with pytest.raises(ConfigurationError, match="APP_TABLE_NAME"):
        get_table_name()
    monkeypatch.setenv("APP_TABLE_NAME", "avocette-app")
    assert get_table_name() == "avocette-app"
    get_table_name.cache_clear()
