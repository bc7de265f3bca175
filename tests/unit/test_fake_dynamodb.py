"""The in-memory DynamoDB client (tests/fakes/dynamodb.py): the same answers as moto on random
sequences of requests, and DynamoDB's documented behaviour where moto is known to differ.

The differential test applies each random sequence to the fake and to moto and compares what a
caller can observe: returned items and attributes, error codes (and each cancellation reason of a
cancelled transaction), query and scan pages, and the table at the end. The generator stays away
from the cases where moto is wrong (each is named in ``MOTO_IS_WRONG``); those are pinned down by
the example tests below against DynamoDB's documented behaviour instead.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackdef.template import create_table_request
from tests.fakes.dynamodb import FakeDynamoDB

TABLE = "fake-vs-moto"
TABLE_REQUEST: dict[str, Any] = {
    "TableName": TABLE,
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
        {"AttributeName": "gpk", "AttributeType": "S"},
        {"AttributeName": "gsk", "AttributeType": "N"},
    ],
    "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "ByG",
            "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}, {"AttributeName": "gsk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
}

# Where moto answers differently from DynamoDB (DynamoDB's behaviour per its documentation, and as
# the fake does). The differential test does not generate these, or does not compare their answers.
MOTO_IS_WRONG = {
    "remove-only update creates the item": "an UpdateItem that only REMOVEs or DELETEs does not create a"
    " missing item (moto creates an item with just the key)",
    "Limit reached on the last item": "a page that ends because Limit is reached has a LastEvaluatedKey"
    " even when no item follows (moto leaves it out); pages are compared without a trailing empty page",
    "item-level errors in transactions": "an update that does not fit the item (bad path, wrong operand type)"
    " cancels a transaction with a ValidationError reason (moto raises ValidationException)",
    "list indexes refer to the list as it was": "REMOVE l[0] SET l[2] = :v sets the element that was at"
    " index 2 (moto applies REMOVE first); the generator never mixes list REMOVE and SET in one update",
    "constant checks": "BETWEEN with constant bounds in the wrong order, key attributes in a Query's filter,"
    " duplicates in a set value, a key of the wrong type in a transaction are refused (moto accepts the"
    " first three, and answers the last with a ValidationException)",
    "index key types": "an index key attribute of the wrong type or an empty string is refused by"
    " PutItem, UpdateItem and transactions (moto accepts some of these)",
    "size of nothing": "size() of a missing attribute or of a number makes a comparison false (moto fails"
    " with a server error); the generator guards size() with attribute_type()",
    "UPDATED_OLD/UPDATED_NEW": "UPDATED_OLD/UPDATED_NEW answer the updated paths (a.b, not all of a), even"
    " when the value did not change, and no key attributes (moto answers whole top-level attributes, the"
    " changed ones only, and the keys of a new item); moto's answer is checked to be part of the fake's,"
    " and not compared at all for nested paths",
    "list_append(:v, missing)": "list_append() of a missing attribute is a ValidationException (moto fails"
    " on list_append(:v, l) when l is missing); the generator prepends to if_not_exists(l, :empty)",
    "#list[0]": "a #name placeholder before a list index (#l[0]) is used (moto reports it unused); generated"
    " paths name lists literally",
    "NOT NOT": "NOT NOT a = :v is NOT (NOT a = :v) (moto cannot parse it); the generator parenthesizes it",
    "comparing two paths": "two missing attributes are not equal, and comparing values of different types"
    " with < is false (moto finds them equal, and fails); the generator compares present attributes",
}
# Not a difference, but no order to compare either: items with equal index keys come in no defined
# order, so queries of an index with such items, and scans, compare the items read as multisets.


# ---- request generation ---------------------------------------------------------------------------

PARTITIONS = ["p0", "p1"]
SORT_KEYS = ["B", "a", "ab", "é"]  # UTF-8 byte order: B < a < ab < é


def number(value: int) -> dict[str, str]:
    return {"N": str(value)}


def text(value: str) -> dict[str, str]:
    return {"S": value}


numbers = st.integers(-1, 3).map(number)
texts = st.sampled_from(["", "a", "ab", "b", "ba"]).map(text)
ATTRIBUTE_VALUES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "n": numbers,
    "count": numbers,  # a reserved word: expressions must name it through a placeholder
    "s": texts,
    # m.x a number and m.y a string: moto fails on < between a number and a string, where DynamoDB is
    # false (MOTO_IS_WRONG["comparing two paths"]).
    "m": st.fixed_dictionaries({}, optional={"x": numbers, "y": texts}).map(lambda m: {"M": m}),
    "l": st.lists(numbers, max_size=3).map(lambda values: {"L": values}),
    "ss": st.sets(st.sampled_from(["a", "b", "c"]), min_size=1).map(lambda values: {"SS": sorted(values)}),
    "flag": st.booleans().map(lambda flag: {"BOOL": flag}),
    "gpk": st.sampled_from(["g1", "g2"]).map(text),
    "gsk": st.integers(0, 3).map(number),
}


def key(partition: str, sort: str) -> dict[str, Any]:
    return {"PK": text(partition), "SK": text(sort)}


keys = st.builds(key, st.sampled_from(PARTITIONS), st.sampled_from(SORT_KEYS))


@dataclass
class Expression:
    """Placeholders for one request: names (some literal, some #placeholders; reserved words always
    placeholders) and values, every one of them used, as DynamoDB requires."""

    draw: st.DrawFn
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def name(self, attribute: str) -> str:
        if attribute == "count" or self.draw(st.booleans()):
            self.names[f"#{attribute}"] = attribute
            return f"#{attribute}"
        return attribute

    def path(self, path: str) -> str:
        """``m.x``, ``l[0]``: each name step through :meth:`name`, except a list's name, which stays
        literal: moto takes the #name of ``#l[0]`` for unused (MOTO_IS_WRONG["#list[0]"])."""
        if "[" in path:
            return path
        return ".".join(self.name(step) for step in path.split("."))

    def value(self, value: dict[str, Any]) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def into(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.names:
            request["ExpressionAttributeNames"] = self.names
        if self.values:
            request["ExpressionAttributeValues"] = self.values
        return request


CONDITION_PATHS = ["PK", "n", "count", "s", "m", "m.x", "m.y", "l", "l[0]", "l[2]", "ss", "gpk", "gsk", "flag", "zz"]
COMPARATORS = ["=", "<>", "<", "<=", ">", ">="]


def leaf(draw: st.DrawFn, expr: Expression, excluded: frozenset[str]) -> str:
    paths = [path for path in CONDITION_PATHS if path.split(".")[0].split("[")[0] not in excluded]
    op = draw(st.sampled_from(COMPARATORS))
    choices: dict[str, Callable[[], str]] = {
        "exists": lambda: f"attribute_exists({expr.path(draw(st.sampled_from(paths)))})",
        "not_exists": lambda: f"attribute_not_exists({expr.path(draw(st.sampled_from(paths)))})",
        "number": lambda: f"{expr.name(draw(st.sampled_from(['n', 'count'])))} {op} {expr.value(draw(numbers))}",
        "text": lambda: f"{expr.name('s')} {op} {expr.value(draw(texts))}",
        "nested": lambda: nested(draw, expr, op),
        "element": lambda: f"{expr.path('l[1]')} {op} {expr.value(draw(numbers))}",
        "two paths": lambda: two_paths(draw, expr, op),
        "between": lambda: "{} BETWEEN {} AND {}".format(
            expr.name("n"),
            *map(expr.value, map(number, sorted(draw(st.lists(st.integers(-1, 3), min_size=2, max_size=2))))),
        ),
        "in": lambda: (
            f"{expr.name('n')} IN ({', '.join(expr.value(v) for v in draw(st.lists(numbers, min_size=1, max_size=3)))})"
        ),
        "begins_with": lambda: (
            f"begins_with({expr.name('s')}, {expr.value(text(draw(st.sampled_from(['a', 'b', 'ab']))))})"
        ),
        "contains": lambda: contains(draw, expr),
        "size": lambda: sized(draw, expr, op),
        "type": lambda: (
            f"attribute_type({expr.path(draw(st.sampled_from(['n', 's', 'm', 'l', 'ss', 'flag', 'zz'])))}, "
            f"{expr.value(text(draw(st.sampled_from(['N', 'S', 'M', 'L', 'SS', 'BOOL', 'NULL']))))})"
        ),
        "flag": lambda: f"{expr.name('flag')} = {expr.value({'BOOL': draw(st.booleans())})}",
    }
    names = [name for name in choices if not (name == "element" and "l" in excluded)]
    return choices[draw(st.sampled_from(names))]()


def nested(draw: st.DrawFn, expr: Expression, op: str) -> str:
    """A map member compared: m.x holds numbers, m.y strings."""
    if draw(st.booleans()):
        return f"{expr.path('m.x')} {op} {expr.value(draw(numbers))}"
    return f"{expr.path('m.y')} {op} {expr.value(draw(texts))}"


def two_paths(draw: st.DrawFn, expr: Expression, op: str) -> str:
    """Two attributes compared, both present: moto takes two missing attributes for equal, and fails
    on order comparisons of different types (MOTO_IS_WRONG["comparing two paths"])."""
    other = draw(st.sampled_from(["count", "s"]))
    if other == "s" and op not in ("=", "<>"):
        op = "="
    guard = f"attribute_exists({expr.name('n')}) AND attribute_exists({expr.name(other)})"
    return f"({guard} AND {expr.name('n')} {op} {expr.name(other)})"


def contains(draw: st.DrawFn, expr: Expression) -> str:
    """contains(): a substring, a member of a set, an element of a list."""
    attribute = draw(st.sampled_from(["ss", "s", "l"]))
    if attribute == "l":
        return f"contains({expr.name('l')}, {expr.value(draw(numbers))})"
    return f"contains({expr.name(attribute)}, {expr.value(text(draw(st.sampled_from(['a', 'b', 'ba', 'd']))))})"


def sized(draw: st.DrawFn, expr: Expression, op: str) -> str:
    """``size()`` guarded by the attribute's type: moto fails with a server error on the size of a
    missing attribute or a number (MOTO_IS_WRONG["size of nothing"]), where DynamoDB is false."""
    attribute, kind = draw(st.sampled_from([("l", "L"), ("s", "S"), ("ss", "SS"), ("m", "M")]))
    guard = f"attribute_type({expr.name(attribute)}, {expr.value(text(kind))})"
    return f"({guard} AND size({expr.name(attribute)}) {op} {expr.value(number(draw(st.integers(0, 3))))})"


def condition(draw: st.DrawFn, expr: Expression, depth: int = 0, excluded: frozenset[str] = frozenset()) -> str:
    """A random condition: comparisons and functions under AND, OR, NOT, with or without parentheses
    (so that both implementations must agree on precedence)."""
    shape = draw(st.sampled_from(["leaf", "leaf", "leaf", "and", "or", "not"])) if depth < 2 else "leaf"
    if shape == "leaf":
        return leaf(draw, expr, excluded)
    left = condition(draw, expr, depth + 1, excluded)
    if shape == "not":  # moto cannot parse NOT NOT (MOTO_IS_WRONG["NOT NOT"])
        return f"NOT {left}" if draw(st.booleans()) and not left.startswith("NOT") else f"NOT {group(left)}"
    right = condition(draw, expr, depth + 1, excluded)
    if draw(st.booleans()):
        left, right = group(left), group(right)
    return f"{left} {shape.upper()} {right}"


def group(condition_text: str) -> str:
    """The condition in parentheses, unless it is one group already (DynamoDB refuses ``((...))``)."""
    depth = 0
    for position, character in enumerate(condition_text):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth == 0:
            if position == len(condition_text) - 1 and condition_text.startswith("("):
                return condition_text
            break
    return f"({condition_text})"


def update_action(draw: st.DrawFn, expr: Expression, attribute: str) -> tuple[str, str]:
    """(clause, action) on one top-level attribute (distinct per update: no overlapping paths)."""

    def n() -> str:
        return expr.name(attribute)

    def v(strategy: st.SearchStrategy[dict[str, Any]]) -> str:
        return expr.value(draw(strategy))

    choices: dict[str, list[Callable[[], tuple[str, str]]]] = {
        "n": [
            lambda: ("SET", f"{n()} = {v(numbers)}"),
            lambda: ("SET", f"{n()} = {n()} + {v(numbers)}"),
            lambda: ("SET", f"{n()} = {v(numbers)} - {n()}"),
            lambda: ("SET", f"{n()} = if_not_exists({n()}, {v(numbers)})"),
            lambda: ("SET", f"{n()} = if_not_exists({n()}, {v(numbers)}) + {v(numbers)}"),
            lambda: ("SET", f"{n()} = {expr.name('gsk')}"),
            lambda: ("REMOVE", n()),
            lambda: ("ADD", f"{n()} {v(numbers)}"),
        ],
        "s": [
            lambda: ("SET", f"{n()} = {v(texts)}"),
            lambda: ("SET", f"{n()} = if_not_exists({n()}, {v(texts)})"),
            lambda: ("REMOVE", n()),
        ],
        "m": [
            lambda: ("SET", f"{n()} = {v(ATTRIBUTE_VALUES['m'])}"),
            lambda: ("SET", f"{expr.path('m.x')} = {v(numbers)}"),
            lambda: ("SET", f"{expr.path('m.x')} = {expr.path('m.x')} + {v(numbers)}"),
            lambda: ("SET", f"{expr.path('m.y')} = {v(texts)}"),
            lambda: ("REMOVE", expr.path("m.x")),
            lambda: ("ADD", f"{expr.path('m.x')} {v(numbers)}"),
        ],
        "l": [
            lambda: ("SET", f"{n()} = {v(ATTRIBUTE_VALUES['l'])}"),
            lambda: ("SET", f"{n()} = list_append({n()}, {v(ATTRIBUTE_VALUES['l'])})"),
            lambda: (  # prepend to a missing list crashes moto (MOTO_IS_WRONG["list_append(:v, missing)"])
                "SET",
                f"{n()} = list_append({v(ATTRIBUTE_VALUES['l'])}, if_not_exists({n()}, {expr.value({'L': []})}))",
            ),
            lambda: (
                "SET",
                f"{n()} = list_append(if_not_exists({n()}, {expr.value({'L': []})}), {v(ATTRIBUTE_VALUES['l'])})",
            ),
            lambda: ("SET", f"{expr.path('l[0]')} = {v(numbers)}"),
            lambda: ("SET", f"{expr.path('l[4]')} = {v(numbers)}"),
            lambda: ("REMOVE", expr.path(f"l[{draw(st.integers(0, 3))}]")),
        ],
        "ss": [
            lambda: ("ADD", f"{n()} {v(ATTRIBUTE_VALUES['ss'])}"),
            lambda: ("DELETE", f"{n()} {v(ATTRIBUTE_VALUES['ss'])}"),
            lambda: ("SET", f"{n()} = {v(ATTRIBUTE_VALUES['ss'])}"),
            lambda: ("REMOVE", n()),
        ],
        "gpk": [lambda: ("SET", f"{n()} = {v(ATTRIBUTE_VALUES['gpk'])}"), lambda: ("REMOVE", n())],
        "gsk": [
            lambda: ("SET", f"{n()} = {v(ATTRIBUTE_VALUES['gsk'])}"),
            lambda: ("ADD", f"{n()} {v(st.integers(0, 2).map(number))}"),
            lambda: ("REMOVE", n()),
        ],
        "flag": [lambda: ("SET", f"{n()} = {v(ATTRIBUTE_VALUES['flag'])}"), lambda: ("REMOVE", n())],
    }
    choices["count"] = choices["n"]
    return draw(st.sampled_from(choices[attribute]))()


@dataclass(frozen=True)
class Op:
    """One request: a client method and its arguments; ``paged`` requests are followed page by page.
    ``removes_only`` names the keys an Update of it would only REMOVE/DELETE from."""

    method: str
    request: dict[str, Any]
    paged: bool = False
    removes_only: tuple[tuple[str, str], ...] = ()
    nested_returns: bool = False


def update_request(draw: st.DrawFn, item_key: dict[str, Any]) -> tuple[dict[str, Any], bool, bool]:
    """An Update's fields; whether it only removes; whether it targets nested paths."""
    expr = Expression(draw)
    attributes = draw(st.lists(st.sampled_from(list(ATTRIBUTE_VALUES)), min_size=1, max_size=4, unique=True))
    clauses: dict[str, list[str]] = {}
    for attribute in attributes:
        clause, action = update_action(draw, expr, attribute)
        clauses.setdefault(clause, []).append(action)
    order = draw(st.permutations(list(clauses)))
    request: dict[str, Any] = {
        "TableName": TABLE,
        "Key": item_key,
        "UpdateExpression": " ".join(f"{clause} {', '.join(clauses[clause])}" for clause in order),
    }
    if draw(st.booleans()):
        request["ConditionExpression"] = condition(draw, expr)
    removes_only = set(clauses) <= {"REMOVE", "DELETE"}
    nested = any("." in action or "[" in action for actions in clauses.values() for action in actions)
    return expr.into(request), removes_only, nested


@st.composite
def puts(draw: st.DrawFn) -> Op:
    item = {**draw(keys), **draw(st.fixed_dictionaries({}, optional=ATTRIBUTE_VALUES))}
    request: dict[str, Any] = {"TableName": TABLE, "Item": item}
    if draw(st.booleans()):
        expr = Expression(draw)
        request["ConditionExpression"] = condition(draw, expr)
        expr.into(request)
        request["ReturnValuesOnConditionCheckFailure"] = draw(st.sampled_from(["NONE", "ALL_OLD"]))
    request["ReturnValues"] = draw(st.sampled_from(["NONE", "ALL_OLD"]))
    return Op("put_item", request)


@st.composite
def updates(draw: st.DrawFn) -> Op:
    item_key = draw(keys)
    request, removes_only, nested = update_request(draw, item_key)
    returns = draw(st.sampled_from(["NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"]))
    request["ReturnValues"] = returns
    if "ConditionExpression" in request:
        request["ReturnValuesOnConditionCheckFailure"] = draw(st.sampled_from(["NONE", "ALL_OLD"]))
    removes = ((item_key["PK"]["S"], item_key["SK"]["S"]),) if removes_only else ()
    return Op("update_item", request, removes_only=removes, nested_returns=nested and returns.startswith("UPDATED"))


@st.composite
def deletes(draw: st.DrawFn) -> Op:
    request: dict[str, Any] = {"TableName": TABLE, "Key": draw(keys)}
    if draw(st.booleans()):
        expr = Expression(draw)
        request["ConditionExpression"] = condition(draw, expr)
        expr.into(request)
    request["ReturnValues"] = draw(st.sampled_from(["NONE", "ALL_OLD"]))
    return Op("delete_item", request)


def projection(draw: st.DrawFn, expr: Expression, keys: bool = True) -> str:
    names = ["PK", "SK", "n", "s", "m", "l", "ss", "gsk"] if keys else ["n", "s", "m", "l", "ss", "gsk"]
    attributes = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    nested = {"m": ["m", "m.x"], "l": ["l", "l[0]", "l[2]"]}
    return ", ".join(expr.path(draw(st.sampled_from(nested.get(attribute, [attribute])))) for attribute in attributes)


@st.composite
def gets(draw: st.DrawFn) -> Op:
    request: dict[str, Any] = {"TableName": TABLE, "Key": draw(keys), "ConsistentRead": draw(st.booleans())}
    if draw(st.booleans()):
        expr = Expression(draw)
        request["ProjectionExpression"] = projection(draw, expr)
        expr.into(request)
    return Op("get_item", request)


@st.composite
def transactions(draw: st.DrawFn) -> Op:
    """Puts, updates, deletes and condition checks on distinct items (now and then the same item
    twice, which DynamoDB refuses), some failing their conditions."""
    item_keys = draw(st.lists(keys, min_size=1, max_size=4, unique_by=lambda k: (k["PK"]["S"], k["SK"]["S"])))
    if len(item_keys) > 1 and draw(st.integers(0, 9)) == 0:
        item_keys[-1] = item_keys[0]
    parts: list[dict[str, Any]] = []
    removes: list[tuple[str, str]] = []
    for item_key in item_keys:
        verb = draw(st.sampled_from(["Put", "Update", "Delete", "ConditionCheck"]))
        expr = Expression(draw)
        if verb == "Put":
            action: dict[str, Any] = {
                "TableName": TABLE,
                "Item": {**item_key, **draw(st.fixed_dictionaries({}, optional=ATTRIBUTE_VALUES))},
            }
        elif verb == "Update":
            action, removes_only, _ = update_request(draw, item_key)
            expr = Expression(draw)  # the update's placeholders are in the request already
            if removes_only:
                removes.append((item_key["PK"]["S"], item_key["SK"]["S"]))
        else:
            action = {"TableName": TABLE, "Key": item_key}
        if verb == "ConditionCheck" or (verb != "Update" and draw(st.booleans())):
            action["ConditionExpression"] = condition(draw, expr)
            expr.into(action)
        if "ConditionExpression" in action and draw(st.booleans()):
            action["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        parts.append({verb: action})
    return Op("transact_write_items", {"TransactItems": parts}, removes_only=tuple(removes))


def sort_condition(draw: st.DrawFn, expr: Expression, attribute: str, values: st.SearchStrategy[Any]) -> str:
    op = draw(st.sampled_from(["=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"]))
    name = expr.name(attribute)
    if op == "BETWEEN":
        low, high = sorted(draw(st.lists(values, min_size=2, max_size=2)))
        return f"{name} BETWEEN {expr.value(wrap(low))} AND {expr.value(wrap(high))}"
    if op == "begins_with":
        if attribute == "gsk":  # begins_with takes strings or binary only
            return f"{name} >= {expr.value(wrap(draw(values)))}"
        return f"begins_with({name}, {expr.value(text(draw(st.sampled_from(['a', 'B', 'é']))))})"
    return f"{name} {op} {expr.value(wrap(draw(values)))}"


def wrap(value: Any) -> dict[str, str]:
    return number(value) if isinstance(value, int) else text(value)


def read_options(draw: st.DrawFn, expr: Expression, request: dict[str, Any], keys_of_target: frozenset[str]) -> None:
    if draw(st.integers(0, 2)) == 0:
        request["FilterExpression"] = condition(draw, expr, excluded=keys_of_target)
    if draw(st.integers(0, 3)) == 0:
        request["Select"] = "COUNT"
    elif draw(st.booleans()):
        request["ProjectionExpression"] = projection(draw, expr)
    if draw(st.integers(0, 2)) > 0:
        request["Limit"] = draw(st.integers(1, 3))


@st.composite
def queries(draw: st.DrawFn) -> Op:
    expr = Expression(draw)
    request: dict[str, Any] = {"TableName": TABLE, "ScanIndexForward": draw(st.booleans())}
    with_sort = draw(st.booleans())
    if draw(st.booleans()):
        request["IndexName"] = "ByG"
        partition = f"{expr.name('gpk')} = {expr.value(draw(ATTRIBUTE_VALUES['gpk']))}"
        sort = sort_condition(draw, expr, "gsk", st.integers(0, 3)) if with_sort else ""
        excluded = frozenset({"gpk", "gsk"})
    else:
        request["ConsistentRead"] = draw(st.booleans())
        partition = f"{expr.name('PK')} = {expr.value(text(draw(st.sampled_from(PARTITIONS))))}"
        sort = sort_condition(draw, expr, "SK", st.sampled_from(SORT_KEYS)) if with_sort else ""
        excluded = frozenset({"PK", "SK"})
    request["KeyConditionExpression"] = f"{partition} AND {sort}" if sort else partition
    read_options(draw, expr, request, excluded)
    return Op("query", expr.into(request), paged=True)


@st.composite
def scans(draw: st.DrawFn) -> Op:
    expr = Expression(draw)
    request: dict[str, Any] = {"TableName": TABLE}
    if draw(st.booleans()):
        request["IndexName"] = "ByG"
    read_options(draw, expr, request, frozenset())
    return Op("scan", expr.into(request), paged=True)


@st.composite
def batch_writes(draw: st.DrawFn) -> Op:
    item_keys = draw(st.lists(keys, min_size=1, max_size=4, unique_by=lambda k: (k["PK"]["S"], k["SK"]["S"])))
    writes = [
        {"PutRequest": {"Item": {**item_key, **draw(st.fixed_dictionaries({}, optional=ATTRIBUTE_VALUES))}}}
        if draw(st.booleans())
        else {"DeleteRequest": {"Key": item_key}}
        for item_key in item_keys
    ]
    return Op("batch_write_item", {"RequestItems": {TABLE: writes}})


@st.composite
def seeds(draw: st.DrawFn) -> Op:
    """Items to start from (a batch write), so that reads have something to find."""
    item_keys = draw(st.lists(keys, min_size=2, max_size=8, unique_by=lambda k: (k["PK"]["S"], k["SK"]["S"])))
    optional = {name: values for name, values in ATTRIBUTE_VALUES.items() if name != "gpk"}
    attributes = st.fixed_dictionaries({"gpk": ATTRIBUTE_VALUES["gpk"]}, optional=optional)
    writes = [{"PutRequest": {"Item": {**item_key, **draw(attributes)}}} for item_key in item_keys]
    return Op("batch_write_item", {"RequestItems": {TABLE: writes}})


@st.composite
def batch_gets(draw: st.DrawFn) -> Op:
    item_keys = draw(st.lists(keys, min_size=1, max_size=4, unique_by=lambda k: (k["PK"]["S"], k["SK"]["S"])))
    table_request: dict[str, Any] = {"Keys": item_keys, "ConsistentRead": True}
    if draw(st.booleans()):
        expr = Expression(draw)
        table_request["ProjectionExpression"] = projection(draw, expr, keys=False) + ", PK, SK"
        if expr.names:
            table_request["ExpressionAttributeNames"] = expr.names
    return Op("batch_get_item", {"RequestItems": {TABLE: table_request}})


operations = st.one_of(
    puts(), puts(), puts(), updates(), updates(), updates(), deletes(), gets(), transactions(), transactions(),
    queries(), queries(), queries(), scans(), batch_writes(), batch_writes(), batch_gets(),
)  # fmt: skip


# ---- running and comparing ------------------------------------------------------------------------


def normalized(value: Any) -> Any:
    """Without response metadata and consumed capacity; sets in sorted order."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("SS", "NS", "BS"):
            ((tag, members),) = value.items()
            return {tag: sorted(members)}
        return {
            name: normalized(member)
            for name, member in value.items()
            if name not in ("ResponseMetadata", "ConsumedCapacity", "ItemCollectionMetrics")
        }
    if isinstance(value, list):
        return [normalized(member) for member in value]
    return value


def item_order(item: dict[str, Any]) -> tuple[str, str]:
    return item.get("PK", {}).get("S", ""), item.get("SK", {}).get("S", "")


def outcome_of_error(error: ClientError) -> tuple[Any, ...]:
    response = error.response
    reasons = [(reason["Code"], normalized(reason.get("Item"))) for reason in response.get("CancellationReasons", [])]
    return "error", response["Error"]["Code"], reasons, normalized(response.get("Item"))


def run(client: Any, op: Op) -> tuple[Any, ...]:
    method = getattr(client, op.method)
    try:
        if not op.paged:
            answer = normalized(method(**copy.deepcopy(op.request)))
            if op.method == "batch_get_item":
                answer["Responses"] = {
                    name: sorted(items, key=item_order) for name, items in answer["Responses"].items()
                }
            return "ok", answer
        pages = []
        request = copy.deepcopy(op.request)
        for _ in range(100):
            page = method(**request)
            pages.append(normalized(page))
            if "LastEvaluatedKey" not in page:
                return "pages", pages
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        raise AssertionError("more than 100 pages")
    except ClientError as error:
        return outcome_of_error(error)


def comparable_pages(pages: list[dict[str, Any]], *, ordered: bool) -> Any:
    """Pages without trailing empty ones (see MOTO_IS_WRONG["Limit reached on the last item"]);
    the LastEvaluatedKey of the last page is left out for the same reason. Unordered reads compare
    the items read as a multiset."""
    while len(pages) > 1 and pages[-1].get("ScannedCount") == 0:
        pages = pages[:-1]
    if not ordered:
        items = sorted((item for page in pages for item in page.get("Items", [])), key=repr)
        return items, sum(page["Count"] for page in pages), sum(page["ScannedCount"] for page in pages)
    return [
        {name: value for name, value in page.items() if name != "LastEvaluatedKey" or number < len(pages) - 1}
        for number, page in enumerate(pages)
    ]


def index_has_ties(fake: FakeDynamoDB) -> bool:
    indexed = [
        (item["gpk"]["S"], item["gsk"]["N"]) for item in fake.table_items(TABLE) if "gpk" in item and "gsk" in item
    ]
    return len(set(indexed)) != len(indexed)


def skipped(op: Op, fake: FakeDynamoDB) -> bool:
    """Requests whose DynamoDB answer moto gets wrong (MOTO_IS_WRONG["remove-only update..."])."""
    existing = {item_order(item) for item in fake.table_items(TABLE)}
    return any(item_key not in existing for item_key in op.removes_only)


def assert_same(op: Op, got: tuple[Any, ...], expected: tuple[Any, ...], ordered: bool) -> None:
    if got[0] == "pages" and expected[0] == "pages":
        assert comparable_pages(got[1], ordered=ordered) == comparable_pages(expected[1], ordered=ordered)
        return
    if got[:2] == ("error", "TransactionCanceledException") and any(code == "ValidationError" for code, _ in got[2]):
        # MOTO_IS_WRONG["item-level errors in transactions"]: neither wrote anything.
        assert expected[:2] in (("error", "ValidationException"), got[:2])
        return
    if op.nested_returns and got[0] == expected[0] == "ok":
        got[1].pop("Attributes", None)  # MOTO_IS_WRONG["UPDATED_OLD/UPDATED_NEW"]
        expected[1].pop("Attributes", None)
    if op.request.get("ReturnValues", "").startswith("UPDATED") and got[0] == expected[0] == "ok":
        # MOTO_IS_WRONG["UPDATED_OLD/UPDATED_NEW"]: what moto answers must be part of DynamoDB's answer.
        updated = got[1].pop("Attributes", {})
        answered = expected[1].pop("Attributes", {})
        assert {name: updated.get(name) for name in answered if name not in ("PK", "SK")} == {
            name: value for name, value in answered.items() if name not in ("PK", "SK")
        }
    assert got == expected


def table_contents(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": TABLE}
    while True:
        page = client.scan(**request)
        items.extend(normalized(page["Items"]))
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=item_order)
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@settings(
    max_examples=60,
    deadline=None,
    report_multiple_bugs=False,  # shrinking through moto is slow: one bug at a time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(seed=seeds(), ops=st.lists(operations, min_size=1, max_size=15))
def test_the_fake_answers_as_moto_does(aws: None, seed: Op, ops: list[Op]) -> None:
    moto = boto3.client("dynamodb")
    moto.create_table(**TABLE_REQUEST)
    fake = FakeDynamoDB()
    fake.create_table(**TABLE_REQUEST)
    try:
        for op in [seed, *ops]:
            if skipped(op, fake):
                continue
            ordered = op.method != "scan" and not (op.request.get("IndexName") and index_has_ties(fake))
            expected = run(moto, op)
            got = run(fake, op)
            assert_same(op, got, expected, ordered)
        assert table_contents(fake) == table_contents(moto)
    finally:
        moto.delete_table(TableName=TABLE)


# ---- examples: DynamoDB's documented behaviour ----------------------------------------------------


@pytest.fixture
def fake() -> FakeDynamoDB:
    """The fake with the app table of template.yaml (PK/SK, the sparse GSI1 and GSI2)."""
    client = FakeDynamoDB()
    client.create_table(**create_table_request("AppTable", "app"))
    client.update_time_to_live(TableName="app", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    return client


INVOICE = {"PK": text("ACCOUNT#A"), "SK": text("INVOICE#I")}


def error_of(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def response_of(error: ClientError) -> dict[str, Any]:
    """The parsed error response, with the members of the error's shape (e.g. ``Item``)."""
    return cast(dict[str, Any], error.response)


def code_of(call: Callable[[], Any]) -> str:
    return str(error_of(call).response["Error"]["Code"])


def item(client: FakeDynamoDB, item_key: dict[str, Any], table: str = "app") -> dict[str, Any] | None:
    found: dict[str, Any] | None = client.get_item(TableName=table, Key=item_key, ConsistentRead=True).get("Item")
    return found


def update(
    client: FakeDynamoDB, expression: str, table: str = "app", item_key: dict[str, Any] = INVOICE, **rest: Any
) -> dict[str, Any]:
    answer: dict[str, Any] = client.update_item(TableName=table, Key=item_key, UpdateExpression=expression, **rest)
    return answer


def test_set_a_map_entry_only_when_the_map_exists(fake: FakeDynamoDB) -> None:
    credit = {":c": {"M": {"cents": number(100)}}}
    names = {"#pid": "pay-1"}
    fake.put_item(TableName="app", Item={**INVOICE, "credits": {"M": {}}})
    update(fake, "SET credits.#pid = :c", ExpressionAttributeNames=names, ExpressionAttributeValues=credit)
    assert item(fake, INVOICE) == {**INVOICE, "credits": {"M": {"pay-1": {"M": {"cents": number(100)}}}}}

    other = {"PK": text("ACCOUNT#A"), "SK": text("INVOICE#J")}
    fake.put_item(TableName="app", Item=other)
    failure = error_of(
        lambda: update(
            fake,
            "SET credits.#pid = :c",
            item_key=other,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=credit,
        )
    )
    assert failure.response["Error"] == {
        "Code": "ValidationException",
        "Message": "The document path provided in the update expression is invalid for update",
    }
    assert item(fake, other) == other
    # The same update on an item that does not exist at all: the same error, and nothing created.
    missing = {"PK": text("ACCOUNT#A"), "SK": text("INVOICE#K")}
    assert (
        code_of(
            lambda: update(
                fake,
                "SET credits.#pid = :c",
                item_key=missing,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=credit,
            )
        )
        == "ValidationException"
    )
    assert item(fake, missing) is None


def test_a_failed_condition_in_a_transaction_answers_the_old_item(fake: FakeDynamoDB) -> None:
    stored = {**INVOICE, "unpaidCents": number(500), "credits": {"M": {}}}
    fake.put_item(TableName="app", Item=stored)
    payment = {"PK": text("PAYMENT#p"), "SK": text("PAYMENT")}
    failure = error_of(
        lambda: fake.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "app", "Item": payment, "ConditionExpression": "attribute_not_exists(PK)"}},
                {
                    "Update": {
                        "TableName": "app",
                        "Key": INVOICE,
                        "UpdateExpression": "ADD unpaidCents :neg",
                        "ConditionExpression": "unpaidCents >= :c",
                        "ExpressionAttributeValues": {":neg": number(-600), ":c": number(600)},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ],
            ClientRequestToken="token-1",
        )
    )
    assert isinstance(failure, fake.exceptions.TransactionCanceledException)
    assert failure.response["Error"]["Code"] == "TransactionCanceledException"
    assert failure.response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed", "Item": stored},
    ]
    assert "[None, ConditionalCheckFailed]" in failure.response["Error"]["Message"]
    assert item(fake, payment) is None  # all or nothing
    assert item(fake, INVOICE) == stored


