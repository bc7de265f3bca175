"""What a registration reads (DESIGN §6b), in one BatchGetItem: the accounts asked for, the user's
links to them, the failure budgets, and what we knew of the accounts at Invoice Cloud (§6g). The
items' keys stay here; the service gets the objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from avocette.domain.billing import Account
from avocette.domain.changes import InvoiceCloudStatus
from avocette.store import billing, changes, keys, links, ratelimits

__all__ = ["RegistrationState", "read_invoice_cloud_statuses", "read_registration_state"]


@dataclass(frozen=True)
class RegistrationState:
    """The store as a registration of ``numbers`` by one user found it."""

    accounts: dict[str, Account]  # the accounts that exist, by number
    linked: frozenset[str]  # the numbers the user has a link to already
    invoice_cloud: dict[str, InvoiceCloudStatus]  # what we knew of them at Invoice Cloud, when anything
    budget: ratelimits.Budget


def read_registration_state(sub: str, numbers: Sequence[str], now: datetime) -> RegistrationState:
    """One consistent BatchGetItem of everything a registration of ``numbers`` by ``sub`` decides on."""
    items = billing.get_items(
        [
            *(keys.account_key(number) for number in numbers),
            *(links.link_key(sub, number) for number in numbers),
            *ratelimits.budget_keys(sub, numbers, now),
            *(keys.invoice_cloud_known_key(number) for number in numbers),
        ]
    )
    wanted = set(numbers)
    accounts: dict[str, Account] = {}
    linked: set[str] = set()
    known: dict[str, InvoiceCloudStatus] = {}
    user_pk = keys.user_pk(sub)
    for item in items:
        pk, sk = str(item["PK"]), str(item["SK"])
        if sk == keys.PROFILE and pk.startswith(keys.ACCOUNT_PREFIX):
            account = billing.account_from_item(item)
            accounts[account.account_number] = account
        elif pk == user_pk and sk.startswith(keys.ACCOUNT_PREFIX):
            linked.add(sk.removeprefix(keys.ACCOUNT_PREFIX))
        elif sk == keys.INVOICE_CLOUD_KNOWN and pk.startswith(keys.ACCOUNT_PREFIX):
            known[pk.removeprefix(keys.ACCOUNT_PREFIX)] = changes.status_from_item(item)
    return RegistrationState(
        accounts={number: account for number, account in accounts.items() if number in wanted},
        linked=frozenset(linked & wanted),
        invoice_cloud={number: status for number, status in known.items() if number in wanted},
        budget=ratelimits.read_budget(sub, numbers, now, items),
    )


def read_invoice_cloud_statuses(numbers: Sequence[str]) -> dict[str, InvoiceCloudStatus]:
    """What we knew of these accounts at Invoice Cloud (those we knew anything of), by number."""
    items = billing.get_items(keys.invoice_cloud_known_key(number) for number in numbers)
    return {
        str(item["PK"]).removeprefix(keys.ACCOUNT_PREFIX): changes.status_from_item(item)
        for item in items
        if item["SK"] == keys.INVOICE_CLOUD_KNOWN
    }
