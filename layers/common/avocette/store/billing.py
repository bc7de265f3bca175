"""Accounts and invoices: reading them, and writing them as billing data describes them."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, overload

from botocore.exceptions import ClientError

from avocette import clock
from avocette.domain.billing import Account, Credit, Invoice, InvoiceRef, PostedThrough
from avocette.domain.changes import ChangeEvent
from avocette.store import keys, ratelimits
from avocette.store import links as links_store
from avocette.store.table import (
    deserialize,
    dynamodb,
    error_code,
    query_items,
    serialize,
    serialize_value,
    store_errors,
    table_name,
)

__all__ = [
    "PaymentReads",
    "account_from_item",
    "account_to_item",
    "close_absent_invoices",
    "credit_from_item",
    "credit_to_item",
    "get_account",
    "get_account_with_invoices",
    "get_accounts",
    "get_accounts_with_invoices",
    "get_invoice",
    "get_invoices",
    "get_items",
    "invoice_from_item",
    "invoice_to_item",
    "list_invoices",
    "mark_credit_exported",
    "put_account",
    "put_invoice",
    "read_for_payment",
    "update_account_from_billing",
    "update_invoice_from_billing",
]

_BATCH_GET_LIMIT = 100


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _parse_day(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _moment(value: Any) -> Any:
    return clock.parse_timestamp(value) if value else None


def account_to_item(account: Account) -> dict[str, Any]:
    return {
        "PK": keys.account_pk(account.account_number),
        "SK": keys.PROFILE,
        "accountNumber": account.account_number,
        "name": account.name,
        "address": account.address,
        "city": account.city,
        "state": account.state,
        "zip": account.zip,
        "email": account.email,
        "registrationHash": account.registration_hash or None,
        "billedAsOf": clock.timestamp(account.billed_as_of) if account.billed_as_of else None,
    }


def account_from_item(item: Mapping[str, Any]) -> Account:
    return Account(
        account_number=item["accountNumber"],
        name=item.get("name", ""),
        address=item.get("address", ""),
        city=item.get("city", ""),
        state=item.get("state", ""),
        zip=item.get("zip", ""),
        email=item.get("email", ""),
        registration_hash=item.get("registrationHash", ""),
        billed_as_of=_moment(item.get("billedAsOf")),
    )


def credit_to_item(credit: Credit) -> dict[str, Any]:
    """One entry of an invoice's ``credits`` map (only what is set: the map's entries stay small)."""
    entry: dict[str, Any] = {
        "paymentId": credit.payment_id,
        "cents": credit.cents,
        "approvedAt": clock.timestamp(credit.approved_at),
        "kind": credit.kind,
        "paymentGuid": credit.payment_guid or None,
        "reverses": credit.reverses,
        "reversedCents": credit.reversed_cents or None,
        "exportedAt": clock.timestamp(credit.exported_at) if credit.exported_at else None,
        "exportedDay": credit.exported_day.isoformat() if credit.exported_day else None,
        "reflectedAsOf": clock.timestamp(credit.reflected_as_of) if credit.reflected_as_of else None,
    }
    return {name: value for name, value in entry.items() if value is not None}


def credit_from_item(entry: Mapping[str, Any]) -> Credit:
    return Credit(
        payment_id=entry["paymentId"],
        cents=entry["cents"],
        approved_at=clock.parse_timestamp(entry["approvedAt"]),
        kind=entry.get("kind", "PAYMENT"),
        payment_guid=entry.get("paymentGuid", ""),
        reverses=entry.get("reverses"),
        reversed_cents=entry.get("reversedCents", 0),
        exported_at=_moment(entry.get("exportedAt")),
        exported_day=date.fromisoformat(entry["exportedDay"]) if entry.get("exportedDay") else None,
        reflected_as_of=_moment(entry.get("reflectedAsOf")),
    )


def invoice_to_item(invoice: Invoice) -> dict[str, Any]:
    return {
        "PK": keys.account_pk(invoice.account_number),
        "SK": keys.invoice_sk(invoice.invoice_number),
        "accountNumber": invoice.account_number,
        "invoiceNumber": invoice.invoice_number,
        "invoiceDate": _day(invoice.invoice_date),
        "dueDate": _day(invoice.due_date),
        "typeId": invoice.type_id,
        "ccServiceFeeCents": invoice.cc_service_fee_cents,
        "achServiceFeeCents": invoice.ach_service_fee_cents,
        "minimumAmountDueCents": invoice.minimum_amount_due_cents,
        "allowPartialPayments": invoice.allow_partial_payments,
        "billedCents": invoice.billed_cents,
        "billedAsOf": clock.timestamp(invoice.billed_as_of),
        "closedAt": clock.timestamp(invoice.closed_at) if invoice.closed_at else None,
        "credits": {key: credit_to_item(credit) for key, credit in invoice.credits.items()},
        "unpaidCents": invoice.unpaid_cents,
        "unreflectedCents": invoice.unreflected_cents,
        "openPaymentId": invoice.open_payment_id,
        "openUntil": clock.timestamp(invoice.open_until) if invoice.open_until else None,
        "endedWithoutResultAt": clock.timestamp(invoice.ended_without_result_at)
        if invoice.ended_without_result_at
        else None,
        "statementFile": invoice.statement_file,
    }


def invoice_from_item(item: Mapping[str, Any]) -> Invoice:
    return Invoice(
        account_number=item["accountNumber"],
        invoice_number=item["invoiceNumber"],
        invoice_date=_parse_day(item.get("invoiceDate")),
        due_date=_parse_day(item.get("dueDate")),
        type_id=item.get("typeId"),
        cc_service_fee_cents=item.get("ccServiceFeeCents"),
        ach_service_fee_cents=item.get("achServiceFeeCents"),
        minimum_amount_due_cents=item.get("minimumAmountDueCents"),
        allow_partial_payments=item.get("allowPartialPayments"),
        billed_cents=item["billedCents"],
        billed_as_of=clock.parse_timestamp(item["billedAsOf"]),
        closed_at=_moment(item.get("closedAt")),
        credits={key: credit_from_item(credit) for key, credit in (item.get("credits") or {}).items()},
        open_payment_id=item.get("openPaymentId"),
        open_until=_moment(item.get("openUntil")),
        ended_without_result_at=_moment(item.get("endedWithoutResultAt")),
        statement_file=item.get("statementFile") or None,
    )


def put_account(account: Account) -> None:
    with store_errors():
        dynamodb().put_item(TableName=table_name(), Item=serialize(account_to_item(account)))


def put_invoice(invoice: Invoice) -> None:
    with store_errors():
        dynamodb().put_item(TableName=table_name(), Item=serialize(invoice_to_item(invoice)))


def _batch_get(item_keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BatchGetItem with consistent reads, following UnprocessedKeys."""
    found: list[dict[str, Any]] = []
    client = dynamodb()
    name = table_name()
    for start in range(0, len(item_keys), _BATCH_GET_LIMIT):
        pending: dict[str, Any] = {name: {"Keys": item_keys[start : start + _BATCH_GET_LIMIT], "ConsistentRead": True}}
        while pending:
            with store_errors():
                answer = client.batch_get_item(RequestItems=pending)
            found.extend(deserialize(raw) for raw in answer.get("Responses", {}).get(name, []))
            pending = answer.get("UnprocessedKeys") or {}
    return found