def test_subtracting_a_path_from_a_value(fake: FakeDynamoDB) -> None:
    fake.put_item(TableName="app", Item={**INVOICE, "u": number(3)})
    answer = update(fake, "SET v = :x - u", ExpressionAttributeValues={":x": number(10)}, ReturnValues="UPDATED_NEW")
    assert answer["Attributes"] == {"v": number(7)}
    # The operand must exist, and be a number; decimals are exact (never floats).
    assert (
        code_of(lambda: update(fake, "SET v = :x - nope", ExpressionAttributeValues={":x": number(1)}))
        == "ValidationException"
    )
    fake.put_item(TableName="app", Item={**INVOICE, "u": text("3")})
    assert (
        code_of(lambda: update(fake, "SET v = :x - u", ExpressionAttributeValues={":x": number(1)}))
        == "ValidationException"
    )
    fake.put_item(TableName="app", Item={**INVOICE, "u": {"N": "0.1"}})
    answer = update(fake, "SET v = u + :x", ExpressionAttributeValues={":x": {"N": "0.2"}}, ReturnValues="UPDATED_NEW")
    assert answer["Attributes"] == {"v": {"N": "0.3"}}


def test_if_not_exists(fake: FakeDynamoDB) -> None:
    values = {":none": {"M": {}}, ":zero": number(0), ":one": number(1)}
    expression = "SET credits = if_not_exists(credits, :none), n = if_not_exists(n, :zero) + :one"
    update(fake, expression, ExpressionAttributeValues=values)
    assert item(fake, INVOICE) == {**INVOICE, "credits": {"M": {}}, "n": number(1)}
    update(fake, "SET credits.x = :one", ExpressionAttributeValues={":one": number(1)})
    update(fake, expression, ExpressionAttributeValues=values)
    assert item(fake, INVOICE) == {**INVOICE, "credits": {"M": {"x": number(1)}}, "n": number(2)}
    # The first operand must be a path.
    assert (
        code_of(
            lambda: update(
                fake,
                "SET n = if_not_exists(:zero, :one)",
                ExpressionAttributeValues={":zero": number(0), ":one": number(1)},
            )
        )
        == "ValidationException"
    )


