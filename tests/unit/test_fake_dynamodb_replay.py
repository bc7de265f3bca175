"""The in-memory DynamoDB client (tests/fakes/dynamodb.py) against moto, on the requests the store sends.

The corpus (tests/data/dynamodb_requests.jsonl, ``make dynamodb-corpus``) holds what the store sent
during the integration and fault suites: each recorded test's requests in the order DynamoDB (moto)
answered them. Each sequence is replayed from empty tables made from template.yaml, on moto and on
the fake, and what the store can observe is compared: items, Count, LastEvaluatedKey, Attributes,
error codes, each cancellation reason of a cancelled transaction and the item it returned, and both
tables at the end. PROBES are the store's own requests in states the suites never reach, where
DynamoDB, moto and the fake are known to part, or once did.

Where moto answers otherwise than DynamoDB documents, the fake follows DynamoDB, and
KNOWN_DIVERGENCES says how and why: moto's answer is corrected to DynamoDB's, and must then equal the
fake's. Any other difference fails, and so does a known divergence that no longer shows (moto was
fixed: delete it from the table, and from tests/fakes/README.md).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from stackdef.names import StackNames
from stackdef.template import create_table_request, load_template
from tests.fakes.dynamodb import FakeDynamoDB
from tests.fakes.recording import load_corpus

NAMES = StackNames()
TABLES = {"AppTable": NAMES.app_table, "IdempotencyTable": NAMES.idempotency_table}
APP = NAMES.app_table

Outcome = dict[str, Any]  # {"answer": ...} or {"error": code, "reasons": [...], "item": ..., "message": ...}


@dataclass(frozen=True)
class Request:
    operation: str  # as DynamoDB names it: "TransactWriteItems"
    params: dict[str, Any]
    where: str  # the recorded test and position, or the probe, for failure messages


# ---- what moto gets wrong -------------------------------------------------------------------------

Correction = Callable[[Request, Outcome, Outcome], Outcome | None]


@dataclass(frozen=True)
class Divergence:
    """A difference between moto and DynamoDB that the replay meets. ``correct`` answers moto's
    outcome as DynamoDB's would be when this difference explains it (judged from the request and
    moto's own answer, not the fake's where it can), else None."""

    dynamodb: str  # what DynamoDB does, and so does the fake
    moto: str  # what moto 5 does instead
    source: str  # where DynamoDB documents it
    correct: Correction


def _without(member: str, asked_by: str) -> Correction:
    def correct(request: Request, moto: Outcome, fake: Outcome) -> Outcome | None:
        answer = moto.get("answer")
        if answer is None or member not in answer or asked_by in request.params:
            return None
        return {"answer": {name: value for name, value in answer.items() if name != member}}

    return correct


def _key_names(request: Request) -> list[str]:
    """The attributes of a LastEvaluatedKey of the request's table (and index), from the template."""
    logical_id = next(logical for logical, name in TABLES.items() if name == request.params["TableName"])
    definition = create_table_request(logical_id, request.params["TableName"], load_template())
    names = [element["AttributeName"] for element in definition["KeySchema"]]
    for index in definition.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] == request.params.get("IndexName"):
            names = [element["AttributeName"] for element in index["KeySchema"]] + names
    return names


def _last_page_at_limit(request: Request, moto: Outcome, fake: Outcome) -> Outcome | None:
    answer = moto.get("answer")
    limit = request.params.get("Limit")
    if request.operation not in ("Query", "Scan") or answer is None or limit is None or "LastEvaluatedKey" in answer:
        return None
    if answer["ScannedCount"] != limit or answer["Count"] != limit:  # no filter: the last item read is shown
        return None
    last = answer["Items"][-1]
    return {"answer": {**answer, "LastEvaluatedKey": {name: last[name] for name in _key_names(request)}}}


def _update_parts(request: Request) -> Iterator[dict[str, Any]]:
    if request.operation == "UpdateItem":
        yield request.params
    for entry in request.params.get("TransactItems", []):
        if "Update" in entry:
            yield entry["Update"]