def get_items(item_keys: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items at ``item_keys`` (any kinds, one BatchGetItem per hundred keys, consistent reads);
    missing ones are left out. Duplicate keys are read once."""
    unique = {(key["PK"]["S"], key["SK"]["S"]): key for key in item_keys}
    return _batch_get([unique[position] for position in sorted(unique)])


@dataclass(frozen=True)
class PaymentReads:
    """What starting a payment reads first, in one BatchGetItem: which of the invoices' accounts the
    user has linked, and how many sessions the user left to expire today. The accounts themselves are
    read once the user is known to own them (:func:`get_accounts_with_invoices`)."""

    linked: frozenset[str]
    abandoned_today: int = 0  # sessions the user left to expire today


def read_for_payment(sub: str, refs: Iterable[InvoiceRef], now: datetime) -> PaymentReads:
    """The user's links to the invoices' accounts and how many sessions the user left to expire
    today, in one BatchGetItem (consistent reads)."""
    numbers = sorted({ref.account_number for ref in refs})
    user = keys.user_pk(sub)
    items = get_items([*(keys.link_key(sub, number) for number in numbers), ratelimits.abandoned_key(sub, now)])
    linked = {str(item["SK"]).removeprefix(keys.ACCOUNT_PREFIX) for item in items if item["PK"] == user}
    abandoned = ratelimits.abandoned_count(sub, now, items)
    return PaymentReads(linked=frozenset(linked), abandoned_today=abandoned)


def get_accounts_with_invoices(account_numbers: Iterable[str]) -> dict[str, tuple[Account | None, list[Invoice]]]:
    """Each account's profile and every invoice of it (one Query per account, consistent): what an
    account owes depends on all its invoices, its credit invoices included (DESIGN §5)."""
    return {number: get_account_with_invoices(number) for number in sorted(set(account_numbers))}


def get_account_with_invoices(account_number: str) -> tuple[Account | None, list[Invoice]]:
    """An account's profile and every invoice of it, in invoice-number order: one Query, as they
    share the ``ACCOUNT#{number}`` partition."""
    account: Account | None = None
    invoices: list[Invoice] = []
    items = query_items(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.account_pk(account_number)}},
        ConsistentRead=True,
    )
    for item in items:
        sort_key = str(item["SK"])
        if sort_key == keys.PROFILE:
            account = account_from_item(item)
        elif sort_key.startswith(keys.INVOICE_PREFIX):
            invoices.append(invoice_from_item(item))
    return account, invoices


