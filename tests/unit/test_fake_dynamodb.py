"""The in-memory DynamoDB client (tests/fakes/dynamodb.py): what the differential test
(test_fake_dynamodb_replay.py) does not show.

The replay shows the fake answering the store's requests as DynamoDB does. Here: that it refuses,
loudly, every request it does not implement (the store never sends them); DynamoDB's documented
behaviour for the expressions it does implement, in the cases the recorded requests never meet (a
missing attribute, a value of another type, precedence, malformed expressions); values copied and
canonical; atomic requests; and the store's own helpers running on it as the model installs it.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from stackdef.template import create_table_request
from tests.fakes.dynamodb import FakeDynamoDB

APP = "app"
INVOICE = {"PK": {"S": "ACCOUNT#A"}, "SK": {"S": "INVOICE#I"}}


def text(value: str) -> dict[str, str]:
    return {"S": value}


def number(value: int | str) -> dict[str, str]:
    return {"N": str(value)}


@pytest.fixture
def fake() -> FakeDynamoDB:
    """The fake with the app table of template.yaml (PK/SK, the sparse GSI1 and GSI2)."""
    client = FakeDynamoDB()
    client.create_table(**create_table_request("AppTable", APP))
    return client


def error_of(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def code_of(call: Callable[[], Any]) -> str:
    return str(error_of(call).response["Error"]["Code"])


def item(client: FakeDynamoDB, item_key: dict[str, Any] = INVOICE) -> dict[str, Any] | None:
    found: dict[str, Any] | None = client.get_item(TableName=APP, Key=item_key, ConsistentRead=True).get("Item")
    return found


def update(client: FakeDynamoDB, expression: str, item_key: dict[str, Any] = INVOICE, **rest: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client.update_item(TableName=APP, Key=item_key, UpdateExpression=expression, **rest)
    return answer


# ---- what the store never sends: a NotImplementedError, never an answer ----------------------------

CONDITION = {"TableName": APP, "Key": INVOICE, "UpdateExpression": "SET a = :v"}
ONE = {":v": number(1)}
UNSUPPORTED: list[tuple[str, dict[str, Any], str]] = [
    ("scan", {"TableName": APP, "Segment": 0, "TotalSegments": 2}, "Segment, TotalSegments in Scan"),
    ("scan", {"TableName": APP, "Select": "COUNT"}, "Select in Scan"),
    ("query", {"TableName": APP, "KeyConditionExpression": "PK = :v", "FilterExpression": "a = :v",
               "ExpressionAttributeValues": {":v": text("x")}}, "FilterExpression in Query"),
    ("get_item", {"TableName": APP, "Key": INVOICE, "ReturnConsumedCapacity": "TOTAL"}, "ReturnConsumedCapacity"),
    ("get_item", {"TableName": APP, "Key": INVOICE, "ProjectionExpression": "credits.c1"}, "nested paths"),
    ("put_item", {"TableName": APP, "Item": INVOICE, "ReturnValues": "ALL_OLD"}, "ReturnValues in PutItem"),
    ("put_item", {"TableName": APP, "Item": {**INVOICE, "tags": {"SS": ["a"]}}}, "attribute values of type SS"),
    ("put_item", {"TableName": APP, "Item": {**INVOICE, "gone": {"NULL": True}}}, "attribute values of type NULL"),
    ("put_item", {"TableName": APP, "Item": {**INVOICE, "raw": {"B": b"x"}}}, "attribute values of type B"),
    ("delete_item", {"TableName": APP, "Key": INVOICE, "ReturnValues": "ALL_OLD"}, "ReturnValues in DeleteItem"),
    ("update_item", {**CONDITION, "ExpressionAttributeValues": ONE, "ReturnValues": "UPDATED_NEW"},
     "ReturnValues UPDATED_NEW"),
    ("update_item", {"TableName": APP, "Key": INVOICE}, "an UpdateItem without an UpdateExpression"),
    ("update_item", {**CONDITION, "ConditionExpression": "NOT a = :v", "ExpressionAttributeValues": ONE}, "NOT"),
    ("update_item", {**CONDITION, "ConditionExpression": "a BETWEEN :v AND :v", "ExpressionAttributeValues": ONE},
     "BETWEEN"),
    ("update_item", {**CONDITION, "ConditionExpression": "a IN (:v)", "ExpressionAttributeValues": ONE}, "IN"),
    ("update_item", {**CONDITION, "ConditionExpression": "contains(a, :v)", "ExpressionAttributeValues": ONE},
     "the function contains"),
    ("update_item", {**CONDITION, "ConditionExpression": "attribute_type(a, :v)", "ExpressionAttributeValues": ONE},
     "the function attribute_type"),
    ("update_item", {**CONDITION, "UpdateExpression": "SET a = list_append(a, :v)", "ExpressionAttributeValues":
                     {":v": {"L": []}}}, "the function list_append"),
    ("update_item", {**CONDITION, "UpdateExpression": "SET a[0] = :v", "ExpressionAttributeValues": ONE},
     "list indexes"),
    ("update_item", {**CONDITION, "UpdateExpression": "DELETE a :v", "ExpressionAttributeValues": ONE},
     "DELETE in update expressions"),
    ("transact_write_items", {"TransactItems": [{"Put": {"TableName": APP, "Item": INVOICE}}],
                              "ClientRequestToken": "t-1"}, "ClientRequestToken"),
    ("batch_get_item", {"RequestItems": {APP: {"Keys": [INVOICE], "ProjectionExpression": "PK"}}},
     "ProjectionExpression in BatchGetItem table"),
    ("batch_write_item", {"RequestItems": {APP: [{"PutRequest": {"Item": INVOICE}}]}},
     "the operation BatchWriteItem"),
    ("transact_get_items", {"TransactItems": [{"Get": {"TableName": APP, "Key": INVOICE}}]},
     "the operation TransactGetItems"),
    ("describe_table", {"TableName": APP}, "the operation DescribeTable"),
    ("create_table", {**create_table_request("AppTable", "other"), "BillingMode": "PROVISIONED"},
     "tables of provisioned capacity"),
    ("create_table", {"TableName": "numbers", "BillingMode": "PAY_PER_REQUEST",
                      "AttributeDefinitions": [{"AttributeName": "n", "AttributeType": "N"}],
                      "KeySchema": [{"AttributeName": "n", "KeyType": "HASH"}]}, "key attributes of type N"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "request_", "missing"), UNSUPPORTED, ids=[case[2] for case in UNSUPPORTED])
def test_what_the_store_never_sends_fails_loudly(
    fake: FakeDynamoDB, method: str, request_: dict[str, Any], missing: str
) -> None:
    with pytest.raises(NotImplementedError, match=re.escape(missing)):
        getattr(fake, method)(**request_)
    assert item(fake) is None


def test_a_delete_in_a_transaction_goes_with_the_rest_or_not_at_all(fake: FakeDynamoDB) -> None:
    """A link deleted with its change-log event (store/links.py): both, or, when the delete's
    condition fails, neither, with the delete's reason."""
    fake.put_item(TableName=APP, Item={**INVOICE, "a": number(1)})
    event = {"PK": text("CHANGES#2026-11-25"), "SK": text("2026-11-25T15:00:00Z#e1")}
    delete = {"Delete": {"TableName": APP, "Key": INVOICE, "ConditionExpression": "attribute_exists(PK)"}}
    put = {"Put": {"TableName": APP, "Item": event, "ConditionExpression": "attribute_not_exists(SK)"}}

    fake.transact_write_items(TransactItems=[delete, put])
    assert item(fake) is None and item(fake, event) == event

    again = {"Put": {**put["Put"], "Item": {**event, "SK": text("2026-11-25T15:00:01Z#e2")}}}
    with pytest.raises(ClientError) as raised:
        fake.transact_write_items(TransactItems=[delete, again])
    reasons = [reason["Code"] for reason in raised.value.response["CancellationReasons"]]
    assert reasons == ["ConditionalCheckFailed", "None"]
    assert item(fake, {**event, "SK": text("2026-11-25T15:00:01Z#e2")}) is None