def test_a_sparse_index_holds_an_item_while_it_has_the_key_attributes(fake: FakeDynamoDB) -> None:
    payment = {"PK": text("PAYMENT#p"), "SK": text("PAYMENT")}

    def open_payments() -> list[dict[str, Any]]:
        answer = fake.query(
            TableName="app",
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :open",
            ExpressionAttributeValues={":open": text("OPEN")},
        )
        items: list[dict[str, Any]] = answer["Items"]
        return items

    fake.put_item(TableName="app", Item={**payment, "GSI2PK": text("OPEN")})
    assert open_payments() == []  # only one of the two key attributes
    update(
        fake, "SET GSI2SK = :at", item_key=payment, ExpressionAttributeValues={":at": text("2026-11-25T19:30:00Z#p")}
    )
    assert [entry["PK"] for entry in open_payments()] == [text("PAYMENT#p")]
    update(fake, "REMOVE GSI2PK, GSI2SK", item_key=payment)
    assert open_payments() == []
    update(
        fake,
        "SET GSI2PK = :open, GSI2SK = :at",
        item_key=payment,
        ExpressionAttributeValues={":open": text("OPEN"), ":at": text("x")},
    )
    fake.delete_item(TableName="app", Key=payment)
    assert open_payments() == []
    # An index key of the wrong type, or empty, is refused (never silently left out of the index).
    bad = {**payment, "GSI2PK": number(1), "GSI2SK": text("x")}
    assert (
        "Type mismatch for Index Key GSI2PK"
        in error_of(lambda: fake.put_item(TableName="app", Item=bad)).response["Error"]["Message"]
    )
    assert (
        code_of(lambda: fake.put_item(TableName="app", Item={**payment, "GSI2PK": text("")})) == "ValidationException"
    )
    assert (
        code_of(lambda: update(fake, "SET GSI1PK = :n", item_key=payment, ExpressionAttributeValues={":n": number(1)}))
        == "ValidationException"
    )
    assert item(fake, payment) is None


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
        ("absent <> gone", True),
        ("n < s", False),  # values of different types
        ("NOT NOT n = :two", True),
        ("n BETWEEN :two AND :three", True),
        ("n BETWEEN :one AND :one", False),
        ("n BETWEEN :text2 AND :text3", False),
        ("n IN (:three, :text2, :two)", True),
        ("n IN (:three)", False),
        ("s < :b", True),  # strings by UTF-8 bytes: "B" < "a" < "b" < "é"
        ("s > :B", True),
        ("s < :e", True),
        ("numbers = :set", True),  # sets in any order
        ("nested.xs[1] = :three", True),
        ("nested.xs[9] = :three", False),
        ("NOT n = :two OR n = :two", True),  # NOT binds tighter than OR ...
        ("NOT (n = :two OR n = :two)", False),
        ("n = :three AND n = :two OR n = :two", True),  # ... and AND tighter than OR
        ("n = :three AND (n = :two OR n = :two)", False),
        ("NOT n = :three AND n = :two", True),
        ("attribute_exists(nested.xs)", True),
        ("attribute_not_exists(nested.ys)", True),
        ("attribute_type(n, :N)", True),
        ("attribute_type(numbers, :N)", False),
        ("begins_with(s, :a)", True),
        ("begins_with(n, :a)", False),
        ("contains(s, :a)", True),
        ("contains(numbers, :two)", True),
        ("contains(nested.xs, :three)", True),
        ("contains(numbers, :text2)", False),
        ("size(s) = :two", True),
        ("size(numbers) = :three", True),
        ("size(nested) = :one", True),
        ("size(n) = :one", False),  # no size for a number
        ("size(absent) < :one", False),
    ],
)
def test_conditions(fake: FakeDynamoDB, condition: str, holds: bool) -> None:
    fake.put_item(
        TableName="app",
        Item={
            **INVOICE,
            "n": number(2),
            "s": text("aé"),
            "numbers": {"NS": ["3", "1", "2"]},
            "nested": {"M": {"xs": {"L": [number(2), number(3)]}}},
        },
    )
    values = {
        ":one": number(1), ":two": number(2), ":three": number(3), ":text2": text("2"), ":text3": text("3"),
        ":b": text("b"), ":B": text("B"), ":e": text("é"), ":a": text("a"), ":N": text("N"),
        ":set": {"NS": ["1", "2", "3"]},
    }  # fmt: skip
    used = {name: value for name, value in values.items() if name in re.findall(r":\w+", condition)}
    request: dict[str, Any] = {"TableName": "app", "Key": INVOICE, "UpdateExpression": "SET done = :yes"}
    request["ConditionExpression"] = condition
    request["ExpressionAttributeValues"] = {**used, ":yes": {"BOOL": True}}
    if holds:
        fake.update_item(**request)
        assert (item(fake, INVOICE) or {})["done"] == {"BOOL": True}
    else:
        failure = error_of(lambda: fake.update_item(**request))
        assert isinstance(failure, fake.exceptions.ConditionalCheckFailedException)
        assert failure.response["Error"]["Message"] == "The conditional request failed"


