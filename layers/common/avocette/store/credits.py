"""Money's writes (DESIGN §6c, §6d): one transaction for what must happen together — a postback (or a
review decision, or a reversal) with its payment, each invoice's credit or reversal, the holds it
releases or cuts, and the ledger entry. A cancelled transaction is read and raised as a
:class:`PostbackRaceError` saying which part lost."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from avocette import clock
from avocette.domain.billing import Credit, CreditKind, InvoiceRef
from avocette.domain.ledger import LedgerEntry
from avocette.domain.payments import Payment
from avocette.domain.postbacks import (
    PostbackCredit,
    RecordedPostback,
)
from avocette.domain.reconciliation import PaymentFileRow, ReversalCredit, ReversalPlan
from avocette.store import keys
from avocette.store.billing import credit_to_item
from avocette.store.ledger import put_entry
from avocette.store.payment_items import postback_to_item, put_payment, release_hold, reversal_item
from avocette.store.table import (
    TransactionRaceError,
    dynamodb,
    error_code,
    serialize,
    serialize_value,
    store_errors,
    table_name,
    transact,
)

__all__ = [
    "PostbackRaceError",
    "credit_update",
    "record_postback",
    "record_postback_only",
    "record_reversal",
    "reversal_update",
    "transact_credits",
]


class PostbackRaceError(Exception):
    """A transaction that credits invoices was cancelled; says which of its parts lost the race:
    the postback (or review) item exists already, the payment changed, an invoice would be credited
    above its bill (``over_credit``: another payment paid it), or an invoice's hold is not this
    payment's any more (``holds_lost``: credit it without releasing the hold)."""

    def __init__(
        self,
        *,
        postback_exists: bool = False,
        payment_changed: bool = False,
        over_credit: frozenset[InvoiceRef] = frozenset(),
        holds_lost: frozenset[InvoiceRef] = frozenset(),
    ) -> None:
        super().__init__("transaction cancelled")
        self.postback_exists = postback_exists
        self.payment_changed = payment_changed
        self.over_credit = over_credit
        self.holds_lost = holds_lost


