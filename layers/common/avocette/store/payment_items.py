"""Payments and their postbacks as items (DESIGN §5), and the transaction items that write them: the
one place that maps a payment or a postback to and from DynamoDB. Reads and writes are elsewhere
(``store.payments``, ``store.credits``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from avocette import clock
from avocette.domain.billing import InvoiceRef
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus, Reversal
from avocette.domain.postbacks import (
    Outcome,
    PostbackValues,
    ReceivedPostback,
    RecordedPostback,
    ReviewReason,
)
from avocette.domain.reconciliation import PaymentFileRow, ReversalOutcome, RowKind
from avocette.store import keys
from avocette.store.table import (
    serialize,
    serialize_value,
    table_name,
)

__all__ = [
    "payment_from_item",
    "payment_to_item",
    "postback_from_item",
    "postback_to_item",
    "put_payment",
    "release_hold",
    "reversal_item",
    "reversal_row",
    "review_put",
]


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
                    "accountCreditCents": line.account_credit_cents or None,
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
                account_credit_cents=line.get("accountCreditCents", 0),
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
                "paidAt": clock.timestamp(postback.paid_at) if postback.paid_at else None,
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
        paid_at=clock.parse_timestamp(read["paidAt"]) if read.get("paidAt") else None,
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


def review_put(
    payment_id: str,
    review_id: str,
    *,
    decision: str,
    reason: str | None,
    at: datetime,
    by: str,
    note: str,
    allocation: Mapping[str, int],
    money: Mapping[str, Mapping[str, int]],
    payment_guid: str,
    credit_key: str | None,
) -> dict[str, Any]:
    """A review decision's audit item (new only), for the decision's transaction: who, when, what
    (the allocation by invoice key, negative where it took back), the money it moved by Invoice Cloud
    payment id and invoice, the payment id it settled, its credits' key, the note."""
    item = {
        "PK": keys.payment_pk(payment_id),
        "SK": keys.review_sk(review_id),
        "decision": decision,
        "by": by,
        "at": clock.timestamp(at),
        "note": note,
        "reason": reason,
        "allocation": dict(allocation) or None,
        "money": {guid: dict(cents) for guid, cents in money.items()} or None,
        "paymentGuid": payment_guid or None,
        "creditKey": credit_key,
    }
    return {
        "Put": {
            "TableName": table_name(),
            "Item": serialize(_without_none(item)),
            "ConditionExpression": "attribute_not_exists(SK)",
        }
    }


def reversal_row(payment_id: str, stored: Mapping[str, Any]) -> PaymentFileRow:
    """A recorded reversal (its ``REVERSAL#`` item) as the payment-file row it came from."""
    ref = InvoiceRef.from_key(str(stored["invoice"]))
    return PaymentFileRow(
        line=int(stored.get("line", 0)),
        kind=RowKind(stored["kind"]),
        payment_guid=str(stored.get("paymentGuid") or ""),
        biller_reference=payment_id,
        account_number=ref.account_number,
        invoice_number=ref.invoice_number,
        cents=int(stored["cents"]),
        fee_cents=0,
        at=clock.parse_timestamp(str(stored.get("occurredAt") or stored["at"])),
        reason_code=str(stored.get("reasonCode") or ""),
    )


def reversal_item(row: PaymentFileRow, file_key: str, outcome: ReversalOutcome, now: datetime) -> dict[str, Any]:
    """A reversal's record: the row it came from (kind, cents, invoice, payment id, reason code, file
    and line, when it happened) and what came of it (``outcome``), without its keys."""
    return {
        "kind": row.kind.value,
        "cents": row.cents,
        "invoice": row.ref,
        "paymentGuid": row.payment_guid,
        "reasonCode": row.reason_code or None,
        "file": file_key,
        "line": row.line,
        "outcome": outcome.value,
        "at": clock.timestamp(now),
        "occurredAt": clock.timestamp(row.at),
    }
