"""Payments and their postbacks: conditional writes and the transactions of DESIGN §6.

Every state change is conditional: a payment is created only if new, changed only at the version it
was read at; an invoice is held by an open session only if no other session holds it. What must
happen together (a payment and its invoices' holds; a postback, its payment and its credits) is one
``TransactWriteItems``; a cancelled transaction is read and raised as a typed error.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from avocette import clock
from avocette.domain.billing import Credit, Invoice, InvoiceRef
from avocette.domain.ledger import LedgerEntry
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus, Reversal
from avocette.domain.postbacks import (
    Outcome,
    PostbackCredit,
    PostbackValues,
    ReceivedPostback,
    RecordedPostback,
    ReviewReason,
)
from avocette.domain.reconciliation import ReversalCredit, ReversalPlan
from avocette.errors import StoreUnavailableError
from avocette.store import keys, ratelimits
from avocette.store.billing import credit_to_item, get_items
from avocette.store.ledger import put_entry
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
    "PaymentRecord",
    "PostbackRaceError",
    "create_payment",
    "credit_update",
    "expire_payment",
    "get_payment",
    "get_payment_record",
    "get_payment_record_at",
    "get_payment_with_postbacks",
    "list_open_payments",
    "list_payments_for_review",
    "list_user_payments",
    "mark_failed",
    "mark_pending",
    "page_cursor",
    "payment_from_item",
    "payment_to_item",
    "postback_from_item",
    "postback_to_item",
    "put_payment",
    "record_postback",
    "record_postback_only",
    "record_reversal",
    "release_hold",
    "release_holds",
    "reversal_update",
    "start_key_of",
    "transact_credits",
]


class InvoiceHoldConflictError(Exception):
    """An invoice is held by another open session, or changed since it was read."""


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


# ---- items ----------------------------------------------------------------------------------------


def _gsi2(payment: Payment) -> tuple[str | None, str | None]:
    """``OPEN`` while the payer may still pay; ``REVIEW`` while a person must settle it; ``DAY#{date}``
    once final otherwise; neither before that."""
    if payment.status.holds_session:
        return keys.OPEN_PAYMENTS, f"{clock.timestamp(payment.session_expires_at)}#{payment.payment_id}"
    if payment.status is PaymentStatus.NEEDS_REVIEW:
        flagged = payment.flagged_at or payment.completed_at or payment.created_at
        return keys.REVIEW_QUEUE, f"{clock.timestamp(flagged)}#{payment.payment_id}"
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
        "authorization": payment.authorization,
        "completedAt": clock.timestamp(payment.completed_at) if payment.completed_at else None,
        "reviewReason": payment.review_reason,
        "flaggedAt": clock.timestamp(payment.flagged_at) if payment.flagged_at else None,
        "email": payment.email,
        "reversals": [
            {
                "identity": reversal.identity,
                "kind": reversal.kind,
                "cents": reversal.cents,
                "at": clock.timestamp(reversal.at),
                "paymentGuid": reversal.payment_guid,
                "invoices": dict(reversal.invoices),
            }
            for reversal in payment.reversals
        ]
        or None,
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
        authorization=item.get("authorization"),
        completed_at=clock.parse_timestamp(item["completedAt"]) if item.get("completedAt") else None,
        review_reason=item.get("reviewReason"),
        flagged_at=clock.parse_timestamp(item["flaggedAt"]) if item.get("flaggedAt") else None,
        email=item.get("email"),
        reversals=tuple(
            Reversal(
                identity=entry["identity"],
                kind=entry["kind"],
                cents=entry["cents"],
                at=clock.parse_timestamp(entry["at"]),
                payment_guid=entry.get("paymentGuid", ""),
                invoices=entry.get("invoices", {}),
            )
            for entry in item.get("reversals") or ()
        ),
        failure_reason=item.get("failureReason"),
        version=item.get("version", 0),
    )


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def postback_to_item(payment_id: str, record: RecordedPostback, fields: Mapping[str, str]) -> dict[str, Any]:
    """A postback as stored: the kept fields as received (for people), what they were read as (for
    the rules), the digest of the read values, what came of it and where it came from (Invoice
    Cloud's postback, or its payment file: a lost postback recovered)."""
    postback = record.postback
    values = postback.values
    return {
        "PK": keys.payment_pk(payment_id),
        "SK": keys.postback_sk(record.key),
        "fields": dict(fields),
        "read": _without_none(
            {
                "identity": postback.identity,
                "paymentGuid": postback.payment_guid,
                "approved": values.approved,
                "invoiceNumber": values.invoice_number,
                "amountCents": values.amount_cents,
                "feeCents": values.fee_cents,
                "paymentTypeId": values.payment_type_id,
                "billerReference": values.biller_reference,
                "billerGuid": values.biller_guid,
                "creditCents": postback.credit_cents,
                "paymentMethod": postback.payment_method,
                "cardType": postback.card_type,
                "authorization": postback.authorization,
                "paymentDate": postback.payment_date,
                "problem": postback.problem,
                "accountNumber": postback.account_number or None,
            }
        ),
        "digest": values.digest,
        "allocation": dict(record.allocation) or None,
        "outcome": record.outcome.value,
        "reason": record.reason.value if record.reason else None,
        "receivedAt": clock.timestamp(record.received_at),
        "source": record.source,
    }


def postback_from_item(item: Mapping[str, Any]) -> RecordedPostback:
    """A stored postback as the rules see it."""
    read = item.get("read", {})
    values = PostbackValues(
        approved=read.get("approved"),
        invoice_number=read.get("invoiceNumber", ""),
        amount_cents=read.get("amountCents"),
        fee_cents=read.get("feeCents"),
        payment_type_id=read.get("paymentTypeId", ""),
        biller_reference=read.get("billerReference", ""),
        biller_guid=read.get("billerGuid", ""),
    )
    key = str(item["SK"]).removeprefix(keys.POSTBACK_PREFIX)
    postback = ReceivedPostback(
        identity=read.get("identity", key),
        payment_guid=read.get("paymentGuid", ""),
        values=values,
        credit_cents=read.get("creditCents"),
        payment_method=read.get("paymentMethod"),
        card_type=read.get("cardType", ""),
        authorization=read.get("authorization", ""),
        payment_date=read.get("paymentDate", ""),
        problem=read.get("problem"),
        account_number=read.get("accountNumber", ""),
    )
    return RecordedPostback(
        key=key,
        postback=postback,
        outcome=Outcome(item["outcome"]),
        reason=ReviewReason(item["reason"]) if item.get("reason") else None,
        received_at=clock.parse_timestamp(item["receivedAt"]),
        source=item.get("source", "postback"),
        allocation=dict(item.get("allocation") or {}),
    )


# ---- reads ----------------------------------------------------------------------------------------


def get_payment(payment_id: str) -> Payment | None:
    with store_errors():
        answer = dynamodb().get_item(TableName=table_name(), Key=keys.payment_key(payment_id), ConsistentRead=True)
    raw = answer.get("Item")
    return payment_from_item(deserialize(raw)) if raw else None


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


def put_payment(payment: Payment, *, expected_version: int | None) -> dict[str, Any]:
    """A Put of the whole payment: new (no such item) or at the version it was read at."""
    put: dict[str, Any] = {"TableName": table_name(), "Item": serialize(payment_to_item(payment))}
    if expected_version is None:
        put["ConditionExpression"] = "attribute_not_exists(PK)"
    else:
        put["ConditionExpression"] = "version = :expected"
        put["ExpressionAttributeValues"] = {":expected": serialize_value(expected_version)}
    return {"Put": put}


def release_hold(ref: InvoiceRef, payment_id: str, *, ended_without_result: datetime | None = None) -> dict[str, Any]:
    """Remove this payment's hold on an invoice; cancelled (ALL_OLD) when the hold is not its own.
    ``ended_without_result``: the session expired with no result from Invoice Cloud, noted on the
    invoice (the portal warns before it is paid again)."""
    values: dict[str, Any] = {":pid": {"S": payment_id}}
    update = "REMOVE openPaymentId, openUntil"
    if ended_without_result is not None:
        update = "SET endedWithoutResultAt = :ended " + update
        values[":ended"] = {"S": clock.timestamp(ended_without_result)}
    return {
        "Update": {
            "TableName": table_name(),
            "Key": keys.invoice_key(ref.account_number, ref.invoice_number),
            "UpdateExpression": update,
            "ConditionExpression": "openPaymentId = :pid",
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


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
    pending = payment.model_copy(
        update={"status": PaymentStatus.PENDING, "payment_url": payment_url, "version": payment.version + 1}
    )
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
    failed = payment.model_copy(
        update={
            "status": PaymentStatus.FAILED,
            "failure_reason": reason,
            "completed_at": now,
            "version": payment.version + 1,
        }
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
    no invoice is credited above its bill across payments (DESIGN §6c). With ``release``, this
    payment's hold goes too; with ``hold_until``, it is cut to then (either way it must still be its
    own). ``ALL_OLD`` on failure tells the two apart."""
    entry = credit_to_item(
        Credit(payment_id=payment_id, cents=credit.cents, approved_at=approved_at, payment_guid=payment_guid)
    )
    sets = ["credits.#credit = :entry"]
    # Money arrived: whatever its last session said, the invoice's warning about it goes.
    removes = ["endedWithoutResultAt"]
    condition = "attribute_exists(credits) AND attribute_not_exists(closedAt) AND unpaidCents >= :cents"
    values: dict[str, Any] = {
        ":entry": serialize_value(entry),
        ":cents": serialize_value(credit.cents),
        ":minus": serialize_value(-credit.cents),
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
        raise _race_of(race, parts, {credit.ref: credit.cents for credit in credits}) from None


def _race_of(
    race: TransactionRaceError,
    parts: Sequence[tuple[str, InvoiceRef | None, dict[str, Any]]],
    cents: Mapping[InvoiceRef, int],
) -> PostbackRaceError:
    """Which parts of a cancelled money transaction lost: the audit or postback item existed; the
    payment, or a credit a correction takes from, changed; an invoice would be credited above its bill
    (``over_credit``); a hold is not this payment's any more (``holds_lost``)."""
    reasons = race.reasons_for(len(parts))
    over_credit: set[InvoiceRef] = set()
    holds_lost: set[InvoiceRef] = set()
    changed = False
    for position, (role, ref, _) in enumerate(parts):
        if reasons[position] == "None" or ref is None:
            continue
        if role == "credit":
            old = race.old_item(position) or {}
            if "closedAt" in old or int(old.get("unpaidCents", 0)) < cents[ref] or "credits" not in old:
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
    payment_id: str, reversal: ReversalCredit, kind: str, at: datetime, guid: str, *, release_hold_of: str | None = None
) -> dict[str, Any]:
    """A reversal (or a review's correction) on one invoice: its own negative credit, the reversed
    cents of each credit it takes from, and ``unpaidCents`` raised by what it took (the invoice is
    due again). With ``release_hold_of``, that payment's hold goes too (and must be its own)."""
    entry = credit_to_item(
        Credit(
            payment_id=payment_id,
            cents=-reversal.cents,
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
        ":cents": serialize_value(reversal.cents),
        ":minus": serialize_value(-reversal.cents),
    }
    conditions = ["attribute_not_exists(credits.#reversal)"]
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
        }
    }


def record_reversal(
    *, before: Payment, plan: ReversalPlan, audit: Mapping[str, Any], kind: str, guid: str, at: datetime,
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
                "Item": serialize({**key, **audit}),
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
    items.extend(reversal_update(before.payment_id, credit, kind, at, guid) for credit in plan.credits)
    if ledger is not None and plan.credits:
        items.append(put_entry(ledger))
    try:
        transact(items)
    except TransactionRaceError as race:
        reasons = race.reasons_for(len(items))
        raise PostbackRaceError(postback_exists=reasons[0] == "ConditionalCheckFailed", payment_changed=True) from None
