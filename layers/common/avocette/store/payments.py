"""Payments: reading them with their postbacks, reviews and reversals, and the writes of their life
cycle (DESIGN §6): created with their holds, pending, failed, expired. Money's writes are
``store.credits``; items are ``store.payment_items``.

Every state change is conditional: a payment is created only if new, changed only at the version it
was read at; an invoice is held by an open session only if no other session holds it. What must
happen together (a payment and its invoices' holds; a postback, its payment and its credits) is one
``TransactWriteItems``; a cancelled transaction is read and raised as a typed error.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from avocette import clock
from avocette.domain.billing import Invoice, InvoiceRef
from avocette.domain.payments import Payment, PaymentStatus
from avocette.domain.postbacks import (
    RecordedPostback,
)
from avocette.errors import StoreUnavailableError
from avocette.store import keys, ratelimits
from avocette.store.billing import get_items
from avocette.store.credits import PostbackRaceError
from avocette.store.payment_items import (
    payment_from_item,
    postback_from_item,
    put_payment,
    release_hold,
)
from avocette.store.table import (
    TransactionRaceError,
    deserialize,
    dynamodb,
    error_code,
    query_items,
    serialize_value,
    store_errors,
    table_name,
    transact,
)

__all__ = [
    "InvoiceHoldConflictError",
    "PaymentPage",
    "PaymentRecord",
    "create_payment",
    "expire_payment",
    "get_payment",
    "get_payment_record",
    "get_payment_record_at",
    "get_payment_with_postbacks",
    "get_payments",
    "list_open_payments",
    "list_payments_for_review",
    "list_user_payments",
    "mark_failed",
    "mark_pending",
    "page_cursor",
    "release_holds",
    "start_key_of",
]


class InvoiceHoldConflictError(Exception):
    """An invoice is held by another open session, or changed since it was read."""


# ---- items ----------------------------------------------------------------------------------------


# ---- reads ----------------------------------------------------------------------------------------


def get_payment(payment_id: str) -> Payment | None:
    with store_errors():
        answer = dynamodb().get_item(TableName=table_name(), Key=keys.payment_key(payment_id), ConsistentRead=True)
    raw = answer.get("Item")
    return payment_from_item(deserialize(raw)) if raw else None


def get_payments(payment_ids: Iterable[str]) -> dict[str, Payment]:
    """The payments of ``payment_ids`` that exist (one BatchGetItem per hundred, consistent reads)."""
    items = get_items(keys.payment_key(payment_id) for payment_id in set(payment_ids))
    found = (payment_from_item(item) for item in items)
    return {payment.payment_id: payment for payment in found}


@dataclass(frozen=True)
class PaymentRecord:
    """Everything stored under ``PAYMENT#{id}``: the payment, its postbacks (by key, with the kept
    fields as received) and its review decisions (oldest first)."""

    payment: Payment | None
    postbacks: dict[str, RecordedPostback]
    postback_fields: dict[str, dict[str, str]]
    reviews: list[dict[str, Any]]
    reversals: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def reviewed_money(self) -> dict[str, dict[str, int]]:
        """What review decisions moved (credits, and corrections as negative cents), by the Invoice
        Cloud payment id and invoice they moved it for."""
        money: dict[str, dict[str, int]] = {}
        for review in self.reviews:
            for guid, by_ref in (review.get("money") or {}).items():
                by_invoice = money.setdefault(guid, {})
                for ref, cents in by_ref.items():
                    by_invoice[ref] = by_invoice.get(ref, 0) + int(cents)
        return money


def get_payment_record(payment_id: str) -> PaymentRecord:
    """One Query on ``PK = PAYMENT#{id}``: the payment with its postbacks and reviews."""
    payment: Payment | None = None
    postbacks: dict[str, RecordedPostback] = {}
    fields: dict[str, dict[str, str]] = {}
    reviews: list[dict[str, Any]] = []
    reversals: dict[str, dict[str, Any]] = {}
    items = query_items(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.payment_pk(payment_id)}},
        ConsistentRead=True,
    )
    for item in items:
        sort_key = str(item["SK"])
        if sort_key == keys.PAYMENT_SK:
            payment = payment_from_item(item)
        elif sort_key.startswith(keys.POSTBACK_PREFIX):
            record = postback_from_item(item)
            postbacks[record.key] = record
            fields[record.key] = dict(item.get("fields") or {})
        elif sort_key.startswith(keys.REVIEW_PREFIX):
            reviews.append(item)
        elif sort_key.startswith(keys.REVERSAL_PREFIX):
            reversals[sort_key.removeprefix(keys.REVERSAL_PREFIX)] = item
    return PaymentRecord(
        payment=payment, postbacks=postbacks, postback_fields=fields, reviews=reviews, reversals=reversals
    )


