"""Reading a user's linked accounts with what is payable on them (GET /accounts)."""

from __future__ import annotations

from avocette import clock, errors
from avocette.api.accounts import AccountsResponse
from avocette.domain.billing import Account
from avocette.store import billing as billing_store
from avocette.store import links as links_store

__all__ = ["list_accounts"]


def list_accounts(sub: str) -> AccountsResponse:
    """The user's linked accounts in account-number order; 403 ``registration_required`` without any.
    One Query for the links, then one per account (its profile and invoices share a partition)."""
    links = links_store.list_links(sub)
    if not links:
        raise errors.RegistrationRequiredError()
    rows = []
    for number in sorted(links):
        account, invoices = billing_store.get_account_with_invoices(number)
        rows.append((account or Account(account_number=number), invoices))
    return AccountsResponse.of(rows, clock.utc_now())