def test_size_of_a_string_fails_loudly(fake: FakeDynamoDB) -> None:
    """size() is implemented for the maps and lists it is used on; a string's is DynamoDB's own count."""
    fake.put_item(TableName=APP, Item={**INVOICE, "credits": text("x")})
    with pytest.raises(NotImplementedError, match="size"):
        update(fake, "SET a = :v", ConditionExpression="size(credits) = :v", ExpressionAttributeValues=ONE)


def test_botocore_validates_parameters_first(fake: FakeDynamoDB) -> None:
    with pytest.raises(ParamValidationError):
        fake.get_item(TableName=APP, Key=INVOICE, Unknown=True)
    with pytest.raises(AttributeError):
        fake.not_an_operation()


# ---- conditions: DynamoDB's documented semantics ---------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ("n = :two", True),
        ("n <> :two", False),
        ("n < :three AND n >= :two", True),
        ("n > :two", False),
        ("n = :text2", False),  # another type: false, not an error
        ("n <> :text2", True),
        ("absent = :two", False),  # a missing attribute: false ...
        ("absent <> :two", True),  # ... except for <>
        ("absent < :two OR absent >= :two", False),
        ("absent = gone", False),  # two missing attributes are not equal
        ("n < s", False),  # values of different types
        ("s < :b", True),  # strings by code point: "B" < "a" < "b" < "é"
        ("s > :B", True),
        ("s < :e", True),
        ("nested.credits.c1 = :two", True),
        ("nested.nope.c1 = :two", False),
        ("n = :three AND n = :two OR n = :two", True),  # AND binds tighter than OR
        ("n = :three AND (n = :two OR n = :two)", False),
        ("attribute_exists(nested.credits)", True),
        ("attribute_not_exists(nested.debits)", True),
        ("attribute_exists(n.x)", False),  # a step into a number
        ("begins_with(s, :a)", True),
        ("begins_with(n, :a)", False),
        ("size(nested) = :one", True),
        ("size(entries) = :two", True),
        ("size(n) = :one", False),  # no size for a number
        ("size(absent) < :one", False),
    ],
)
def test_conditions(fake: FakeDynamoDB, condition: str, holds: bool) -> None:
    fake.put_item(
        TableName=APP,
        Item={
            **INVOICE,
            "n": number(2),
            "s": text("aé"),
            "entries": {"L": [number(1), text("x")]},
            "nested": {"M": {"credits": {"M": {"c1": number(2)}}}},
        },
    )
    values = {
        ":one": number(1), ":two": number(2), ":three": number(3), ":text2": text("2"), ":b": text("b"),
        ":B": text("B"), ":e": text("é"), ":a": text("a"),
    }  # fmt: skip
    used = {name: value for name, value in values.items() if name in re.findall(r":\w+", condition)}
    request = {"ConditionExpression": condition, "ExpressionAttributeValues": {**used, ":yes": {"BOOL": True}}}
    if holds:
        update(fake, "SET done = :yes", **request)
        assert (item(fake) or {})["done"] == {"BOOL": True}
    else:
        failure = error_of(lambda: update(fake, "SET done = :yes", **request))
        assert failure.response["Error"] == {"Code": "ConditionalCheckFailedException", "Message": mock.ANY}


