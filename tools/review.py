"""``python -m tools review list|show|apply|dismiss``: settle payments flagged for review.

The same code as the functions (``avocette.service.review``), against the table of the environment
(``$APP_TABLE_NAME`` or ``--table``) at AWS or the sandbox (``--endpoint``). Who decides is
``--by``, or the AWS caller identity; every decision is audited with its note in the same
transaction as its effect.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

import boto3
from avocette import clock, money
from avocette.domain.payments import Payment
from avocette.service import review
from avocette.service.review import ReviewCase
from avocette.settings.resources import get_table_name
from avocette.store import table

__all__ = ["caller_identity", "parse_allocation", "print_case", "print_list", "use_table"]


def use_table(table_name: str | None) -> None:
    """Point the store at ``table_name`` (or ``$APP_TABLE_NAME``), with a fresh client for the endpoint."""
    if table_name:
        os.environ["APP_TABLE_NAME"] = table_name
    get_table_name.cache_clear()
    table.dynamodb.cache_clear()


def caller_identity() -> str:
    """Who is at the terminal, as AWS knows them (an IAM ARN)."""
    return str(boto3.client("sts").get_caller_identity()["Arn"])


def parse_allocation(items: Sequence[str]) -> dict[str, int]:
    """``INV=12.34`` or ``ACCT/INV=12.34`` items (``-12.34`` takes back) as invoice name → cents;
    ValueError says which is wrong."""
    allocation: dict[str, int] = {}
    for item in items:
        name, sep, amount = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{item!r}: write INVOICE=AMOUNT, e.g. INV-1001-1=84.20")
        try:
            cents = money.parse_cents(amount.strip())
        except money.MoneyError:
            raise ValueError(f"{item!r}: {amount!r} is not an amount with at most two decimals") from None
        if name.strip() in allocation:
            raise ValueError(f"{name.strip()} is named twice")
        allocation[name.strip()] = cents
    return allocation


def _summary(payment: Payment) -> str:
    flagged = clock.timestamp(payment.flagged_at) if payment.flagged_at else "-"
    due = money.cents_to_text(payment.amount_due_cents)
    paid = money.cents_to_text(payment.amount_paid_cents)
    return f"{payment.payment_id}  {flagged}  {payment.review_reason or '-':<26} due {due:>10}  paid {paid:>10}"


def print_list(payments: Sequence[Payment], out: TextIO = sys.stdout) -> None:
    if not payments:
        print("No payments need review.", file=out)
        return
    print(f"{'payment':36}  {'flagged at':20}  {'reason':26} {'amount due':>14}  {'paid':>15}", file=out)
    for payment in payments:
        print(_summary(payment), file=out)


def print_case(case: ReviewCase, out: TextIO = sys.stdout) -> None:
    """The payment, every postback recorded for it, earlier decisions and candidate allocations.
    Only what the store keeps is shown: identifiers, amounts and Invoice Cloud's kept fields."""
    payment = case.payment
    print(f"payment   {payment.payment_id}", file=out)
    print(f"status    {payment.status.value}  reason {payment.review_reason or '-'}", file=out)
    print(
        f"created   {clock.timestamp(payment.created_at)}  session until {clock.timestamp(payment.session_expires_at)}",
        file=out,
    )
    print(f"Invoice Cloud ids {', '.join(review.known_payment_guids(case)) or '-'}", file=out)
    print("invoices (account/invoice: due, paid)", file=out)
    for line in payment.lines:
        print(
            f"  {line.account_number}/{line.invoice_number}: {money.cents_to_text(line.due_cents)}, "
            f"{money.cents_to_text(line.paid_cents)}"
            f"{'  (partial payments allowed)' if line.allow_partial else ''}"
            # Ops refunding a duplicate_payment need to know the bill was offered less the account's credit.
            + (
                f"  (due after {money.cents_to_text(line.account_credit_cents)} of the account's credit)"
                if line.account_credit_cents
                else ""
            ),
            file=out,
        )
    print(f"postbacks ({len(case.record.postbacks)})", file=out)
    for key, record in sorted(case.record.postbacks.items(), key=lambda item: item[1].received_at):
        fields = case.record.postback_fields.get(key, {})
        shown = ", ".join(f"{name}={value}" for name, value in sorted(fields.items()))
        reason = f" ({record.reason.value})" if record.reason else ""
        print(
            f"  {clock.timestamp(record.received_at)} {record.source} {record.outcome.value}{reason} key {key[:16]}…",
            file=out,
        )
        print(f"    {shown}", file=out)
    if case.record.reviews:
        print("decisions", file=out)
        for decision in case.record.reviews:
            print(f"  {decision['at']} {decision['decision']} by {decision['by']}: {decision['note']}", file=out)
    print("candidate allocations (what the rules make of each approval not applied)", file=out)
    if not case.candidates:
        print("  none", file=out)
    for candidate in case.candidates:
        credit = money.cents_to_text(candidate.credit_cents) if candidate.credit_cents is not None else "?"
        if candidate.allocation:
            parts = " ".join(f"{name}={money.cents_to_text(cents)}" for name, cents in candidate.allocation.items())
            print(f"  postback {candidate.postback_key[:16]}… credit {credit}: --allocation {parts}", file=out)
        else:
            reason = candidate.reason.value if candidate.reason else "?"
            print(
                f"  postback {candidate.postback_key[:16]}… credit {credit} naming "
                f"{candidate.invoice_number or 'no invoice'}: no allocation by the rules ({reason})",
                file=out,
            )


def run(
    action: str,
    *,
    payment_id: str | None,
    reason: str | None,
    allocation: Sequence[str],
    note: str,
    by: str | None,
    payment_guid: str | None = None,
) -> int:
    """One review command; the exit status (0 done, 1 refused, 2 bad arguments)."""
    try:
        if action == "list":
            print_list(review.list_reviews(reason))
            return 0
        assert payment_id is not None
        if action == "show":
            print_case(review.show_review(payment_id))
            return 0
        who = by or caller_identity()
        if action == "apply":
            try:
                cents = parse_allocation(allocation)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            payment = review.apply_review(payment_id, cents, note=note, by=who, payment_guid=payment_guid)
        else:
            payment = review.dismiss_review(payment_id, note=note, by=who)
    except review.ReviewRefusedError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"{payment.payment_id} is {payment.status.value}; decision recorded for {who}")
    return 0
