"""Driving a running sandbox over HTTP, as the portal and a payer would."""

from __future__ import annotations

import html as html_module
import re
from dataclasses import dataclass
from typing import Any

import requests


@dataclass
class SandboxClient:
    api: str
    simulator: str

    def token(self, sub: str) -> str:
        answer = requests.get(f"{self.api}/dev/token", params={"sub": sub}, timeout=10)
        answer.raise_for_status()
        return str(answer.json()["token"])

    def call(self, method: str, path: str, sub: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(sub)}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.api}{path}", headers=headers, timeout=30, **kwargs)

    def pay_on_hosted_pages(
        self, payment_url: str, card: str = "4111111111111111", remove: str | None = None
    ) -> requests.Response:
        """Walk Invoice Cloud's hosted route as a payer: account, invoices (optionally removing one by
        its key), billing information as prefilled, payment with ``card``. The last page answered."""
        browser = requests.Session()
        browser.get(payment_url, timeout=10).raise_for_status()
        browser.post(f"{payment_url}/account", timeout=10).raise_for_status()
        if remove:
            browser.post(f"{payment_url}/invoices", data={"remove": remove}, timeout=10).raise_for_status()
        billing = browser.post(f"{payment_url}/invoices", data={"action": "continue"}, timeout=10)
        billing.raise_for_status()
        fields = _prefilled(billing.text, ("name", "address", "city", "state", "zip", "email"))
        browser.post(f"{payment_url}/billing", data=fields, timeout=10).raise_for_status()
        card_form = {
            "method": "CARD",
            "card_number": card,
            "expiry": "12/39",
            "cvv": "123",
            "name_on_card": fields["name"],
        }
        return browser.post(f"{payment_url}/payment", data=card_form, timeout=30)


def _prefilled(html: str, names: tuple[str, ...]) -> dict[str, str]:
    """The values the billing form was prefilled with (inputs are written as name="x" ... value="y")."""
    values = {}
    for name in names:
        match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html) or re.search(
            rf'<input[^>]*value="([^"]*)"[^>]*name="{name}"', html
        )
        values[name] = html_module.unescape(match.group(1)) if match else ""
    return values