@pytest.mark.parametrize(
    ("condition", "values", "message"),
    [
        ("n = :v AND", {":v": number(1)}, "Syntax error"),
        ("n IN ()", {}, "Syntax error"),
        ("", {}, "The expression can not be empty"),
        ("count = :v", {":v": number(1)}, "reserved keyword; reserved keyword: count"),
        ("n = :v", {}, "attribute value: :v"),
        ("n = :v", {":v": number(1), ":w": number(2)}, "unused in expressions: keys: {:w}"),
        ("#n = :v", {":v": number(1)}, "attribute name: #n"),
        ("n < :v", {":v": {"L": []}}, "operand type: L"),
        ("n BETWEEN :hi AND :lo", {":hi": number(2), ":lo": number(1)}, "upper bound to be greater than or equal"),
        ("n BETWEEN :lo AND :s", {":lo": number(1), ":s": text("x")}, "same data type"),
        ("begins_with(s, :v)", {":v": number(1)}, "begins_with, operand type: N"),
        ("attribute_type(n, :v)", {":v": text("DOG")}, "Invalid attribute type name"),
        ("attribute_exists(:v)", {":v": number(1)}, "requires a document path"),
        ("size(n)", {}, "not allowed to be used this way"),
        ("if_not_exists(n, :v) = :v", {":v": number(1)}, "not allowed"),
        ("dog(n) = :v", {":v": number(1)}, "Invalid function name; function: dog"),
        ("size(n, s) = :v", {":v": number(1)}, "number of operands: 2"),
        ("((n = :v))", {":v": number(1)}, "The expression has redundant parentheses;"),
        ("a = :v AND ((n = :v AND s = :v))", {":v": number(1)}, "The expression has redundant parentheses;"),
    ],
)
def test_malformed_conditions_are_validation_errors(
    fake: FakeDynamoDB, condition: str, values: dict[str, Any], message: str
) -> None:
    request: dict[str, Any] = {"TableName": "app", "Item": INVOICE, "ConditionExpression": condition}
    if values:
        request["ExpressionAttributeValues"] = values
    failure = error_of(lambda: fake.put_item(**request))
    assert failure.response["Error"]["Code"] == "ValidationException"
    assert message in failure.response["Error"]["Message"]
    assert item(fake, INVOICE) is None


