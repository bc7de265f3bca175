"""Payments and their postbacks: conditional writes and the transactions of DESIGN §6.

Every state change is conditional: a payment is created only if new, changed only at the version it
was read at; an invoice is held by an open session only if no other session holds it. What must
happen together (a payment and its invoices' holds; a postback, its payment and its credits) is one
``TransactWriteItems``; a cancelled transaction is read and raised as a typed error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from avocette import clock
from avocette.domain.billing import Invoice, InvoiceRef
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.store import keys
from avocette.store.table import (
    TransactionRaceError,
    deserialize,
    dynamodb,
    error_code,
    query_items,
    serialize,
    serialize_value,
    store_errors,
    table_name,
    transact,
)

__all__ = [
    "InvoiceHoldConflictError",
    "PaymentPage",
    "PostbackRaceError",
    "PostbackRecord",
    "create_payment",
    "get_payment",
    "get_payment_with_postbacks",
    "list_user_payments",
    "mark_failed",
    "mark_pending",
    "payment_from_item",
    "payment_to_item",
    "record_postback",
]


class InvoiceHoldConflictError(Exception):
    """An invoice is held by another open session, or changed since it was read."""


class PostbackRaceError(Exception):
    """A postback's transaction was cancelled; says which of its parts lost the race."""

    def __init__(self, *, postback_exists: bool, payment_changed: bool, holds_lost: frozenset[InvoiceRef]) -> None:
        super().__init__("postback transaction cancelled")
        self.postback_exists = postback_exists
        self.payment_changed = payment_changed
        self.holds_lost = holds_lost


# ---- items ----------------------------------------------------------------------------------------


def _gsi2(payment: Payment) -> tuple[str | None, str | None]:
    """``OPEN`` while the payer may still pay; ``DAY#{date}`` once final; neither otherwise."""
    if payment.status.holds_session:
        return keys.OPEN_PAYMENTS, f"{clock.timestamp(payment.session_expires_at)}#{payment.payment_id}"
    if payment.status.final and payment.completed_at is not None:
        completed = clock.timestamp(payment.completed_at)
        return keys.finished_day_pk(completed[:10]), f"{completed}#{payment.payment_id}"
    return None, None


def payment_to_item(payment: Payment) -> dict[str, Any]:
    gsi2pk, gsi2sk = _gsi2(payment)
    created = clock.timestamp(payment.created_at)
    return {
        "PK": keys.payment_pk(payment.payment_id),
        "SK": keys.PAYMENT_SK,
        "paymentId": payment.payment_id,
        "sub": payment.sub,
        "status": payment.status.value,
        "lines": [
            {
                key: value
                for key, value in {
                    "accountNumber": line.account_number,
                    "invoiceNumber": line.invoice_number,
                    "dueCents": line.due_cents,
                    "paidCents": line.paid_cents,
                    "minimumCents": line.minimum_cents,
                    "allowPartial": line.allow_partial,
                }.items()
                if value is not None
            }
            for line in payment.lines
        ],
        "amountDueCents": payment.amount_due_cents,
        "amountPaidCents": payment.amount_paid_cents,
        "createdAt": created,
        "sessionExpiresAt": clock.timestamp(payment.session_expires_at),
        "paymentUrl": payment.payment_url,
        "icPaymentIds": list(payment.ic_payment_ids) or None,
        "convenienceFeeCents": payment.convenience_fee_cents,
        "paymentMethod": payment.payment_method,
        "cardType": payment.card_type,
        "completedAt": clock.timestamp(payment.completed_at) if payment.completed_at else None,
        "reviewReason": payment.review_reason,
        "failureReason": payment.failure_reason,
        "version": payment.version,
        "GSI1PK": keys.user_payments_pk(payment.sub),
        "GSI1SK": f"{created}#{payment.payment_id}",
        "GSI2PK": gsi2pk,
        "GSI2SK": gsi2sk,
    }