def _overlapping_names(request: Request, moto: Outcome, fake: Outcome) -> Outcome | None:
    """Two #names of one UpdateExpression that name the same attribute make two paths overlap."""
    for part in _update_parts(request):
        used = [
            attribute
            for placeholder, attribute in part.get("ExpressionAttributeNames", {}).items()
            if placeholder in part["UpdateExpression"]
        ]
        if len(set(used)) < len(used) and moto.get("error") != "ValidationException":
            return {"error": "ValidationException", "reasons": [], "item": None}
    return None


def _item_error_in_transaction(request: Request, moto: Outcome, fake: Outcome) -> Outcome | None:
    """An item of a transaction that DynamoDB cannot take cancels it, with that item's error as its
    reason: moto's ValidationException, reported where DynamoDB reports it."""
    if request.operation != "TransactWriteItems" or moto.get("error") != "ValidationException":
        return None
    failed = [reason for reason in fake.get("reasons", []) if reason[0] != "None"]
    if len(failed) != 1 or failed[0][0] != "ValidationError" or fake.get("messages") != [moto["message"]]:
        return None
    return {key: value for key, value in fake.items() if key != "message"}


KNOWN_DIVERGENCES: dict[str, Divergence] = {
    "ConsumedCapacity nobody asked for": Divergence(
        dynamodb="ConsumedCapacity is answered only when ReturnConsumedCapacity asks for it",
        moto="answers a ConsumedCapacity to every PutItem, UpdateItem and DeleteItem",
        source="https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html (response elements)",
        correct=_without("ConsumedCapacity", "ReturnConsumedCapacity"),
    ),
    "ItemCollectionMetrics nobody asked for": Divergence(
        dynamodb="ItemCollectionMetrics is answered only when ReturnItemCollectionMetrics asks for it",
        moto="answers an empty ItemCollectionMetrics to every TransactWriteItems",
        source="https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html"
        " (response elements)",
        correct=_without("ItemCollectionMetrics", "ReturnItemCollectionMetrics"),
    ),
    "a page that reaches Limit on the last item": Divergence(
        dynamodb="a Query page that stops at Limit has a LastEvaluatedKey even when no item follows (the next"
        " page is empty); only its absence means the end",
        moto="leaves LastEvaluatedKey out when the page's last item is the last one",
        source="https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html",
        correct=_last_page_at_limit,
    ),
    "overlapping update paths through two #names": Divergence(
        dynamodb="an UpdateExpression whose paths overlap once the #names are resolved (credits.#a and"
        " credits.#b.x with #a and #b naming one credit) is a ValidationException, before any condition",
        moto="checks the paths as written, evaluates the condition, and applies the update",
        source="per the existing fake's docstring and tests (DynamoDB's message: 'Two document paths overlap"
        " with each other')",
        correct=_overlapping_names,
    ),
    "an item DynamoDB cannot take, in a transaction": Divergence(
        dynamodb="an update that does not fit its item (an operand of the wrong type, a path that is not"
        " there) cancels the transaction: TransactionCanceledException with a ValidationError reason for"
        " that item",
        moto="raises a ValidationException for the whole request",
        source="https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html"
        " (TransactionCanceledException: cancellation reason ValidationError)",
        correct=_item_error_in_transaction,
    ),
}


# ---- probes: the store's requests in states the suites never reach --------------------------------


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


INVOICE = {"PK": s("ACCOUNT#A-1"), "SK": s("INVOICE#I-1")}
RATE = {"PK": s("RATELIMIT#USER#u"), "SK": s("HOUR#2026-11-25T19")}