@pytest.mark.parametrize(
    "condition",
    [
        "(n = :v)",
        "((n = :v) AND (s = :v))",
        "((n = :v AND s = :v) AND a = :v)",
        "a = :v OR (n = :v AND s = :v)",
        "NOT (n = :v)",
    ],
)
def test_parentheses_that_are_not_redundant(fake: FakeDynamoDB, condition: str) -> None:
    """Only a pair of parentheses around nothing but another pair is refused."""
    request = {"TableName": "app", "Item": INVOICE, "ConditionExpression": condition}
    try:
        fake.put_item(**request, ExpressionAttributeValues={":v": number(1)})
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def test_reserved_words_and_placeholders_in_paths(fake: FakeDynamoDB) -> None:
    lines = {"L": [{"M": {"paidCents": number(0)}}, {"M": {"paidCents": number(0)}}]}
    fake.put_item(TableName="app", Item={**INVOICE, "lines": lines})
    names = {"#lines": "lines"}
    update(
        fake,
        "SET #lines[1].paidCents = :c",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={":c": number(5)},
    )
    answer = fake.get_item(
        TableName="app", Key=INVOICE, ProjectionExpression="#lines[1].paidCents", ExpressionAttributeNames=names
    )
    assert answer["Item"] == {"lines": {"L": [{"M": {"paidCents": number(5)}}]}}
    for unescaped in ["SET lines[1].paidCents = :c", "SET #lines[1].status = :c"]:
        failure = error_of(
            functools.partial(
                update, fake, unescaped, ExpressionAttributeNames=names, ExpressionAttributeValues={":c": number(5)}
            )
        )
        assert "Attribute name is a reserved keyword" in failure.response["Error"]["Message"]