def get_accounts(account_numbers: Iterable[str]) -> dict[str, Account]:
    unique = sorted(set(account_numbers))
    items = _batch_get([keys.account_key(number) for number in unique])
    return {item["accountNumber"]: account_from_item(item) for item in items}


def get_account(account_number: str) -> Account | None:
    return get_accounts([account_number]).get(account_number)


def get_invoice(ref: InvoiceRef) -> Invoice | None:
    """One invoice, with one consistent GetItem (a function that reads one needs no BatchGetItem)."""
    with store_errors():
        answer = dynamodb().get_item(
            TableName=table_name(), Key=keys.invoice_key(ref.account_number, ref.invoice_number), ConsistentRead=True
        )
    item = answer.get("Item")
    return invoice_from_item(deserialize(item)) if item else None


def get_invoices(refs: Iterable[InvoiceRef]) -> dict[InvoiceRef, Invoice]:
    unique = sorted(set(refs), key=str)
    items = _batch_get([keys.invoice_key(ref.account_number, ref.invoice_number) for ref in unique])
    invoices = (invoice_from_item(item) for item in items)
    return {invoice.ref: invoice for invoice in invoices}


def list_invoices(account_number: str) -> list[Invoice]:
    """Every invoice of an account, in invoice-number order."""
    items = query_items(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={
            ":pk": {"S": keys.account_pk(account_number)},
            ":prefix": {"S": keys.INVOICE_PREFIX},
        },
        ConsistentRead=True,
    )
    return [invoice_from_item(item) for item in items]


# ---- writes from billing files ------------------------------------------------------------------
# A billing file writes only what it knows (its billed values), with UpdateItem rather than Put, so
# that credits from postbacks and the holds of open payment sessions are never overwritten. Every
# write is conditional on the file being newer than what is stored: an older file, the same file
# again, or S3 delivering events twice or out of order changes nothing.

