"""Every email the service sends, as a template: one function per email answering ``(subject, body)``
from plain values, with no I/O. Sending them is :func:`avocette.mail.send.send_email`'s.

Bodies are plain text (SES sends them as ``Text``), so nothing is escaped; they hold payer data and
are never logged. Amounts are integer cents written by :func:`avocette.money.cents_to_text`, never floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Final

from avocette.money import cents_to_text

__all__ = ["REVERSAL_KINDS", "registration_email", "reversal_email", "security_notice"]


def _dollars(cents: int) -> str:
    return f"${cents_to_text(cents)}"


# ---- registration -------------------------------------------------------------------------------


def registration_email(
    *, biller_name: str, linked: Sequence[str], unregistered: Sequence[str], ic_portal_url: str
) -> tuple[str, str]:
    """To the payer who linked accounts: ``linked`` are the newly linked account numbers;
    ``unregistered`` those not (or not known to be) registered with Invoice Cloud, who are told where
    to finish registering (``ic_portal_url``, Invoice Cloud's customer portal)."""
    lines = [
        "Hello,",
        "",
        f"These {biller_name} accounts are now linked to your portal profile:",
        "\n".join(f"  - {number}" for number in linked),
        "",
        "You can see what you owe and pay your bills in the portal.",
    ]
    if unregistered:
        lines += [
            "",
            "To finish registering with Invoice Cloud, our payment provider, sign in or create your login here:",
            f"  {ic_portal_url}",
            f"(for {', '.join(unregistered)}). Use the registration value printed on your bill.",
        ]
    lines += ["", f"If you did not do this, contact {biller_name} right away.", ""]
    return f"Your {biller_name} accounts are linked", "\n".join(lines)


def security_notice(*, biller_name: str, account_number: str, linked_at: date) -> tuple[str, str]:
    """To the account's billing email on file, when someone else linked the account: the account is
    named by its last four characters only."""
    masked = f"ending in {account_number[-4:]}"
    body = "\n".join(
        [
            "Hello,",
            "",
            f"On {linked_at:%B %d, %Y} your {biller_name} account {masked} was linked to a profile in our",
            "online portal. A linked profile can see the account's bills and pay them.",
            "",
            f"If you know of this, there is nothing to do. If not, contact {biller_name} right away.",
            "",
        ]
    )
    return f"Your {biller_name} account was linked", body


# ---- reversals ----------------------------------------------------------------------------------

# kind -> (subject, the first line of the body, what happened): "{what}" (the payment, or the part
# of it), "{amount}", "{biller}", "{reference}" and "{occurred}" are filled in.
_REVERSALS: Final[dict[str, tuple[str, str, str]]] = {
    "VOID": (
        "Your {biller} payment was voided",
        "Your payment was voided.",
        "On {occurred}, {what} to {biller} (reference {reference}) was voided: it was cancelled before "
        "the money reached {biller}.",
    ),
    "REFUND": (
        "Your {biller} payment was refunded",
        "Your payment was refunded.",
        "On {occurred}, {what} to {biller} (reference {reference}) was refunded to you, so it no longer "
        "counts toward your bills.",
    ),
    "ACH_RETURN": (
        "Your bank returned your {biller} payment",
        "Your bank returned your payment.",
        "On {occurred}, your bank returned {what} to {biller} (reference {reference}), so the money did "
        "not reach {biller}. A bank returns a payment when, for example, the account has too little "
        "money in it, is closed, or its number was mistyped.",
    ),
    "CHARGEBACK": (
        "Your {biller} card payment was disputed (chargeback)",
        "Your card payment was disputed (chargeback).",
        "On {occurred}, {what} to {biller} (reference {reference}) was disputed with your card's issuer, "
        "and {amount} was returned to your card.",
    ),
}
# The converse of a chargeback: the dispute was decided in the biller's favour and the money came back.
_CHARGEBACK_REVERSED: Final = (
    "Your {biller} payment counts again",
    "The dispute of your card payment was closed in {biller}'s favour.",
    "On {occurred}, the chargeback of {what} to {biller} (reference {reference}) was reversed: {amount} of "
    "your payment reached {biller} after all and counts toward your bills again.",
)
REVERSAL_KINDS: Final = frozenset({*_REVERSALS, "CHARGEBACK_REVERSAL"})


def reversal_email(
    *,
    biller_name: str,
    kind: str,
    amount_cents: int,
    invoices: list[tuple[str, str | None, int]],
    payment_reference: str,
    occurred: str,
    portal_url: str | None,
    payment_cents: int | None = None,
    paid_at: str | None = None,
) -> tuple[str, str]:
    """To the payer whose payment Invoice Cloud reversed: ``kind`` is ``VOID``, ``REFUND``,
    ``ACH_RETURN``, ``CHARGEBACK`` or ``CHARGEBACK_REVERSAL`` (the money came back); ``amount_cents``
    what was reversed in all, of a payment of ``payment_cents`` (the same when absent: the whole
    payment); ``invoices`` (account number, invoice number — ``None`` when the biller's bill no longer
    shows it: then the amount is owed on the account —, cents reversed on it), which are due again
    (for a chargeback reversal: which the money counts toward again); ``occurred`` when it happened,
    already written for the payer; ``portal_url`` where to pay again (``None``: "the portal");
    ``paid_at`` when the payment was made, written for the payer (see :func:`local_time`).

    Raises ``ValueError`` for another kind or no invoice, ``TypeError`` for an amount that is not
    integer cents."""
    if kind not in REVERSAL_KINDS:
        raise ValueError(f"not a reversal kind: {kind!r}")
    if not invoices:
        raise ValueError("a reversal names at least one invoice")
    subject, headline, what = _CHARGEBACK_REVERSED if kind == "CHARGEBACK_REVERSAL" else _REVERSALS[kind]
    total = payment_cents if payment_cents is not None else amount_cents
    whole = f"your payment of {_dollars(total)}" + (f" made on {paid_at}" if paid_at else "")
    values = {
        "what": whole if amount_cents >= total else f"{_dollars(amount_cents)} of {whole}",
        "amount": _dollars(amount_cents),
        "biller": biller_name,
        "reference": payment_reference,
        "occurred": occurred,
    }
    where = [
        f"  - account {account}, invoice {invoice}: {_dollars(cents)}"
        if invoice is not None
        else f"  - account {account}: {_dollars(cents)}, due on the account (your next bill shows it)"
        for account, invoice, cents in invoices
    ]
    if kind == "CHARGEBACK_REVERSAL":
        lines = [
            "Hello,",
            "",
            headline,
            "",
            what.format(**values),
            "",
            "It counts toward (the amount on each):",
            *where,
        ]
        lines += ["", f"There is nothing to do. If you have questions, contact {biller_name}.", ""]
        return subject.format(**values), "\n".join(lines)
    pay_again = f"Pay them again in the portal: {portal_url}" if portal_url else "Pay them again in the portal."
    lines = [
        "Hello,",
        "",
        headline,
        "",
        what.format(**values),
        "",
        "These invoices are due again (the amount reversed on each):",
        *where,
        "",
        "What to do:",
        f"  - {pay_again}",
    ]
    if kind == "ACH_RETURN":
        lines.append("  - To pay from a bank account again, check its details with your bank first.")
    lines += [f"  - If you believe this is a mistake, contact {biller_name}.", ""]
    return subject.format(**values), "\n".join(lines)