@pytest.mark.parametrize(
    ("condition", "values", "message"),
    [
        ("n = :v AND", ONE, "Syntax error"),
        ("", {}, "The expression can not be empty"),
        ("count = :v", ONE, "reserved keyword; reserved keyword: count"),
        ("n = :v", {}, "attribute value: :v"),
        ("n = :v", {":v": number(1), ":w": number(2)}, "unused in expressions: keys: {:w}"),
        ("#n = :v", ONE, "attribute name: #n"),
        ("n < :v", {":v": {"M": {}}}, "operand type: M"),
        ("begins_with(s, :v)", ONE, "begins_with, operand type: N"),
        ("attribute_exists(:v)", ONE, "requires a document path"),
        ("size(n)", {}, "not allowed to be used this way"),
        ("if_not_exists(n, :v) = :v", ONE, "not allowed"),
        ("dog(n) = :v", ONE, "Invalid function name; function: dog"),
        ("size(n, s) = :v", ONE, "number of operands: 2"),
        ("((n = :v))", ONE, "The expression has redundant parentheses;"),
        ("a = :v AND ((n = :v AND s = :v))", ONE, "The expression has redundant parentheses;"),
    ],
)
def test_malformed_conditions_are_validation_errors(
    fake: FakeDynamoDB, condition: str, values: dict[str, Any], message: str
) -> None:
    request: dict[str, Any] = {"TableName": APP, "Item": INVOICE, "ConditionExpression": condition}
    if values:
        request["ExpressionAttributeValues"] = values
    failure = error_of(lambda: fake.put_item(**request))
    assert failure.response["Error"]["Code"] == "ValidationException"
    assert message in failure.response["Error"]["Message"]
    assert item(fake) is None


@pytest.mark.parametrize("condition", ["(n = :v)", "((n = :v) AND (s = :v))", "a = :v OR (n = :v AND s = :v)"])
def test_parentheses_that_are_not_redundant(fake: FakeDynamoDB, condition: str) -> None:
    """Only a pair of parentheses around nothing but another pair is refused."""
    failure = error_of(
        lambda: fake.put_item(TableName=APP, Item=INVOICE, ConditionExpression=condition, ExpressionAttributeValues=ONE)
    )
    assert failure.response["Error"]["Code"] == "ConditionalCheckFailedException"


# ---- updates ---------------------------------------------------------------------------------------