def credit_update(
    payment_id: str,
    credit: PostbackCredit,
    approved_at: datetime,
    *,
    release: bool,
    payment_guid: str = "",
    hold_until: datetime | None = None,
) -> dict[str, Any]:
    """One invoice's credit: a new entry in ``credits``, ``unpaidCents`` lowered and
    ``unreflectedCents`` raised by its cents, on condition that the invoice is open and can take it:
    no invoice is credited above its bill across payments (DESIGN §6c), nor above its bill less the
    account credit its payment line was lowered by (``credit.needs_unpaid_cents``, DESIGN §5: a credit
    balance is netted from one payment only). With ``release``, this
    payment's hold goes too; with ``hold_until``, it is cut to then (either way it must still be its
    own). ``ALL_OLD`` on failure tells the two apart."""
    entry = credit_to_item(
        Credit(payment_id=payment_id, cents=credit.cents, approved_at=approved_at, payment_guid=payment_guid)
    )
    sets = ["credits.#credit = :entry"]
    # Money arrived: whatever its last session said, the invoice's warning about it goes.
    removes = ["endedWithoutResultAt"]
    condition = "attribute_exists(credits) AND attribute_not_exists(closedAt) AND unpaidCents >= :needs"
    values: dict[str, Any] = {
        ":entry": serialize_value(entry),
        ":cents": serialize_value(credit.cents),
        ":minus": serialize_value(-credit.cents),
        ":needs": serialize_value(credit.needs_unpaid_cents),
    }
    if release or hold_until is not None:
        condition += " AND openPaymentId = :pid"
        values[":pid"] = {"S": payment_id}
    if release:
        removes += ["openPaymentId", "openUntil"]
    elif hold_until is not None:
        sets.append("openUntil = :until")
        values[":until"] = {"S": clock.timestamp(hold_until)}
    update = f"SET {', '.join(sets)} ADD unpaidCents :minus, unreflectedCents :cents REMOVE {', '.join(removes)}"
    return {
        "Update": {
            "TableName": table_name(),
            "Key": keys.invoice_key(credit.ref.account_number, credit.ref.invoice_number),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#credit": credit.credit_id},
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


# One item of a money transaction: its role (head, credit, correction, hold, ledger), its invoice, the item.
_Part = tuple[str, InvoiceRef | None, dict[str, Any]]


def transact_credits(
    head: list[dict[str, Any]],
    *,
    payment_id: str,
    credits: Sequence[PostbackCredit],
    approved_at: datetime,
    keep_holds: Iterable[InvoiceRef] = (),
    ledger: Sequence[LedgerEntry] = (),
    payment_guid: str = "",
    corrections: Sequence[tuple[str, ReversalCredit]] = (),
    shorten_holds: Sequence[InvoiceRef] = (),
    hold_until: datetime | None = None,
    release_holds: Sequence[InvoiceRef] = (),
) -> None:
    """One transaction: ``head`` (an audit item that must be new, then the payment at the version read),
    each invoice's credit, each correction (a review taking back a credit: (payment id, entry)), this
    payment's holds on ``shorten_holds`` cut to ``hold_until`` and those on ``release_holds`` removed
    (none of ``keep_holds``, known to be another session's now), and the ledger entries of this money.
    Raises :class:`PostbackRaceError` saying which parts lost."""
    kept = set(keep_holds)
    shorten = {ref for ref in shorten_holds if ref not in kept} if hold_until is not None else set()
    released = {ref for ref in release_holds if ref not in kept}
    # One item per invoice in a transaction: a credited or corrected invoice's hold changes with it.
    parts: list[_Part] = [("head", None, item) for item in head]
    for credit in credits:
        release = credit.releases_hold and credit.ref not in kept
        cut = hold_until if credit.ref in shorten and not release else None
        update = credit_update(
            payment_id, credit, approved_at, release=release, payment_guid=payment_guid, hold_until=cut
        )
        parts.append(("credit", credit.ref, update))
    for guid, correction in corrections:
        releases = payment_id if correction.ref in released else None
        update = reversal_update(payment_id, correction, "CORRECTION", approved_at, guid, release_hold_of=releases)
        parts.append(("correction", correction.ref, update))
    touched = {ref for _, ref, _ in parts if ref is not None}
    for ref in sorted(shorten - touched, key=str):
        parts.append(("hold", ref, _shorten_hold(ref, payment_id, hold_until or approved_at)))
    for ref in sorted(released - touched, key=str):
        parts.append(("correction", ref, release_hold(ref, payment_id)))
    parts.extend(("ledger", None, put_entry(entry)) for entry in ledger if entry.invoices)
    try:
        transact([item for _, _, item in parts])
    except TransactionRaceError as race:
        if race.conflict:
            raise PostbackRaceError(payment_changed=True) from None
        raise _race_of(race, parts, {credit.ref: credit.needs_unpaid_cents for credit in credits}) from None


def _race_of(
    race: TransactionRaceError,
    parts: Sequence[tuple[str, InvoiceRef | None, dict[str, Any]]],
    needs: Mapping[InvoiceRef, int],
) -> PostbackRaceError:
    """Which parts of a cancelled money transaction lost: the audit or postback item existed; the
    payment, or a credit a correction takes from, changed; an invoice would be credited above its bill
    (``over_credit``: less unpaid than ``needs`` says its credit needs); a hold is not this payment's
    any more (``holds_lost``)."""
    reasons = race.reasons_for(len(parts))
    over_credit: set[InvoiceRef] = set()
    holds_lost: set[InvoiceRef] = set()
    changed = False
    for position, (role, ref, _) in enumerate(parts):
        if reasons[position] == "None" or ref is None:
            continue
        if role == "credit":
            old = race.old_item(position) or {}
            if "closedAt" in old or int(old.get("unpaidCents", 0)) < needs[ref] or "credits" not in old:
                over_credit.add(ref)
            else:
                holds_lost.add(ref)
        elif role == "hold":
            holds_lost.add(ref)
        else:
            changed = True
    head = [reason for (role, _, _), reason in zip(parts, reasons, strict=True) if role == "head"]
    return PostbackRaceError(
        postback_exists=bool(head) and head[0] == "ConditionalCheckFailed",
        payment_changed=changed or any(reason != "None" for reason in head[1:]),
        over_credit=frozenset(over_credit),
        holds_lost=frozenset(holds_lost),
    )


def _shorten_hold(ref: InvoiceRef, payment_id: str, until: datetime) -> dict[str, Any]:
    """This payment's hold on an invoice, cut to ``until`` (cancelled, ALL_OLD, when it is not its own)."""
    return {
        "Update": {
            "TableName": table_name(),
            "Key": keys.invoice_key(ref.account_number, ref.invoice_number),
            "UpdateExpression": "SET openUntil = :until",
            "ConditionExpression": "openPaymentId = :pid",
            "ExpressionAttributeValues": {":pid": {"S": payment_id}, ":until": {"S": clock.timestamp(until)}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _postback_put(payment_id: str, record: RecordedPostback, fields: Mapping[str, str]) -> dict[str, Any]:
    return {
        "TableName": table_name(),
        "Item": serialize(postback_to_item(payment_id, record, fields)),
        "ConditionExpression": "attribute_not_exists(SK)",
    }


def record_postback(
    *,
    before: Payment,
    after: Payment,
    record: RecordedPostback,
    fields: Mapping[str, str],
    credits: Sequence[PostbackCredit],
    keep_holds: Iterable[InvoiceRef] = (),
    ledger: LedgerEntry | None = None,
    shorten_holds: Sequence[InvoiceRef] = (),
    hold_until: datetime | None = None,
) -> None:
    """One transaction: the postback (new only), the payment (at the version read), each credited
    invoice's new credit, its ledger entry, the holds of invoices it paid in full (except
    ``keep_holds``, known to be another session's now) and those of ``shorten_holds`` cut to
    ``hold_until``.

    Raises :class:`PostbackRaceError` saying which parts lost: the postback was already recorded,
    the payment changed, an invoice would be credited above its bill, or a hold is not ours."""
    head = [
        {"Put": _postback_put(before.payment_id, record, fields)},
        put_payment(after, expected_version=before.version),
    ]
    transact_credits(
        head,
        payment_id=before.payment_id,
        credits=credits,
        approved_at=record.received_at,
        keep_holds=keep_holds,
        ledger=[ledger] if ledger is not None and credits else [],
        payment_guid=record.postback.payment_guid,
        shorten_holds=shorten_holds,
        hold_until=hold_until,
    )


def record_postback_only(payment_id: str, record: RecordedPostback, fields: Mapping[str, str]) -> bool:
    """The postback alone (new only), for one that changes neither its payment's status nor its money
    (a decline once the payment has moved on): it costs no write on the payment, so a burst of them
    never contends with the postbacks that do. False when it was recorded already."""
    try:
        with store_errors():
            dynamodb().put_item(**_postback_put(payment_id, record, fields))
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def reversal_update(
    payment_id: str,
    reversal: ReversalCredit,
    kind: CreditKind,
    at: datetime,
    guid: str,
    *,
    release_hold_of: str | None = None,
) -> dict[str, Any]:
    """A reversal (or a review's correction) on one invoice: its own negative credit, the reversed
    cents of each credit it takes from, and ``unpaidCents`` raised by what it took (the invoice is
    due again). With ``release_hold_of``, that payment's hold goes too (and must be its own).

    A chargeback reversal (``reversal.restores``) is the converse: its own positive credit, the
    reversed cents of the credits it gives back to lowered, ``unpaidCents`` lowered, on condition
    that the invoice can take it (it was not paid again meanwhile: DESIGN §6c's cross-payment check,
    the account credit of DESIGN §5 included; ``ALL_OLD`` on failure tells)."""
    sign = 1 if reversal.restores else -1
    entry = credit_to_item(
        Credit(
            payment_id=payment_id,
            cents=sign * reversal.cents,
            approved_at=at,
            kind=kind,
            payment_guid=guid,
            reverses=next(iter(reversal.taken)),
        )
    )
    sets = ["credits.#reversal = :entry"]
    names = {"#reversal": reversal.credit_key}
    values: dict[str, Any] = {
        ":entry": serialize_value(entry),
        ":cents": serialize_value(-sign * reversal.cents),
        ":minus": serialize_value(sign * reversal.cents),
    }
    conditions = ["attribute_not_exists(credits.#reversal)"]
    if reversal.restores:
        conditions.append("unpaidCents >= :back")
        values[":back"] = serialize_value(reversal.needs_unpaid_cents)
    for position, (key, reversed_after) in enumerate(sorted(reversal.reversed_after.items())):
        names[f"#c{position}"] = key
        sets.append(f"credits.#c{position}.reversedCents = :r{position}")
        values[f":r{position}"] = serialize_value(reversed_after)
        conditions.append(f"attribute_exists(credits.#c{position})")
    update = "SET " + ", ".join(sets) + " ADD unpaidCents :cents, unreflectedCents :minus"
    if release_hold_of is not None:
        update += " REMOVE openPaymentId, openUntil"
        conditions.append("openPaymentId = :pid")
        values[":pid"] = {"S": release_hold_of}
    return {
        "Update": {
            "TableName": table_name(),
            "Key": keys.invoice_key(reversal.ref.account_number, reversal.ref.invoice_number),
            "UpdateExpression": update,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def record_reversal(
    *, before: Payment, plan: ReversalPlan, row: PaymentFileRow, file_key: str, at: datetime,
    ledger: LedgerEntry | None, replaying: str | None = None,
) -> None:  # fmt: skip
    """One transaction: the reversal's record (new only: a file listing it again changes nothing; or,
    ``replaying`` a reversal recorded earlier with that outcome, its record updated on condition that
    it still has it), the payment at the version read, each invoice's reversal and the ledger entry.
    Raises :class:`PostbackRaceError` (``postback_exists`` when the reversal was recorded, or replayed,
    already)."""
    key = {"PK": keys.payment_pk(before.payment_id), "SK": keys.reversal_sk(plan.identity)}
    record: dict[str, Any]
    if replaying is None:
        record = {
            "Put": {
                "TableName": table_name(),
                "Item": serialize({**key, **reversal_item(row, file_key, plan.outcome, at)}),
                "ConditionExpression": "attribute_not_exists(SK)",
            }
        }
    else:
        record = {
            "Update": {
                "TableName": table_name(),
                "Key": serialize(key),
                "UpdateExpression": "SET outcome = :outcome, replayedAt = :at",
                "ConditionExpression": "outcome = :was",
                "ExpressionAttributeValues": {
                    ":outcome": {"S": plan.outcome.value},
                    ":at": {"S": clock.timestamp(at)},
                    ":was": {"S": replaying},
                },
            }
        }
    items: list[dict[str, Any]] = [record, put_payment(plan.after, expected_version=before.version)]
    kind: CreditKind = row.kind.value  # a reversal row's kind is a credit's
    guid = row.payment_guid
    items.extend(reversal_update(before.payment_id, credit, kind, at, guid) for credit in plan.credits)
    if ledger is not None and plan.credits:
        items.append(put_entry(ledger))
    try:
        transact(items)
    except TransactionRaceError as race:
        reasons = race.reasons_for(len(items))
        # A chargeback reversal refused because its invoice was paid again meanwhile: for review.
        refused = frozenset(
            credit.ref
            for position, credit in enumerate(plan.credits, start=2)
            if credit.restores
            and reasons[position] == "ConditionalCheckFailed"
            and int((race.old_item(position) or {}).get("unpaidCents", 0)) < credit.needs_unpaid_cents
        )
        raise PostbackRaceError(
            postback_exists=reasons[0] == "ConditionalCheckFailed", payment_changed=not refused, over_credit=refused
        ) from None