def get_payment_record_at(payment_id: str, postback_keys: Iterable[str]) -> PaymentRecord:
    """The payment and only its postbacks recorded under ``postback_keys``, in one BatchGetItem
    (consistent reads): all a decision needs when it depends on no other postback (a decline), however
    many the payment has."""
    wanted = [keys.payment_key(payment_id)] + [
        {"PK": {"S": keys.payment_pk(payment_id)}, "SK": {"S": keys.postback_sk(key)}} for key in postback_keys
    ]
    payment: Payment | None = None
    postbacks: dict[str, RecordedPostback] = {}
    fields: dict[str, dict[str, str]] = {}
    for item in get_items(wanted):
        if item["SK"] == keys.PAYMENT_SK:
            payment = payment_from_item(item)
        else:
            record = postback_from_item(item)
            postbacks[record.key] = record
            fields[record.key] = dict(item.get("fields") or {})
    return PaymentRecord(payment=payment, postbacks=postbacks, postback_fields=fields, reviews=[])


def get_payment_with_postbacks(payment_id: str) -> tuple[Payment | None, dict[str, RecordedPostback]]:
    """One Query on ``PK = PAYMENT#{id}``: the payment and every postback recorded for it."""
    record = get_payment_record(payment_id)
    return record.payment, record.postbacks


@dataclass(frozen=True)
class PaymentPage:
    payments: list[Payment]
    last_key: dict[str, Any] | None


_POSITION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#[A-Za-z0-9-]{1,64}$")


def page_cursor(last_key: Mapping[str, Any]) -> str:
    """An opaque cursor for the page after ``last_key``: only the position inside the user's own GSI1
    partition (``{createdAt}#{paymentId}``). It needs no signing key: the partition always comes from
    the caller's token, so an altered cursor can only move within the caller's own payments."""
    position = str(last_key["GSI1SK"]["S"])
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def start_key_of(sub: str, cursor: str) -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor stands for, in ``sub``'s partition; ``None`` when it is not one."""
    try:
        position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    if len(cursor) > 200 or not _POSITION.match(position):
        return None
    payment_id = position.split("#", 1)[1]
    return {
        "GSI1PK": {"S": keys.user_payments_pk(sub)},
        "GSI1SK": {"S": position},
        "PK": {"S": keys.payment_pk(payment_id)},
        "SK": {"S": keys.PAYMENT_SK},
    }


def list_user_payments(sub: str, *, limit: int, start_key: dict[str, Any] | None) -> PaymentPage:
    """A user's payments, newest first, one page (GSI1)."""
    request: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": "GSI1",
        "KeyConditionExpression": "GSI1PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": keys.user_payments_pk(sub)}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if start_key:
        request["ExclusiveStartKey"] = start_key
    with store_errors():
        answer = dynamodb().query(**request)
    payments = [payment_from_item(deserialize(raw)) for raw in answer.get("Items", [])]
    return PaymentPage(payments=payments, last_key=answer.get("LastEvaluatedKey"))


def list_open_payments(expired_before: datetime) -> Iterator[Payment]:
    """Payments still open (CREATED, PENDING, DECLINED) whose session ended before
    ``expired_before``, oldest first (GSI2 ``OPEN``, eventually consistent: the writes that follow
    are conditional on the version read)."""
    items = query_items(
        TableName=table_name(),
        IndexName="GSI2",
        KeyConditionExpression="GSI2PK = :open AND GSI2SK < :cutoff",
        ExpressionAttributeValues={
            ":open": {"S": keys.OPEN_PAYMENTS},
            ":cutoff": {"S": clock.timestamp(expired_before)},
        },
    )
    return (payment_from_item(item) for item in items)


def list_payments_for_review() -> Iterator[Payment]:
    """Payments waiting for a person (NEEDS_REVIEW), oldest flag first (GSI2 ``REVIEW``)."""
    items = query_items(
        TableName=table_name(),
        IndexName="GSI2",
        KeyConditionExpression="GSI2PK = :review",
        ExpressionAttributeValues={":review": {"S": keys.REVIEW_QUEUE}},
    )
    return (payment_from_item(item) for item in items)


# ---- writes ---------------------------------------------------------------------------------------


def create_payment(payment: Payment, invoices: Sequence[Invoice], now: datetime, *, hold_until: datetime) -> None:
    """CREATED, in one transaction with every invoice's hold until ``hold_until``. Each invoice must
    be as it was read (same ``billedAsOf``, same credits) and held by no other open session."""
    items = [put_payment(payment, expected_version=None)]
    until = serialize_value(clock.timestamp(hold_until))
    for invoice in invoices:
        items.append(
            {
                "Update": {
                    "TableName": table_name(),
                    "Key": keys.invoice_key(invoice.account_number, invoice.invoice_number),
                    # A new session: the warning about the last one that ended without a result goes.
                    "UpdateExpression": "SET openPaymentId = :pid, openUntil = :until REMOVE endedWithoutResultAt",
                    "ConditionExpression": (
                        "attribute_exists(PK) AND billedAsOf = :asof AND size(credits) = :credits "
                        "AND (attribute_not_exists(openPaymentId) OR openUntil <= :now)"
                    ),
                    "ExpressionAttributeValues": {
                        ":pid": {"S": payment.payment_id},
                        ":until": until,
                        ":asof": {"S": clock.timestamp(invoice.billed_as_of)},
                        ":credits": serialize_value(len(invoice.credits)),
                        ":now": {"S": clock.timestamp(now)},
                    },
                }
            }
        )
    try:
        transact(items)
    except TransactionRaceError as exc:
        raise InvoiceHoldConflictError(str(exc)) from None