def test_updates_read_the_item_as_it_was(fake: FakeDynamoDB) -> None:
    fake.put_item(TableName=APP, Item={**INVOICE, "a": number(1), "b": number(2), "gone": text("g")})
    update(fake, "SET a = b, b = a REMOVE gone ADD c :five", ExpressionAttributeValues={":five": number(5)})
    assert item(fake) == {**INVOICE, "a": number(2), "b": number(1), "c": number(5)}
    # if_not_exists, and arithmetic exact in decimals (never floats)
    values = {":none": {"M": {}}, ":zero": number(0), ":tenth": number("0.1")}
    expression = "SET credits = if_not_exists(credits, :none), d = if_not_exists(d, :zero) + :tenth, e = :tenth - c"
    update(fake, expression, ExpressionAttributeValues=values)
    update(fake, "SET d = d + :x", ExpressionAttributeValues={":x": number("0.2")})
    stored = item(fake) or {}
    assert (stored["credits"], stored["d"], stored["e"]) == ({"M": {}}, number("0.3"), number("-4.9"))


def test_a_map_entry_is_set_only_when_the_map_exists(fake: FakeDynamoDB) -> None:
    credit = {":c": {"M": {"cents": number(100)}}}
    names = {"#pid": "pay-1"}
    fake.put_item(TableName=APP, Item={**INVOICE, "credits": {"M": {}}})
    update(fake, "SET credits.#pid = :c", ExpressionAttributeNames=names, ExpressionAttributeValues=credit)
    assert item(fake) == {**INVOICE, "credits": {"M": {"pay-1": {"M": {"cents": number(100)}}}}}
    missing = {"PK": text("ACCOUNT#A"), "SK": text("INVOICE#K")}
    failure = error_of(
        lambda: update(
            fake,
            "SET credits.#pid = :c",
            item_key=missing,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=credit,
        )
    )
    assert failure.response["Error"] == {
        "Code": "ValidationException",
        "Message": "The document path provided in the update expression is invalid for update",
    }
    assert item(fake, missing) is None


def test_an_update_that_only_removes_creates_nothing(fake: FakeDynamoDB) -> None:
    assert update(fake, "REMOVE a, b.c", ReturnValues="ALL_NEW") == {"ResponseMetadata": mock.ANY}
    assert item(fake) is None
    assert update(fake, "SET a = :v", ExpressionAttributeValues=ONE, ReturnValues="ALL_OLD") == {
        "ResponseMetadata": mock.ANY
    }
    assert update(fake, "REMOVE a", ReturnValues="ALL_NEW")["Attributes"] == INVOICE


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("SET a = :v, a = :v", "overlap"),
        ("SET m.a = :v REMOVE m", "overlap"),
        ("SET a = :v SET b = :v", 'The "SET" section can only be used once'),
        ("SET PK = :v", "Cannot update attribute PK. This attribute is part of the key"),
        ("SET GSI1PK = :v", "secondary index key to unsupported type"),
        ("SET a = :v + :v + :v", "Syntax error"),
        ("SET a = size(b)", "not allowed in an update expression"),
        ("SET a = :v + :t", "operator or function: +, operand type: S"),
        ("ADD a :t", "operator: ADD, operand type: STRING"),
        ("SET a = if_not_exists(a)", "number of operands: 1"),
        ("SET a = if_not_exists(:v, :v)", "requires a document path"),
        ("SET a = nope + :v", "refers to an attribute that does not exist"),
        ("REMOVE lines", "reserved keyword; reserved keyword: lines"),
    ],
)
def test_malformed_updates_are_validation_errors(fake: FakeDynamoDB, expression: str, message: str) -> None:
    values = {name: value for name, value in {":v": number(1), ":t": text("t")}.items() if name in expression}
    request: dict[str, Any] = {"TableName": APP, "Key": INVOICE, "UpdateExpression": expression}
    if values:
        request["ExpressionAttributeValues"] = values
    failure = error_of(lambda: fake.update_item(**request))
    assert failure.response["Error"]["Code"] == "ValidationException"
    assert message in failure.response["Error"]["Message"]
    assert item(fake) is None


def test_adding_to_what_is_not_a_number(fake: FakeDynamoDB) -> None:
    fake.put_item(TableName=APP, Item={**INVOICE, "count": text("1")})
    adding = functools.partial(
        update, fake, "ADD #count :v", ExpressionAttributeNames={"#count": "count"}, ExpressionAttributeValues=ONE
    )
    assert error_of(adding).response["Error"]["Message"] == (
        "An operand in the update expression has an incorrect data type"
    )


# ---- values, pages, atomicity ----------------------------------------------------------------------