def test_update_clauses(fake: FakeDynamoDB) -> None:
    fake.put_item(
        TableName="app",
        Item={
            **INVOICE,
            "a": number(1),
            "tags": {"SS": ["x", "y"]},
            "l": {"L": [number(n) for n in range(6)]},
            "gone": text("g"),
        },
    )
    values = {":two": number(2), ":z": {"SS": ["z", "x"]}, ":n": number(5)}
    update(fake, "set b = :two remove gone ADD a :two, tags :z, fresh :n", ExpressionAttributeValues=values)
    update(fake, "DELETE tags :y", ExpressionAttributeValues={":y": {"SS": ["y", "w"]}})
    assert item(fake, INVOICE) == {
        **INVOICE, "a": number(3), "b": number(2), "tags": {"SS": ["x", "z"]}, "fresh": number(5),
        "l": {"L": [number(n) for n in range(6)]},
    }  # fmt: skip
    # List indexes refer to the list as it was; a SET beyond the end appends, in index order.
    update(
        fake,
        "REMOVE l[1], l[3] SET l[4] = :a, l[9] = :c, l[7] = :b",
        ExpressionAttributeValues={":a": text("a"), ":b": text("b"), ":c": text("c")},
    )
    assert (item(fake, INVOICE) or {})["l"] == {"L": [number(0), number(2), text("a"), number(5), text("b"), text("c")]}
    update(fake, "SET l = list_append(:front, l)", ExpressionAttributeValues={":front": {"L": [number(-1)]}})
    assert (item(fake, INVOICE) or {})["l"]["L"][:2] == [number(-1), number(0)]
    # Deleting every member removes the set; removing what is not there is fine.
    update(fake, "DELETE tags :all REMOVE nothing, l[99]", ExpressionAttributeValues={":all": {"SS": ["x", "z"]}})
    assert "tags" not in (item(fake, INVOICE) or {})
    # ADD to something not a number or set, DELETE with a non-set, arithmetic on text, a missing list: errors.
    mistakes: list[tuple[str, dict[str, Any]]] = [
        ("ADD b :v", {"SS": ["x"]}),
        ("DELETE b :v", number(1)),
        ("SET b = b + :v", text("x")),
        ("SET b = list_append(:v, gone)", {"L": []}),
    ]
    for expression, value in mistakes:
        wrong = functools.partial(update, fake, expression, ExpressionAttributeValues={":v": value})
        assert code_of(wrong) == "ValidationException"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("SET a = :v, a = :v", "overlap"),
        ("SET m.a = :v REMOVE m", "overlap"),
        ("SET l[1] = :v, l.x = :v", "conflict"),
        ("SET a = :v SET b = :v", 'The "SET" section can only be used once'),
        ("SET PK = :v", "Cannot update attribute PK. This attribute is part of the key"),
        ("SET GSI1PK.x = :v", "Key attributes must be scalars"),
        ("SET a = :v + :v + :v", "Syntax error"),
        ("SET a = size(b)", "not allowed in an update expression"),
        ("SET a = list_append(list_append(:l, :l), :l)", "not allowed to be used this way"),
        ("SET a = :v + :t", "operator or function: +, operand type: S"),
        ("ADD a :t", "operator: ADD, operand type: STRING"),
        ("REMOVE lines[0]", "reserved keyword; reserved keyword: lines"),
        ("SET a = if_not_exists(a)", "number of operands: 1"),
        ("SET a[:v] = :v", "Syntax error"),
    ],
)
def test_malformed_updates_are_validation_errors(fake: FakeDynamoDB, expression: str, message: str) -> None:
    values = {
        name: value for name, value in {":v": number(1), ":t": text("t"), ":l": {"L": []}}.items() if name in expression
    }
    request: dict[str, Any] = {"TableName": "app", "Key": INVOICE, "UpdateExpression": expression}
    if values:
        request["ExpressionAttributeValues"] = values
    failure = error_of(lambda: fake.update_item(**request))
    assert failure.response["Error"]["Code"] == "ValidationException"
    assert message in failure.response["Error"]["Message"]
    assert item(fake, INVOICE) is None


