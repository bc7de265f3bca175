"""Reading a user's linked accounts with what is payable on them (GET /accounts)."""

from __future__ import annotations

from avocette.domain import errors
from avocette.domain.accounts import AccountsResponse
from avocette.domain.billing import Account
from avocette.store import billing as billing_store
from avocette.store import links as links_store

__all__ = ["list_accounts"]


def list_accounts(sub: str) -> AccountsResponse:
    """The user's linked accounts in account-number order; 403 ``registration_required`` without any."""
    links = links_store.list_links(sub)
    if not links:
        raise errors.RegistrationRequiredError()
    accounts = billing_store.get_accounts(links)
    return AccountsResponse.of(
        [
            (accounts.get(number) or Account(account_number=number), billing_store.list_invoices(number))
            for number in sorted(links)
        ]
    )