def payment_from_item(item: Mapping[str, Any]) -> Payment:
    return Payment(
        payment_id=item["paymentId"],
        sub=item["sub"],
        status=PaymentStatus(item["status"]),
        lines=tuple(
            PaymentLine(
                account_number=line["accountNumber"],
                invoice_number=line["invoiceNumber"],
                due_cents=line["dueCents"],
                paid_cents=line.get("paidCents", 0),
                minimum_cents=line.get("minimumCents"),
                allow_partial=line.get("allowPartial"),
            )
            for line in item["lines"]
        ),
        created_at=clock.parse_timestamp(item["createdAt"]),
        session_expires_at=clock.parse_timestamp(item["sessionExpiresAt"]),
        payment_url=item.get("paymentUrl"),
        ic_payment_ids=tuple(item.get("icPaymentIds") or ()),
        convenience_fee_cents=item.get("convenienceFeeCents", 0),
        payment_method=item.get("paymentMethod"),
        card_type=item.get("cardType"),
        completed_at=clock.parse_timestamp(item["completedAt"]) if item.get("completedAt") else None,
        review_reason=item.get("reviewReason"),
        failure_reason=item.get("failureReason"),
        version=item.get("version", 0),
    )


@dataclass(frozen=True)
class PostbackRecord:
    """A postback as stored: kept fields only, their digest, what came of it."""

    identity: str
    fields: Mapping[str, str]
    digest: str
    outcome: str
    reason: str | None
    received_at: datetime

    def to_item(self, payment_id: str) -> dict[str, Any]:
        return {
            "PK": keys.payment_pk(payment_id),
            "SK": keys.postback_sk(self.identity),
            "fields": dict(self.fields),
            "digest": self.digest,
            "outcome": self.outcome,
            "reason": self.reason,
            "receivedAt": clock.timestamp(self.received_at),
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> PostbackRecord:
        return cls(
            identity=str(item["SK"]).removeprefix(keys.POSTBACK_PREFIX),
            fields=item.get("fields", {}),
            digest=item["digest"],
            outcome=item["outcome"],
            reason=item.get("reason"),
            received_at=clock.parse_timestamp(item["receivedAt"]),
        )


# ---- reads ----------------------------------------------------------------------------------------


def get_payment(payment_id: str) -> Payment | None:
    with store_errors():
        answer = dynamodb().get_item(TableName=table_name(), Key=keys.payment_key(payment_id), ConsistentRead=True)
    raw = answer.get("Item")
    return payment_from_item(deserialize(raw)) if raw else None


def get_payment_with_postbacks(payment_id: str) -> tuple[Payment | None, dict[str, PostbackRecord]]:
    """One Query on ``PK = PAYMENT#{id}``: the payment and every postback recorded for it."""
    payment: Payment | None = None
    postbacks: dict[str, PostbackRecord] = {}
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
            record = PostbackRecord.from_item(item)
            postbacks[record.identity] = record
    return payment, postbacks


@dataclass(frozen=True)
class PaymentPage:
    payments: list[Payment]
    last_key: dict[str, Any] | None


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


# ---- writes ---------------------------------------------------------------------------------------


def _put_payment(payment: Payment, *, expected_version: int | None) -> dict[str, Any]:
    """A Put of the whole payment: new (no such item) or at the version it was read at."""
    put: dict[str, Any] = {"TableName": table_name(), "Item": serialize(payment_to_item(payment))}
    if expected_version is None:
        put["ConditionExpression"] = "attribute_not_exists(PK)"
    else:
        put["ConditionExpression"] = "version = :expected"
        put["ExpressionAttributeValues"] = {":expected": serialize_value(expected_version)}
    return {"Put": put}


def _release_hold(ref: InvoiceRef, payment_id: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table_name(),
            "Key": keys.invoice_key(ref.account_number, ref.invoice_number),
            "UpdateExpression": "REMOVE openPaymentId, openUntil",
            "ConditionExpression": "openPaymentId = :pid",
            "ExpressionAttributeValues": {":pid": {"S": payment_id}},
        }
    }