def test_an_update_creates_the_item_unless_it_only_removes(fake: FakeDynamoDB) -> None:
    assert update(fake, "REMOVE a, b.c", ReturnValues="ALL_NEW") == {"ResponseMetadata": mock.ANY}
    assert item(fake, INVOICE) is None
    fake.update_item(TableName="app", Key=INVOICE)  # no expression at all: the key alone
    assert item(fake, INVOICE) == INVOICE


def test_return_values(fake: FakeDynamoDB) -> None:
    fake.put_item(
        TableName="app",
        Item={**INVOICE, "a": {"M": {"b": text("dog"), "c": {"L": [number(1), number(2)]}}}, "d": number(1)},
    )
    values = {":v": number(7)}
    answer = update(fake, "SET a.c[1] = :v, d = d + :v", ExpressionAttributeValues=values, ReturnValues="UPDATED_OLD")
    assert answer["Attributes"] == {"a": {"M": {"c": {"L": [number(2)]}}}, "d": number(1)}
    answer = update(fake, "SET a.x = :v REMOVE d", ExpressionAttributeValues=values, ReturnValues="UPDATED_NEW")
    assert answer["Attributes"] == {"a": {"M": {"x": number(7)}}}
    assert "Attributes" not in update(fake, "SET e = :v", ExpressionAttributeValues=values, ReturnValues="UPDATED_OLD")
    all_old = update(fake, "SET e = :v", ExpressionAttributeValues=values, ReturnValues="ALL_OLD")["Attributes"]
    assert all_old["e"] == number(7)
    assert (
        code_of(lambda: fake.put_item(TableName="app", Item=INVOICE, ReturnValues="ALL_NEW")) == "ValidationException"
    )
    assert fake.delete_item(TableName="app", Key=INVOICE, ReturnValues="ALL_OLD")["Attributes"]["e"] == number(7)
    failure = error_of(
        lambda: fake.delete_item(
            TableName="app",
            Key=INVOICE,
            ConditionExpression="attribute_exists(PK)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    )
    assert isinstance(failure, fake.exceptions.ConditionalCheckFailedException)
    assert "Item" not in failure.response  # nothing was there
    fake.put_item(TableName="app", Item={**INVOICE, "v": number(1)})
    failure = error_of(
        lambda: fake.put_item(
            TableName="app",
            Item=INVOICE,
            ConditionExpression="attribute_not_exists(PK)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    )
    assert response_of(failure)["Item"] == {**INVOICE, "v": number(1)}
    assert response_of(failure)["message"] == "The conditional request failed"
    assert failure.operation_name == "PutItem"


def transact(fake: FakeDynamoDB, *parts: dict[str, Any], **rest: Any) -> dict[str, Any]:
    answer: dict[str, Any] = fake.transact_write_items(TransactItems=list(parts), **rest)
    return answer


def test_transactions(fake: FakeDynamoDB) -> None:
    one, two = INVOICE, {"PK": text("ACCOUNT#A"), "SK": text("INVOICE#J")}
    put_one = {"Put": {"TableName": "app", "Item": {**one, "v": number(1)}}}
    # Two actions on one item: a ValidationException for the whole request.
    duplicate = {"ConditionCheck": {"TableName": "app", "Key": one, "ConditionExpression": "attribute_not_exists(PK)"}}
    failure = error_of(lambda: transact(fake, put_one, duplicate))
    assert failure.response["Error"]["Message"] == "Transaction request cannot include multiple operations on one item"
    # An item DynamoDB cannot take, or an update that does not fit the item, cancels with a ValidationError.
    wrong_key = {"Delete": {"TableName": "app", "Key": {"PK": number(1), "SK": text("x")}}}
    reasons = error_of(lambda: transact(fake, put_one, wrong_key)).response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "ValidationError"]
    bad_path = {
        "Update": {
            "TableName": "app",
            "Key": two,
            "UpdateExpression": "SET m.x = :v",
            "ExpressionAttributeValues": {":v": number(1)},
        }
    }
    reasons = error_of(lambda: transact(fake, put_one, bad_path)).response["CancellationReasons"]
    assert reasons[1] == {
        "Code": "ValidationError",
        "Message": "The document path provided in the update expression is invalid for update",
    }
    # Malformed expressions fail the whole request.
    unused = {
        "ConditionCheck": {
            "TableName": "app",
            "Key": two,
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeValues": {":x": number(1)},
        }
    }
    assert code_of(lambda: transact(fake, put_one, unused)) == "ValidationException"
    assert item(fake, one) is None
    # Every failed condition is reported, not only the first.
    check = {"ConditionCheck": {"TableName": "app", "Key": two, "ConditionExpression": "attribute_exists(PK)"}}
    delete_two = {
        "Delete": {
            "TableName": "app",
            "Key": {**two, "SK": text("INVOICE#K")},
            "ConditionExpression": "attribute_exists(PK)",
        }
    }
    reasons = error_of(lambda: transact(fake, put_one, check, delete_two)).response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed", "ConditionalCheckFailed"]
    # Idempotency: the same token and request succeed again without writing again.
    increment = {
        "Update": {
            "TableName": "app",
            "Key": one,
            "UpdateExpression": "ADD v :one",
            "ExpressionAttributeValues": {":one": number(1)},
        }
    }
    transact(fake, increment, ClientRequestToken="t-1")
    transact(fake, increment, ClientRequestToken="t-1")
    assert (item(fake, one) or {})["v"] == number(1)
    assert code_of(lambda: transact(fake, put_one, ClientRequestToken="t-1")) == "IdempotentParameterMismatchException"
    transact(fake, increment)
    answer = fake.transact_get_items(
        TransactItems=[
            {"Get": {"TableName": "app", "Key": one, "ProjectionExpression": "v"}},
            {"Get": {"TableName": "app", "Key": two}},
        ]
    )
    assert answer["Responses"] == [{"Item": {"v": number(2)}}, {}]


def test_queries_sort_and_page_as_dynamodb_does(fake: FakeDynamoDB) -> None:
    fake.create_table(
        TableName="sorted",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "h", "AttributeType": "S"},
            {"AttributeName": "r", "AttributeType": "N"},
            {"AttributeName": "b", "AttributeType": "B"},
        ],
        KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByB",
                "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    for value, raw in [("10", b"\x80"), ("9", b"\x7f"), ("-1.5", b"\x00"), ("100", b"\xff\x00")]:
        fake.put_item(TableName="sorted", Item={"h": text("x"), "r": {"N": value}, "b": {"B": raw}, "label": text("o")})

    def query(**request: Any) -> dict[str, Any]:
        answer: dict[str, Any] = fake.query(**{"TableName": "sorted", "KeyConditionExpression": "h = :h", **request})
        return answer

    values = {":h": text("x")}
    assert [entry["r"]["N"] for entry in query(ExpressionAttributeValues=values)["Items"]] == ["-1.5", "9", "10", "100"]
    by_bytes = query(IndexName="ByB", ExpressionAttributeValues=values)["Items"]
    assert [entry["b"]["B"] for entry in by_bytes] == [b"\x00", b"\x7f", b"\x80", b"\xff\x00"]  # unsigned bytes
    assert by_bytes[0] == {"h": text("x"), "r": {"N": "-1.5"}, "b": {"B": b"\x00"}}  # KEYS_ONLY
    # Limit counts items read; a page that reaches it has a LastEvaluatedKey, even the last one.
    first = query(ExpressionAttributeValues=values, Limit=2, ScanIndexForward=False)
    assert [entry["r"]["N"] for entry in first["Items"]] == ["100", "10"]
    second = query(
        ExpressionAttributeValues=values, Limit=2, ScanIndexForward=False, ExclusiveStartKey=first["LastEvaluatedKey"]
    )
    assert [entry["r"]["N"] for entry in second["Items"]] == ["9", "-1.5"]
    assert second["LastEvaluatedKey"] == {"h": text("x"), "r": {"N": "-1.5"}}
    third = query(
        ExpressionAttributeValues=values, Limit=2, ScanIndexForward=False, ExclusiveStartKey=second["LastEvaluatedKey"]
    )
    assert third["Items"] == [] and "LastEvaluatedKey" not in third
    # An index's LastEvaluatedKey has the index's keys and the table's.
    page = query(IndexName="ByB", ExpressionAttributeValues=values, Limit=1)
    assert page["LastEvaluatedKey"] == {"h": text("x"), "r": {"N": "-1.5"}, "b": {"B": b"\x00"}}
    # Filters apply after Limit; COUNT answers no items.
    filtered = query(
        ExpressionAttributeValues={**values, ":nine": number(9)},
        FilterExpression="label = :nine",
        Limit=3,
        Select="COUNT",
    )
    assert (filtered["Count"], filtered["ScannedCount"], "Items" in filtered) == (0, 3, False)
    ranged = query(
        KeyConditionExpression="h = :h AND r BETWEEN :lo AND :hi",
        ExpressionAttributeValues={**values, ":lo": number(9), ":hi": number(10)},
    )
    assert [entry["r"]["N"] for entry in ranged["Items"]] == ["9", "10"]
    # Not allowed: a filter on a key attribute, a consistent read of a global index, a wrong key type.
    assert (
        code_of(lambda: query(ExpressionAttributeValues={**values, ":r": number(1)}, FilterExpression="r = :r"))
        == "ValidationException"
    )
    assert (
        code_of(lambda: query(IndexName="ByB", ExpressionAttributeValues=values, ConsistentRead=True))
        == "ValidationException"
    )
    assert code_of(lambda: query(ExpressionAttributeValues={":h": number(1)})) == "ValidationException"
    assert (
        code_of(lambda: query(KeyConditionExpression="h = :h OR r = :h", ExpressionAttributeValues=values))
        == "ValidationException"
    )
    assert code_of(lambda: query(IndexName="Nope", ExpressionAttributeValues=values)) == "ValidationException"


def test_scans_and_batches(fake: FakeDynamoDB) -> None:
    writes = [{"PutRequest": {"Item": {"PK": text(f"P{n}"), "SK": text("S"), "n": number(n)}}} for n in range(5)]
    assert fake.batch_write_item(RequestItems={"app": writes})["UnprocessedItems"] == {}
    pages: list[list[dict[str, Any]]] = []
    request: dict[str, Any] = {
        "TableName": "app",
        "Limit": 2,
        "FilterExpression": "n >= :two",
        "ExpressionAttributeValues": {":two": number(2)},
        "ProjectionExpression": "n",
    }
    while True:
        page = fake.scan(**request)
        pages.append(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert sorted(entry["n"]["N"] for page_items in pages for entry in page_items) == ["2", "3", "4"]
    assert len(pages) == 3  # 2 + 2 + 1 items read
    segments = [fake.scan(TableName="app", Segment=segment, TotalSegments=3)["Count"] for segment in range(3)]
    assert sum(segments) == 5
    got = fake.batch_get_item(
        RequestItems={
            "app": {
                "Keys": [{"PK": text("P1"), "SK": text("S")}, {"PK": text("nope"), "SK": text("S")}],
                "ProjectionExpression": "n",
            }
        }
    )
    assert got["Responses"] == {"app": [{"n": number(1)}]} and got["UnprocessedKeys"] == {}
    same_twice = [{"DeleteRequest": {"Key": {"PK": text("P1"), "SK": text("S")}}}] * 2
    assert (
        "duplicates"
        in error_of(lambda: fake.batch_write_item(RequestItems={"app": same_twice})).response["Error"]["Message"]
    )


def test_values_are_checked_copied_and_canonical(fake: FakeDynamoDB) -> None:
    mutable: dict[str, Any] = {
        **INVOICE,
        "m": {"M": {"x": {"L": [number(1)]}}},
        "n": {"N": "005.50"},
        "big": {"N": "1E+3"},
    }
    fake.put_item(TableName="app", Item=mutable)
    mutable["m"]["M"]["x"]["L"].append(number(2))
    stored = item(fake, INVOICE) or {}
    assert stored["m"] == {"M": {"x": {"L": [number(1)]}}}
    assert (stored["n"], stored["big"]) == ({"N": "5.5"}, {"N": "1000"})
    stored["m"]["M"].clear()
    assert (item(fake, INVOICE) or {})["m"] == {"M": {"x": {"L": [number(1)]}}}
    for bad in [{"N": "1e126"}, {"N": "NaN"}, {"N": "1" * 39}, {"SS": []}, {"SS": ["a", "a"]}, {"NS": ["1", "1.0"]}]:
        assert (
            code_of(functools.partial(fake.put_item, TableName="app", Item={**INVOICE, "x": bad}))
            == "ValidationException"
        )
    assert (
        code_of(lambda: fake.put_item(TableName="app", Item={**INVOICE, "x": text("x" * 410_000)}))
        == "ValidationException"
    )
    assert code_of(lambda: fake.put_item(TableName="app", Item={"PK": text("a")})) == "ValidationException"
    assert (
        code_of(lambda: fake.put_item(TableName="app", Item={"PK": text(""), "SK": text("b")})) == "ValidationException"
    )
    assert code_of(lambda: fake.get_item(TableName="app", Key={"PK": text("a")})) == "ValidationException"
    assert code_of(lambda: fake.get_item(TableName="nope", Key=INVOICE)) == "ResourceNotFoundException"


def test_client_behaviour(fake: FakeDynamoDB) -> None:
    fake.reset_calls()
    with pytest.raises(ParamValidationError):
        fake.get_item(TableName="app", Key=INVOICE, Unknown=True)
    with pytest.raises(NotImplementedError):
        fake.get_item(TableName="app", Key=INVOICE, AttributesToGet=["a"])
    fake.inject_error("transact_write_items", "TransactionConflictException", times=1)
    put = {"Put": {"TableName": "app", "Item": INVOICE}}
    assert code_of(lambda: transact(fake, put)) == "TransactionConflictException"
    transact(fake, put)
    assert fake.calls["transact_write_items"] == 2 and fake.calls["get_item"] == 1
    fake.reset_calls()
    assert fake.calls["transact_write_items"] == 0
    description = fake.describe_table(TableName="app")["Table"]
    assert [index["IndexName"] for index in description["GlobalSecondaryIndexes"]] == ["GSI1", "GSI2"]
    assert code_of(lambda: fake.create_table(**create_table_request("AppTable", "app"))) == "ResourceInUseException"
    fake.put_item(TableName="app", Item={"PK": text("RATELIMIT"), "SK": text("HOUR"), "ttl": number(100)})
    assert fake.expire_ttl(now=101) == 1
    assert fake.table_items("app") == [INVOICE]


def test_requests_from_threads_are_atomic(fake: FakeDynamoDB) -> None:
    def add() -> None:
        for _ in range(200):
            update(
                fake,
                "ADD #count :one",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":one": number(1)},
            )

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (item(fake, INVOICE) or {})["count"] == number(800)


@pytest.fixture
def store_client(fake: FakeDynamoDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDynamoDB]:
    """The fake installed as the store's client, as the model tests install it."""
    from avocette.store import table

    monkeypatch.setenv("APP_TABLE_NAME", "app")
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
            TableName="app",
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": text("RATELIMIT#USER#u"), ":prefix": text("HOUR#")},
            ConsistentRead=True,
        )
    )
    assert found == [{"PK": "RATELIMIT#USER#u", "SK": "HOUR#2026-11-25T19", "count": 2, "ttl": 1_800_000_000}]
    assert store_client.calls["transact_write_items"] == 3