def payment_put(number: int) -> dict[str, Any]:
    """The store's new payment, as start payment writes it (GSI1 lists the user's payments)."""
    created = f"2026-11-25T19:0{number}:00Z"
    return {
        "Put": {
            "TableName": APP,
            "Item": {
                "PK": s(f"PAYMENT#p{number}"),
                "SK": s("PAYMENT"),
                "GSI1PK": s("USERPAYMENTS#u"),
                "GSI1SK": s(f"{created}#p{number}"),
                "status": s("CREATED"),
                "version": n(0),
            },
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def rate_update(names: dict[str, str] | None = None) -> dict[str, Any]:
    """The store's hourly counter (store/ratelimits.py), its reserved words behind #names."""
    return {
        "TableName": APP,
        "Key": RATE,
        "UpdateExpression": "ADD #count :one SET #ttl = :ttl",
        "ExpressionAttributeNames": names or {"#count": "count", "#ttl": "ttl"},
        "ExpressionAttributeValues": {":one": n(1), ":ttl": n(1_800_000_000)},
    }


def reversal(credit: str, reversal_key: str) -> dict[str, Any]:
    """The store's reversal of a credit (a chargeback read from a payment file)."""
    return {
        "TableName": APP,
        "Key": INVOICE,
        "UpdateExpression": "SET credits.#reversal = :entry, credits.#c0.reversedCents = :r0"
        " ADD unpaidCents :cents, unreflectedCents :minus",
        "ConditionExpression": "attribute_not_exists(credits.#reversal) AND attribute_exists(credits.#c0)",
        "ExpressionAttributeNames": {"#reversal": reversal_key, "#c0": credit},
        "ExpressionAttributeValues": {
            ":entry": {"M": {"cents": n(-500), "reverses": s(credit)}},
            ":r0": n(500),
            ":cents": n(500),
            ":minus": n(-500),
        },
    }


def start_hold(now: str) -> dict[str, Any]:
    """The store's hold on an invoice when a payment starts (store/payments.py)."""
    return {
        "TableName": APP,
        "Key": INVOICE,
        "UpdateExpression": "SET openPaymentId = :pid, openUntil = :until REMOVE endedWithoutResultAt",
        "ConditionExpression": "attribute_exists(PK) AND billedAsOf = :asof AND size(credits) = :credits"
        " AND (attribute_not_exists(openPaymentId) OR openUntil <= :now)",
        "ExpressionAttributeValues": {
            ":pid": s("p1"),
            ":until": s("2026-11-25T19:45:00Z"),
            ":asof": s("2026-11-01T06:00:00Z"),
            ":credits": n(0),
            ":now": s(now),
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


INVOICE_ITEM = {
    **INVOICE,
    "billedAsOf": s("2026-11-01T06:00:00Z"),
    "billedCents": n(5000),
    "unpaidCents": n(5000),
    "credits": {"M": {"c1": {"M": {"cents": n(500)}}}},
}


@dataclass(frozen=True)
class Probe:
    name: str
    requests: list[tuple[str, dict[str, Any]]]
    divergences: frozenset[str] = field(default_factory=frozenset)  # what it must show, besides metadata


PROBES = [
    Probe(
        "a user with exactly one page of payments",
        [
            ("TransactWriteItems", {"TransactItems": [payment_put(1)]}),
            ("TransactWriteItems", {"TransactItems": [payment_put(2)]}),
            (
                "Query",
                {
                    "TableName": APP,
                    "IndexName": "GSI1",
                    "KeyConditionExpression": "GSI1PK = :pk",
                    "ExpressionAttributeValues": {":pk": s("USERPAYMENTS#u")},
                    "ScanIndexForward": False,
                    "Limit": 2,
                },
            ),
        ],
        frozenset({"a page that reaches Limit on the last item"}),
    ),
    Probe(
        "a reversal whose key is the key of the credit it reverses",
        [("PutItem", {"TableName": APP, "Item": INVOICE_ITEM}), ("UpdateItem", reversal("c1", "c1"))],
        frozenset({"overlapping update paths through two #names"}),
    ),
    Probe(
        "an hourly counter that is not a number, counted in a transaction",
        [
            ("PutItem", {"TableName": APP, "Item": {**RATE, "count": s("1")}}),
            ("TransactWriteItems", {"TransactItems": [{"Update": rate_update()}]}),
        ],
        frozenset({"an item DynamoDB cannot take, in a transaction"}),
    ),
    # Where the fake follows DynamoDB and moto now agrees (older motos did not): pinned, not divergent.
    Probe(
        "a reserved word without its #name",
        [("UpdateItem", rate_update({"#ttl": "ttl"}) | {"UpdateExpression": "ADD count :one SET #ttl = :ttl"})],
    ),
    Probe(
        "a consistent read of a global index",
        [
            (
                "Query",
                {
                    "TableName": APP,
                    "IndexName": "GSI2",
                    "KeyConditionExpression": "GSI2PK = :review",
                    "ExpressionAttributeValues": {":review": s("REVIEW")},
                    "ConsistentRead": True,
                },
            )
        ],
    ),
    Probe(
        "a payment started on an invoice that is gone, and on one held by another",
        [
            ("TransactWriteItems", {"TransactItems": [{"Update": start_hold("2026-11-25T19:00:00Z")}]}),
            ("PutItem", {"TableName": APP, "Item": {**INVOICE_ITEM, "credits": {"M": {}}}}),
            ("TransactWriteItems", {"TransactItems": [payment_put(1), {"Update": start_hold("2026-11-25T19:00:00Z")}]}),
            ("TransactWriteItems", {"TransactItems": [payment_put(2), {"Update": start_hold("2026-11-25T19:01:00Z")}]}),
        ],
    ),
    Probe(
        "two actions on one item in a transaction",
        [("TransactWriteItems", {"TransactItems": [payment_put(1), payment_put(1)]})],
    ),
    Probe(
        "an index key that is an empty string",
        [
            (
                "PutItem",
                {
                    "TableName": APP,
                    "Item": {"PK": s("USER#"), "SK": s("ACCOUNT#A-1"), "GSI1PK": s("LINKS#A-1"), "GSI1SK": s("")},
                },
            )
        ],
    ),
    Probe(
        "an unused placeholder value and redundant parentheses",
        [
            ("UpdateItem", rate_update() | {"ExpressionAttributeValues": {":one": n(1), ":ttl": n(1), ":x": n(2)}}),
            (
                "PutItem",
                {"TableName": APP, "Item": INVOICE_ITEM, "ConditionExpression": "((attribute_not_exists(PK)))"},
            ),
        ],
    ),
    Probe(
        "keys sort by code point, which is the order of UTF-8 bytes",
        [
            *(
                ("PutItem", {"TableName": APP, "Item": {"PK": s("ACCOUNT#Z"), "SK": s(f"INVOICE#{number}")}})
                for number in ("\U0001f600", "\uffff", "é", "B", "a")
            ),
            (
                "Query",
                {
                    "TableName": APP,
                    "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                    "ExpressionAttributeValues": {":pk": s("ACCOUNT#Z"), ":prefix": s("INVOICE#")},
                    "ConsistentRead": True,
                },
            ),
        ],
    ),
    Probe(
        "every failed condition of a transaction is a reason, with the item it found",
        [
            ("PutItem", {"TableName": APP, "Item": INVOICE_ITEM}),
            (
                "TransactWriteItems",
                {
                    "TransactItems": [
                        {"Update": start_hold("2026-11-25T19:00:00Z")},
                        {
                            "ConditionCheck": {
                                "TableName": APP,
                                "Key": RATE,
                                "ConditionExpression": "attribute_exists(PK)",
                            }
                        },
                    ]
                },
            ),
        ],
    ),
]


# ---- running and comparing ------------------------------------------------------------------------


def _normalized(value: Any) -> Any:
    """Without ResponseMetadata; items of unordered answers (Scan, BatchGetItem) in a stable order."""
    if isinstance(value, dict):
        return {name: _normalized(member) for name, member in value.items() if name != "ResponseMetadata"}
    if isinstance(value, list):
        return [_normalized(member) for member in value]
    return value


def _by_content(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def outcome(client: Any, request: Request) -> Outcome:
    try:
        answer = _normalized(getattr(client, xform_name(request.operation))(**copy.deepcopy(request.params)))
    except ClientError as error:
        response = error.response
        reasons = response.get("CancellationReasons") or []
        return {
            "error": response["Error"]["Code"],
            "reasons": [[reason.get("Code"), reason.get("Item")] for reason in reasons],
            "item": response.get("Item"),
            "message": response["Error"].get("Message"),  # for the corrections, never compared
            "messages": [reason["Message"] for reason in reasons if reason.get("Code") not in ("None", None)],
        }
    if request.operation == "Scan":  # DynamoDB defines no order for a Scan
        answer["Items"] = _by_content(answer["Items"])
    if request.operation == "BatchGetItem":
        answer["Responses"] = {name: _by_content(items) for name, items in answer["Responses"].items()}
    return {"answer": answer}


def _comparable(result: Outcome) -> Outcome:
    return {name: value for name, value in result.items() if name not in ("message", "messages")}


def compare(request: Request, moto: Outcome, fake: Outcome, seen: set[str]) -> str | None:
    """None when the fake answered as moto did, or as DynamoDB does where moto is known to differ;
    else what differs."""
    expected = moto
    for name, divergence in KNOWN_DIVERGENCES.items():
        if _comparable(expected) == _comparable(fake):
            return None
        corrected = divergence.correct(request, expected, fake)
        if corrected is not None:
            seen.add(name)
            expected = corrected
    if _comparable(expected) == _comparable(fake):
        return None
    return (
        f"{request.where}: {request.operation} {json.dumps(request.params)[:2000]}\n"
        f"  moto: {json.dumps(moto)[:2000]}\n  fake: {json.dumps(fake)[:2000]}"
    )


def table_contents(client: Any, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": name, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return _by_content(items)
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def replay(moto: Any, requests: list[Request], seen: set[str]) -> list[str]:
    """The requests on fresh tables of moto and of the fake; the differences nothing explains."""
    fake = FakeDynamoDB()
    for logical_id, name in TABLES.items():
        moto.create_table(**create_table_request(logical_id, name))
        fake.create_table(**create_table_request(logical_id, name))
    try:
        problems = [
            problem
            for request in requests
            if (problem := compare(request, outcome(moto, request), outcome(fake, request), seen)) is not None
        ]
        for name in TABLES.values():
            if table_contents(moto, name) != _by_content(fake.table_items(name)):
                problems.append(f"{requests[-1].where}: the table {name} differs at the end")
        return problems
    finally:
        for name in TABLES.values():
            moto.delete_table(TableName=name)


def corpus() -> dict[str, list[Request]]:
    return {
        test: [Request(line["op"], line["params"], f"{test} #{line['seq']}") for line in lines]
        for test, lines in load_corpus().items()
    }


METADATA = frozenset({"ConsumedCapacity nobody asked for", "ItemCollectionMetrics nobody asked for"})


def test_the_fake_answers_the_recorded_requests_as_dynamodb_does(aws: None) -> None:
    moto = boto3.client("dynamodb")
    seen: set[str] = set()
    problems = [problem for requests in corpus().values() for problem in replay(moto, requests, seen)]
    assert not problems, f"{len(problems)} unexplained differences:\n" + "\n".join(problems[:10])
    assert seen >= METADATA  # still moto's: else delete them from KNOWN_DIVERGENCES and the README


@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.name)
def test_the_fake_answers_the_probes_as_dynamodb_does(aws: None, probe: Probe) -> None:
    moto = boto3.client("dynamodb")
    seen: set[str] = set()
    requests = [Request(operation, params, probe.name) for operation, params in probe.requests]
    problems = replay(moto, requests, seen)
    assert not problems, "\n".join(problems)
    assert seen - METADATA == probe.divergences  # one that no longer shows: moto was fixed


def test_every_known_divergence_is_shown() -> None:
    """By the recorded requests or by a probe, so that the table never keeps one moto no longer has."""
    shown = METADATA.union(*(probe.divergences for probe in PROBES))
    assert shown == set(KNOWN_DIVERGENCES)