_PENDING_ATTEMPTS = 3


def mark_pending(payment: Payment, payment_url: str) -> Payment:
    """CREATED -> PENDING with IC's URL. When a postback got there first, only the URL is added."""
    pending = replace(payment, status=PaymentStatus.PENDING, payment_url=payment_url, version=payment.version + 1)
    for _ in range(_PENDING_ATTEMPTS):
        try:
            transact([put_payment(pending, expected_version=payment.version)])
            return pending
        except TransactionRaceError as race:
            if "ConditionalCheckFailed" in race.reasons:
                break  # the payment moved on (a postback): only the URL is missing
            # Cancelled without a condition failing (a conflict, throttling): the payment is as read.
    else:
        raise StoreUnavailableError("the payment's session could not be recorded")
    try:
        with store_errors():
            answer = dynamodb().update_item(
                TableName=table_name(),
                Key=keys.payment_key(payment.payment_id),
                UpdateExpression="SET paymentUrl = :url",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(paymentUrl)",
                ExpressionAttributeValues={":url": {"S": payment_url}},
                ReturnValues="ALL_NEW",
            )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        current = get_payment(payment.payment_id)
        if current is None:  # pragma: no cover - the item was created by this request
            raise
        return current
    return payment_from_item(deserialize(answer["Attributes"]))


def mark_failed(payment: Payment, reason: str, now: datetime) -> Payment:
    """CREATED -> FAILED, releasing every invoice's hold, in one transaction."""
    failed = replace(
        payment, status=PaymentStatus.FAILED, failure_reason=reason, completed_at=now, version=payment.version + 1
    )
    items = [put_payment(failed, expected_version=payment.version)]
    items.extend(release_hold(line.ref, payment.payment_id) for line in payment.lines)
    transact(items)
    return failed


_RELEASE_ATTEMPTS = 3


def expire_payment(before: Payment, after: Payment, now: datetime) -> Payment:
    """An abandoned session ends (``after`` is EXPIRED, read at ``before.version``): its holds go, each
    invoice noting that its session ended without a result, and the user's count of sessions left to
    expire today goes up, in one transaction (:func:`release_holds`)."""
    return release_holds(
        before, after, [line.ref for line in before.lines], head=[ratelimits.count_abandoned(before.sub, now)],
        ended_without_result=now,
    )  # fmt: skip


def release_holds(
    before: Payment,
    after: Payment,
    refs: Iterable[InvoiceRef],
    *,
    head: Sequence[dict[str, Any]] = (),
    ended_without_result: datetime | None = None,
) -> Payment:
    """``head`` (items that must be new, such as an audit item, or that cannot fail) and the payment at
    its new version (``after``, read at ``before.version``) with this payment's holds on ``refs``
    removed, in one transaction. A hold that is no longer this payment's is left alone (released already, or another
    session holds the invoice now) and the write is tried again without it.

    Raises :class:`PostbackRaceError` (``payment_changed``) when the payment moved on meanwhile, and
    :class:`StoreUnavailableError` when DynamoDB kept cancelling it for throttling: only a failed
    condition says that a hold is no longer this payment's."""
    pending = sorted(set(refs), key=str)
    throttled = 0
    while True:
        items = [*head, put_payment(after, expected_version=before.version)]
        items.extend(release_hold(ref, before.payment_id, ended_without_result=ended_without_result) for ref in pending)
        try:
            transact(items)
            return after
        except TransactionRaceError as race:
            reasons = race.reasons_for(len(items))
            if race.conflict:
                raise PostbackRaceError(payment_changed=True) from None
            if any(reason not in ("None", "ConditionalCheckFailed") for reason in reasons):
                throttled += 1  # cancelled for throttling (or another transient reason): nothing was decided
                if throttled >= _RELEASE_ATTEMPTS:
                    raise StoreUnavailableError("releasing the holds kept being throttled") from None
                continue
            if any(reason != "None" for reason in reasons[: len(head) + 1]):
                raise PostbackRaceError(payment_changed=True) from None
            lost = {ref for ref, reason in zip(pending, reasons[len(head) + 1 :], strict=True) if reason != "None"}
            pending = [ref for ref in pending if ref not in lost]