# Attribute names come from account_to_item/invoice_to_item, so what is written is what is read back.
_ACCOUNT_BILLED = (
    "accountNumber",
    "name",
    "address",
    "city",
    "state",
    "zip",
    "email",
    "registrationHash",
    "billedAsOf",
)
_INVOICE_BILLED = (
    "accountNumber",
    "invoiceNumber",
    "invoiceDate",
    "dueDate",
    "typeId",
    "ccServiceFeeCents",
    "achServiceFeeCents",
    "minimumAmountDueCents",
    "allowPartialPayments",
    "billedCents",
    "billedAsOf",
    "statementFile",
)
_NEWER = "attribute_not_exists(#billedAsOf) OR #billedAsOf < :asOf"


class _Update:
    """An UpdateExpression in the making: SET and REMOVE clauses with their names and values."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.adds: list[str] = []
        self.names: dict[str, str] = {"#billedAsOf": "billedAsOf"}
        self.values: dict[str, Any] = {}

    def billed(self, item: Mapping[str, Any], attributes: Iterable[str]) -> _Update:
        """SET the attributes with a value, REMOVE those without: a value the file left blank must not
        stay behind from an older file."""
        for position, attribute in enumerate(attributes):
            name = f"#{attribute}"
            self.names[name] = attribute
            if item.get(attribute) is None:
                self.removes.append(name)
            else:
                self.sets.append(f"{name} = :v{position}")
                self.values[f":v{position}"] = serialize_value(item[attribute])
        return self

    def expression(self) -> str:
        text = "SET " + ", ".join(self.sets)
        text += " REMOVE " + ", ".join(self.removes) if self.removes else ""
        return text + (" ADD " + ", ".join(self.adds) if self.adds else "")

    @overload
    def apply_if(self, key: dict[str, Any], condition: str) -> bool: ...

    @overload
    def apply_if(self, key: dict[str, Any], condition: str, *, return_new: Literal[True]) -> dict[str, Any] | None: ...

    @overload
    def apply_if(self, key: dict[str, Any], condition: str, *, return_old: Literal[True]) -> dict[str, Any] | None: ...

    def apply_if(
        self, key: dict[str, Any], condition: str, *, return_new: bool = False, return_old: bool = False
    ) -> Any:
        """One conditional UpdateItem: True (or, with ``return_new``/``return_old``, the item as
        written or as it was) when written; False (``None``) when the condition kept it unchanged."""
        returned = "ALL_NEW" if return_new else "ALL_OLD" if return_old else "NONE"
        try:
            with store_errors():
                answer = dynamodb().update_item(
                    TableName=table_name(),
                    Key=key,
                    UpdateExpression=self.expression(),
                    ConditionExpression=condition,
                    ExpressionAttributeNames=self.names,
                    ExpressionAttributeValues=self.values,
                    ReturnValues=returned,
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None if returned != "NONE" else False
            raise
        if returned == "NONE":
            return True
        return deserialize(answer.get("Attributes") or {})


def update_account_from_billing(
    account: Account,
    *,
    removal_event: Callable[[str], ChangeEvent],
    on_new_proof: Callable[[int], None] | None = None,
) -> bool:
    """Write an account's profile as of ``account.billed_as_of``, unless newer data is stored.

    A blank registration hash removes the stored one: the file says the account cannot be proven.
    When the registration value changed (the account changed hands), the links proven with another
    value go (DESIGN §6b), each with its change-log event, ``removal_event(sub)`` (DESIGN §6g): a link
    lives as long as its proof; ``on_new_proof`` is told how many went.
    True when written, False when unchanged (newer data already stored)."""
    if account.billed_as_of is None:
        raise ValueError("a billed account needs its file's as-of time")
    item = account_to_item(account)
    # The links a new value ends go before the profile is written, then again after it (a link proven
    # between the two with the old value): were the profile written first, a failure or a crash before
    # the links went would leave them for good, as the file's retry finds the profile up to date.
    removed = _unlink_if_proof_changes(account, item["billedAsOf"], removal_event)
    update = _Update().billed(item, _ACCOUNT_BILLED)
    update.values[":asOf"] = serialize_value(item["billedAsOf"])
    before = update.apply_if(keys.account_key(account.account_number), _NEWER, return_old=True)
    if before is None:
        return False
    previous = before.get("registrationHash", "")
    if previous and previous != account.registration_hash:
        removed += links_store.remove_links_not_proven_by(
            account.account_number, account.registration_hash, removal_event
        )
    if removed and on_new_proof is not None:
        on_new_proof(removed)
    return True


def _unlink_if_proof_changes(account: Account, as_of: str, removal_event: Callable[[str], ChangeEvent]) -> int:
    """Remove the links not proven by ``account``'s registration value when this file will replace a
    stored, older profile whose value differs; how many went."""
    with store_errors():
        stored = (
            dynamodb()
            .get_item(
                TableName=table_name(),
                Key=keys.account_key(account.account_number),
                ProjectionExpression="#billedAsOf, registrationHash",
                ExpressionAttributeNames={"#billedAsOf": "billedAsOf"},
                ConsistentRead=True,
            )
            .get("Item")
        )
    if not stored:
        return 0
    current = deserialize(stored)
    previous = current.get("registrationHash", "")
    if not previous or previous == account.registration_hash or str(current.get("billedAsOf", "")) >= as_of:
        return 0
    return links_store.remove_links_not_proven_by(account.account_number, account.registration_hash, removal_event)


def update_invoice_from_billing(
    invoice: Invoice, *, settlement_lag_hours: int, posted_through: PostedThrough | None = None
) -> bool:
    """Write an invoice's billed values as of ``invoice.billed_as_of``, unless newer data is stored.

    Only billed values are written: ``credits`` is created empty when missing and never replaced,
    the open session (``openPaymentId``/``openUntil``) is left alone, and ``closedAt`` is removed (an
    invoice in a newer file is open again); the model's credits, hold and closure are ignored.
    ``unpaidCents`` becomes the new bill less the credits no file reflects yet; then the credits this
    file reflects (DESIGN §5) are marked so, each once, and leave ``unreflectedCents``. Until that
    second write, ``unpaidCents`` errs low, which can only refuse a credit, never allow one too many.
    True when written, False when unchanged (newer data already stored)."""
    item = invoice_to_item(invoice)
    update = _Update().billed(item, _INVOICE_BILLED)
    update.sets.extend(
        [
            "#credits = if_not_exists(#credits, :noCredits)",
            "#unreflected = if_not_exists(#unreflected, :zero)",
            "#unpaid = :billed - if_not_exists(#unreflected, :zero)",
        ]
    )
    update.removes.append("#closedAt")
    update.names.update(
        {"#credits": "credits", "#closedAt": "closedAt", "#unreflected": "unreflectedCents", "#unpaid": "unpaidCents"}
    )
    update.values.update(
        {
            ":asOf": serialize_value(item["billedAsOf"]),
            ":noCredits": {"M": {}},
            ":zero": serialize_value(0),
            ":billed": serialize_value(item["billedCents"]),
        }
    )
    key = keys.invoice_key(invoice.account_number, invoice.invoice_number)
    stored = update.apply_if(key, _NEWER, return_new=True)
    if stored is None:
        return False
    reflected = invoice_from_item(stored).credits_reflected_by(
        invoice.billed_as_of, settlement_lag_hours, posted_through
    )
    if reflected:
        _mark_reflected(key, reflected, item["billedAsOf"])
    return True


def _mark_reflected(key: dict[str, Any], reflected: Mapping[str, Credit], as_of: str) -> None:
    """Mark credits as reflected by the file as of ``as_of``: once each, and only while that file's
    values are the ones stored (a newer file marks what it reflects itself)."""
    update = _Update()
    conditions = ["#billedAsOf = :asOf"]
    cents = sum(credit.cents for credit in reflected.values())
    for position, credit_key in enumerate(sorted(reflected)):
        name = f"#c{position}"
        update.names[name] = credit_key
        update.sets.append(f"#credits.{name}.#reflectedAsOf = :asOf")
        conditions.append(f"attribute_not_exists(#credits.{name}.#reflectedAsOf)")
    update.names.update(
        {
            "#credits": "credits",
            "#reflectedAsOf": "reflectedAsOf",
            "#unreflected": "unreflectedCents",
            "#unpaid": "unpaidCents",
        }
    )
    update.adds.extend(["#unreflected :minus", "#unpaid :cents"])
    update.values.update({":asOf": {"S": as_of}, ":minus": serialize_value(-cents), ":cents": serialize_value(cents)})
    update.apply_if(key, " AND ".join(conditions))


def mark_credit_exported(ref: InvoiceRef, credit_key: str, at: datetime, day: date) -> bool:
    """The biller's export of ``day`` carried this credit (or reversal) at ``at``: set once, so that a
    re-run of the export moves nothing (DESIGN §6e). True when this call set it."""
    update = _Update()
    update.sets.extend(["#credits.#key.#exportedAt = :at", "#credits.#key.#exportedDay = :day"])
    update.names.update(
        {"#credits": "credits", "#key": credit_key, "#exportedAt": "exportedAt", "#exportedDay": "exportedDay"}
    )
    del update.names["#billedAsOf"]
    update.values[":at"] = {"S": clock.timestamp(at)}
    update.values[":day"] = {"S": day.isoformat()}
    return update.apply_if(
        keys.invoice_key(ref.account_number, ref.invoice_number),
        "attribute_exists(#credits.#key) AND attribute_not_exists(#credits.#key.#exportedAt)",
    )


def _open_invoices_older_than(as_of: str) -> Iterator[list[tuple[str, str]]]:
    """(account, invoice) of the invoices billed before ``as_of`` and not closed, a Scan page at a time.

    Eventually consistent: an invoice written by the file being imported is in the file (and so not
    closed), and the conditional close refuses anything that became newer meanwhile."""
    request: dict[str, Any] = {
        "TableName": table_name(),
        "ProjectionExpression": "PK, SK, #billedAsOf",
        "FilterExpression": "begins_with(SK, :invoice) AND #billedAsOf < :asOf AND attribute_not_exists(#closedAt)",
        "ExpressionAttributeNames": {"#billedAsOf": "billedAsOf", "#closedAt": "closedAt"},
        "ExpressionAttributeValues": {":invoice": {"S": keys.INVOICE_PREFIX}, ":asOf": {"S": as_of}},
    }
    client = dynamodb()
    while True:
        with store_errors():
            answer = client.scan(**request)
        yield [
            (
                raw["PK"]["S"].removeprefix(keys.ACCOUNT_PREFIX),
                raw["SK"]["S"].removeprefix(keys.INVOICE_PREFIX),
            )
            for raw in answer.get("Items", [])
        ]
        if "LastEvaluatedKey" not in answer:
            return
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _close_invoice(ref: tuple[str, str], as_of: str) -> bool:
    update = _Update()
    update.sets.extend(["#closedAt = :asOf", "#billedAsOf = :asOf"])
    update.names["#closedAt"] = "closedAt"
    update.values[":asOf"] = {"S": as_of}
    return update.apply_if(keys.invoice_key(*ref), "#billedAsOf < :asOf AND attribute_not_exists(#closedAt)")


def close_absent_invoices(
    as_of: datetime, present: Container[tuple[str, str]], *, executor: Executor | None = None
) -> int:
    """Close every open invoice billed before ``as_of`` that a full file does not list.

    ``present`` holds (account number, invoice number) pairs: plain tuples, as a 100,000-row file
    keeps one per row in memory. A closed invoice gets ``closedAt`` and ``billedAsOf`` set to the
    file's time, so an older file cannot reopen it and a newer file that lists it does. Closes run
    in ``executor`` when given (a page of the Scan at a time). Answers how many were closed."""
    stamp = clock.timestamp(as_of)
    closed = 0
    for page in _open_invoices_older_than(stamp):
        absent = [ref for ref in page if ref not in present]
        if executor is None:
            results: Iterable[bool] = [_close_invoice(ref, stamp) for ref in absent]
        else:
            results = executor.map(_close_invoice, absent, [stamp] * len(absent))
        closed += sum(results)
    return closed