def test_values_are_checked_copied_and_canonical(fake: FakeDynamoDB) -> None:
    mutable: dict[str, Any] = {
        **INVOICE,
        "m": {"M": {"x": {"L": [number(1)]}}},
        "n": number("005.50"),
        "e": number("1E+3"),
    }
    fake.put_item(TableName=APP, Item=mutable)
    mutable["m"]["M"]["x"]["L"].append(number(2))
    stored = item(fake) or {}
    assert stored["m"] == {"M": {"x": {"L": [number(1)]}}}
    assert (stored["n"], stored["e"]) == (number("5.5"), number(1000))
    stored["m"]["M"].clear()
    assert (item(fake) or {})["m"] == {"M": {"x": {"L": [number(1)]}}}
    for bad in [number("1e126"), number("NaN"), number("1" * 39), {"S": "x", "N": "1"}, {}]:
        assert code_of(functools.partial(fake.put_item, TableName=APP, Item={**INVOICE, "x": bad})) == (
            "ValidationException"
        )
    too_big = {**INVOICE, "x": text("x" * 410_000)}
    assert code_of(lambda: fake.put_item(TableName=APP, Item=too_big)) == "ValidationException"
    assert code_of(lambda: fake.put_item(TableName=APP, Item={"PK": text("a")})) == "ValidationException"
    empty_key = {"PK": text(""), "SK": text("b")}
    assert code_of(lambda: fake.put_item(TableName=APP, Item=empty_key)) == "ValidationException"
    assert code_of(lambda: fake.get_item(TableName=APP, Key={"PK": text("a")})) == "ValidationException"
    assert code_of(lambda: fake.get_item(TableName="nope", Key=INVOICE)) == "ResourceNotFoundException"


def test_a_page_ends_after_one_megabyte_read(fake: FakeDynamoDB) -> None:
    """Read, not returned: a Scan's filter applies after the page is cut."""
    for number_ in range(12):
        key = {"PK": text(f"ACCOUNT#{number_:02}"), "SK": text("PROFILE")}
        fake.put_item(TableName=APP, Item={**key, "notes": text("x" * 100_000)})
    first = fake.scan(TableName=APP, FilterExpression="attribute_not_exists(notes)", ProjectionExpression="PK")
    assert (first["Count"], first["ScannedCount"]) == (0, 11)
    assert first["LastEvaluatedKey"] == {"PK": text("ACCOUNT#10"), "SK": text("PROFILE")}
    rest = fake.scan(TableName=APP, ExclusiveStartKey=first["LastEvaluatedKey"], ProjectionExpression="PK")
    assert rest["Items"] == [{"PK": text("ACCOUNT#11")}] and "LastEvaluatedKey" not in rest


def test_requests_from_threads_are_atomic(fake: FakeDynamoDB) -> None:
    def add() -> None:
        for _ in range(200):
            update(fake, "ADD #count :v", ExpressionAttributeNames={"#count": "count"}, ExpressionAttributeValues=ONE)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (item(fake) or {})["count"] == number(800)


# ---- the store on the fake -------------------------------------------------------------------------


@pytest.fixture
def store_client(fake: FakeDynamoDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDynamoDB]:
    """The fake installed as the store's client, as the model tests install it."""
    from avocette.store import table

    monkeypatch.setenv("APP_TABLE_NAME", APP)
    table.dynamodb.cache_clear()
    with mock.patch("boto3.client", return_value=fake):
        assert table.dynamodb() is fake
    yield fake
    table.dynamodb.cache_clear()


def test_the_store_helpers_run_on_the_fake(store_client: FakeDynamoDB) -> None:
    from avocette.store import table

    reserve = {
        "Update": {
            "TableName": table.table_name(),
            "Key": {"PK": text("RATELIMIT#USER#u"), "SK": text("HOUR#2026-11-25T19")},
            "UpdateExpression": "ADD #count :one SET #ttl = :ttl",
            "ConditionExpression": "attribute_not_exists(#count) OR #count < :limit",
            "ExpressionAttributeNames": {"#count": "count", "#ttl": "ttl"},
            "ExpressionAttributeValues": {":one": number(1), ":ttl": number(1_800_000_000), ":limit": number(2)},
        }
    }
    table.transact([reserve])
    table.transact([reserve])
    with pytest.raises(table.TransactionRaceError) as race:
        table.transact([reserve])
    assert race.value.reasons == ["ConditionalCheckFailed"]
    found = list(
        table.query_items(
            TableName=APP,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": text("RATELIMIT#USER#u"), ":prefix": text("HOUR#")},
            ConsistentRead=True,
        )
    )
    assert found == [{"PK": "RATELIMIT#USER#u", "SK": "HOUR#2026-11-25T19", "count": 2, "ttl": 1_800_000_000}]