def create_payment(payment: Payment, invoices: Sequence[Invoice], now: datetime) -> None:
    """CREATED, in one transaction with every invoice's open-session hold. Each invoice must be as it
    was read (same ``billedAsOf``, same credits) and held by no other open session."""
    items = [_put_payment(payment, expected_version=None)]
    until = serialize_value(clock.timestamp(payment.session_expires_at))
    for invoice in invoices:
        items.append(
            {
                "Update": {
                    "TableName": table_name(),
                    "Key": keys.invoice_key(invoice.account_number, invoice.invoice_number),
                    "UpdateExpression": "SET openPaymentId = :pid, openUntil = :until",
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


def mark_pending(payment: Payment, payment_url: str) -> Payment:
    """CREATED -> PENDING with IC's URL. When a postback got there first, only the URL is added."""
    pending = payment.model_copy(
        update={"status": PaymentStatus.PENDING, "payment_url": payment_url, "version": payment.version + 1}
    )
    try:
        transact([_put_payment(pending, expected_version=payment.version)])
        return pending
    except TransactionRaceError:
        pass
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
    failed = payment.model_copy(
        update={
            "status": PaymentStatus.FAILED,
            "failure_reason": reason,
            "completed_at": now,
            "version": payment.version + 1,
        }
    )
    items = [_put_payment(failed, expected_version=payment.version)]
    items.extend(_release_hold(line.ref, payment.payment_id) for line in payment.lines)
    transact(items)
    return failed


def record_postback(
    *,
    before: Payment,
    after: Payment,
    record: PostbackRecord,
    credits: Mapping[InvoiceRef, int],
    approved_at: datetime,
    release: Iterable[InvoiceRef],
) -> None:
    """One transaction: the postback (new only), the payment (at the version read), each credited
    invoice's ``credits`` entry for this payment (its total), and the holds to release.

    Raises :class:`PostbackRaceError` saying which parts lost: the postback was already recorded,
    the payment changed, or an invoice's hold belongs to another session now."""
    payment_id = before.payment_id
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": table_name(),
                "Item": serialize(record.to_item(payment_id)),
                "ConditionExpression": "attribute_not_exists(SK)",
            }
        }
    ]
    if after != before:
        items.append(_put_payment(after, expected_version=before.version))
    else:
        items.append(
            {
                "ConditionCheck": {
                    "TableName": table_name(),
                    "Key": keys.payment_key(payment_id),
                    "ConditionExpression": "version = :expected",
                    "ExpressionAttributeValues": {":expected": serialize_value(before.version)},
                }
            }
        )
    invoice_refs: list[InvoiceRef] = []
    to_release = set(release)
    for ref, cents in credits.items():
        update = "SET credits.#pid = :credit"
        condition = "attribute_exists(credits)"
        values: dict[str, Any] = {
            ":credit": serialize_value({"cents": cents, "approvedAt": clock.timestamp(approved_at)})
        }
        if ref in to_release:
            update += " REMOVE openPaymentId, openUntil"
            condition += " AND openPaymentId = :pid"
            values[":pid"] = {"S": payment_id}
            to_release.discard(ref)
        invoice_refs.append(ref)
        items.append(
            {
                "Update": {
                    "TableName": table_name(),
                    "Key": keys.invoice_key(ref.account_number, ref.invoice_number),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#pid": payment_id},
                    "ExpressionAttributeValues": values,
                }
            }
        )
    for ref in sorted(to_release, key=str):
        invoice_refs.append(ref)
        items.append(_release_hold(ref, payment_id))
    try:
        transact(items)
    except TransactionRaceError as exc:
        reasons = exc.reasons + ["None"] * (len(items) - len(exc.reasons))
        if reasons == ["TransactionConflict"] + ["None"] * (len(items) - 1):
            raise PostbackRaceError(postback_exists=False, payment_changed=True, holds_lost=frozenset()) from None
        raise PostbackRaceError(
            postback_exists=reasons[0] == "ConditionalCheckFailed",
            payment_changed=reasons[1] != "None",
            holds_lost=frozenset(
                ref for ref, reason in zip(invoice_refs, reasons[2:], strict=True) if reason != "None"
            ),
        ) from None
