"""An in-memory fake of boto3's low-level DynamoDB client, for the model of the money rules
(tests/property/test_payment_model.py), which sends thousands of requests a second: moto serializes
every call through botocore and copies whole tables in transactions, about ten times slower.

It implements what the store sends and nothing more: the operations, parameters and expressions of
the requests recorded during the integration and fault suites (tests/fakes/README.md lists them, and
``make dynamodb-corpus`` records them again). A request it does not implement raises
``NotImplementedError`` naming what is missing; it never answers one it cannot answer as DynamoDB
would. What it implements:

- GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan, BatchGetItem, TransactWriteItems (Put,
  Update, ConditionCheck, Delete), and CreateTable for the tables of template.yaml (string keys, global
  secondary indexes projecting ALL, on demand);
- attribute values of types S, N, M, L and BOOL;
- conditions: comparisons, AND, OR, parentheses, ``attribute_exists``, ``attribute_not_exists``,
  ``begins_with``, ``size``; document paths of map keys (``credits.#key.#exportedAt``), no list indexes;
- updates: SET (a value, a path, ``if_not_exists``, ``+``/``-`` of numbers), REMOVE, ADD of a number;
- ReturnValues NONE, ALL_OLD and ALL_NEW on UpdateItem; ReturnValuesOnConditionCheckFailure in
  transactions; Limit, ExclusiveStartKey, ScanIndexForward and IndexName on reads; ProjectionExpression
  of top-level attributes on GetItem and Scan.

:class:`FakeDynamoDB` answers with boto3's shapes: attribute values in the wire format (``{"S": "x"}``,
``{"N": "5"}``, ``{"M": {...}}`` ...), and for errors ``botocore.exceptions.ClientError`` (the very
subclasses boto3 raises) with DynamoDB's codes and response fields, such as the ``CancellationReasons``
of a cancelled transaction. Where moto and DynamoDB differ, the fake follows DynamoDB: the
differential test (tests/unit/test_fake_dynamodb_replay.py) replays the recorded requests on both and
states each expected difference. Install it as the store's client::

    fake = FakeDynamoDB()
    fake.create_table(**create_table_request("AppTable", "avocette-app"))
    with unittest.mock.patch("boto3.client", return_value=fake):
        avocette.store.table.dynamodb.cache_clear()
        avocette.store.table.dynamodb()

Every request is atomic (one lock around each call), as DynamoDB applies each request atomically.
Items are stored in the wire format, deep-copied in and out, numbers in DynamoDB's canonical form
(``"5.50"`` is stored and returned as ``"5.5"``); keys sort by code point (the order of UTF-8 bytes).

DynamoDB behaviour worth knowing, which the fake reproduces:

- Expressions: unused or undefined placeholders, reserved words used as names (``count``, ``status``,
  ``lines`` ...), ``((redundant parentheses))`` and overlapping update paths (two #names for one
  attribute) are a ValidationException. A comparison with a missing attribute or a value of another
  type is false (``<>`` is true), never an error.
- An update reads every value from the item as it was; one that only REMOVEs does not create a
  missing item.
- A transaction whose item DynamoDB cannot take (a key of the wrong type, an update that does not fit
  the item) is cancelled with a ``ValidationError`` reason for that item; a malformed request (syntax,
  placeholders, two actions on one item) is a ValidationException.
- A page of a Query or Scan that reaches ``Limit`` has a ``LastEvaluatedKey`` even when nothing follows.
- An index key attribute of the wrong type, or an empty string, is refused on writes.

Where DynamoDB defines no order the fake picks one: a Scan reads in key order, and items with equal
index keys come in table key order.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any, Final, NoReturn, TypeAlias

import botocore.session
from botocore import xform_name
from botocore.errorfactory import ClientExceptionsFactory
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

__all__ = ["DynamoDBError", "FakeDynamoDB"]

AttributeValue: TypeAlias = dict[str, Any]
Item: TypeAlias = dict[str, AttributeValue]
Path: TypeAlias = tuple[str, ...]  # a document path: an attribute name, then map keys
Key: TypeAlias = tuple[str, ...]  # an item's key values, in DynamoDB's sort order

MAX_ITEM_SIZE: Final = 400 * 1024
MAX_PAGE_SIZE: Final = 1024 * 1024
MAX_HASH_KEY_SIZE: Final = 2048
MAX_RANGE_KEY_SIZE: Final = 1024
MAX_NESTING: Final = 32
MAX_TRANSACT_ITEMS: Final = 100
MAX_BATCH_GET: Final = 100

# DynamoDB's functions: those not named here are an "Invalid function name" (a ValidationException),
# those named but not implemented a NotImplementedError.
_FUNCTIONS: Final = frozenset(
    {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains", "size", "if_not_exists",
     "list_append"}
)  # fmt: skip

# DynamoDB's reserved words: an expression names such an attribute only through a #placeholder.
_RESERVED_WORDS: Final = frozenset(
    """
    ABORT ABSOLUTE ACTION ADD AFTER AGENT AGGREGATE ALL ALLOCATE ALTER ANALYZE AND ANY ARCHIVE ARE ARRAY AS ASC
    ASCII ASENSITIVE ASSERTION ASYMMETRIC AT ATOMIC ATTACH ATTRIBUTE AUTH AUTHORIZATION AUTHORIZE AUTO AVG BACK
    BACKUP BASE BATCH BEFORE BEGIN BETWEEN BIGINT BINARY BIT BLOB BLOCK BOOLEAN BOTH BREADTH BUCKET BULK BY BYTE
    CALL CALLED CALLING CAPACITY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER CHECK CLASS CLOB CLOSE CLUSTER
    CLUSTERED CLUSTERING CLUSTERS COALESCE COLLATE COLLATION COLLECTION COLUMN COLUMNS COMBINE COMMENT COMMIT
    COMPACT COMPILE COMPRESS CONDITION CONFLICT CONNECT CONNECTION CONSISTENCY CONSISTENT CONSTRAINT CONSTRAINTS
    CONSTRUCTOR CONSUMED CONTINUE CONVERT COPY CORRESPONDING COUNT COUNTER CREATE CROSS CUBE CURRENT CURSOR CYCLE
    DATA DATABASE DATE DATETIME DAY DEALLOCATE DEC DECIMAL DECLARE DEFAULT DEFERRABLE DEFERRED DEFINE DEFINED
    DEFINITION DELETE DELIMITED DEPTH DEREF DESC DESCRIBE DESCRIPTOR DETACH DETERMINISTIC DIAGNOSTICS DIRECTORIES
    DISABLE DISCONNECT DISTINCT DISTRIBUTE DO DOMAIN DOUBLE DROP DUMP DURATION DYNAMIC EACH ELEMENT ELSE ELSEIF
    EMPTY ENABLE END EQUAL EQUALS ERROR ESCAPE ESCAPED EVAL EVALUATE EXCEEDED EXCEPT EXCEPTION EXCEPTIONS EXCLUSIVE
    EXEC EXECUTE EXISTS EXIT EXPLAIN EXPLODE EXPORT EXPRESSION EXTENDED EXTERNAL EXTRACT FAIL FALSE FAMILY FETCH
    FIELDS FILE FILTER FILTERING FINAL FINISH FIRST FIXED FLATTERN FLOAT FOR FORCE FOREIGN FORMAT FORWARD FOUND FREE
    FROM FULL FUNCTION FUNCTIONS GENERAL GENERATE GET GLOB GLOBAL GO GOTO GRANT GREATER GROUP GROUPING HANDLER HASH
    HAVE HAVING HEAP HIDDEN HOLD HOUR IDENTIFIED IDENTITY IF IGNORE IMMEDIATE IMPORT IN INCLUDING INCLUSIVE
    INCREMENT INCREMENTAL INDEX INDEXED INDEXES INDICATOR INFINITE INITIALLY INLINE INNER INNTER INOUT INPUT
    INSENSITIVE INSERT INSTEAD INT INTEGER INTERSECT INTERVAL INTO INVALIDATE IS ISOLATION ITEM ITEMS ITERATE JOIN
    KEY KEYS LAG LANGUAGE LARGE LAST LATERAL LEAD LEADING LEAVE LEFT LENGTH LESS LEVEL LIKE LIMIT LIMITED LINES LIST
    LOAD LOCAL LOCALTIME LOCALTIMESTAMP LOCATION LOCATOR LOCK LOCKS LOG LOGED LONG LOOP LOWER MAP MATCH MATERIALIZED
    MAX MAXLEN MEMBER MERGE METHOD METRICS MIN MINUS MINUTE MISSING MOD MODE MODIFIES MODIFY MODULE MONTH MULTI
    MULTISET NAME NAMES NATIONAL NATURAL NCHAR NCLOB NEW NEXT NO NONE NOT NULL NULLIF NUMBER NUMERIC OBJECT OF
    OFFLINE OFFSET OLD ON ONLINE ONLY OPAQUE OPEN OPERATOR OPTION OR ORDER ORDINALITY OTHER OTHERS OUT OUTER OUTPUT
    OVER OVERLAPS OVERRIDE OWNER PAD PARALLEL PARAMETER PARAMETERS PARTIAL PARTITION PARTITIONED PARTITIONS PATH
    PERCENT PERCENTILE PERMISSION PERMISSIONS PIPE PIPELINED PLAN POOL POSITION PRECISION PREPARE PRESERVE PRIMARY
    PRIOR PRIVATE PRIVILEGES PROCEDURE PROCESSED PROJECT PROJECTION PROPERTY PROVISIONING PUBLIC PUT QUERY QUIT
    QUORUM RAISE RANDOM RANGE RANK RAW READ READS REAL REBUILD RECORD RECURSIVE REDUCE REF REFERENCE REFERENCES
    REFERENCING REGEXP REGION REINDEX RELATIVE RELEASE REMAINDER RENAME REPEAT REPLACE REQUEST RESET RESIGNAL
    RESOURCE RESPONSE RESTORE RESTRICT RESULT RETURN RETURNING RETURNS REVERSE REVOKE RIGHT ROLE ROLES ROLLBACK
    ROLLUP ROUTINE ROW ROWS RULE RULES SAMPLE SATISFIES SAVE SAVEPOINT SCAN SCHEMA SCOPE SCROLL SEARCH SECOND
    SECTION SEGMENT SEGMENTS SELECT SELF SEMI SENSITIVE SEPARATE SEQUENCE SERIALIZABLE SESSION SET SETS SHARD SHARE
    SHARED SHORT SHOW SIGNAL SIMILAR SIZE SKEWED SMALLINT SNAPSHOT SOME SOURCE SPACE SPACES SPARSE SPECIFIC
    SPECIFICTYPE SPLIT SQL SQLCODE SQLERROR SQLEXCEPTION SQLSTATE SQLWARNING START STATE STATIC STATUS STORAGE STORE
    STORED STREAM STRING STRUCT STYLE SUB SUBMULTISET SUBPARTITION SUBSTRING SUBTYPE SUM SUPER SYMMETRIC SYNONYM
    SYSTEM TABLE TABLESAMPLE TEMP TEMPORARY TERMINATED TEXT THAN THEN THROUGHPUT TIME TIMESTAMP TIMEZONE TINYINT TO
    TOKEN TOTAL TOUCH TRAILING TRANSACTION TRANSFORM TRANSLATE TRANSLATION TREAT TRIGGER TRIM TRUE TRUNCATE TTL
    TUPLE TYPE UNDER UNDO UNION UNIQUE UNIT UNKNOWN UNLOGGED UNNEST UNPROCESSED UNSIGNED UNTIL UPDATE UPPER URL
    USAGE USE USER USERS USING UUID VACUUM VALUE VALUED VALUES VARCHAR VARIABLE VARIANCE VARINT VARYING VIEW VIEWS
    VIRTUAL VOID WAIT WHEN WHENEVER WHERE WHILE WINDOW WITH WITHIN WITHOUT WORK WRAPPED WRITE YEAR ZONE
    """.split()  # noqa: SIM905 - 573 words read better as text than as a list literal
)


# ---- errors ---------------------------------------------------------------------------------------


class DynamoDBError(Exception):
    """An error answer of DynamoDB: raised inside the fake, turned into botocore's ``ClientError``."""

    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields


def _invalid(message: str) -> DynamoDBError:
    return DynamoDBError("ValidationException", message)


def _unsupported(what: str) -> NoReturn:
    """A request the store never sends: the fake does not guess DynamoDB's answer."""
    raise NotImplementedError(f"FakeDynamoDB does not support {what} (the store never sends it; tests/fakes/README.md)")


_CONDITION_FAILED: Final = "The conditional request failed"
_INVALID_PATH: Final = "The document path provided in the update expression is invalid for update"
_MISSING_OPERAND: Final = "The provided expression refers to an attribute that does not exist in the item"
_WRONG_OPERAND: Final = "An operand in the update expression has an incorrect data type"
_OVERFLOW: Final = "Number overflow. Attempting to store a number with magnitude larger than supported range"
_UNDERFLOW: Final = "Number underflow. Attempting to store a number with magnitude smaller than supported range"
_KEY_MISMATCH: Final = "The provided key element does not match the schema"
_BAD_START_KEY: Final = "The provided starting key is invalid: The provided key element does not match the schema"
# The parameters the fake implements, by operation (and by part of a transaction or batch): any other
# parameter botocore accepts is a NotImplementedError.
_EXPRESSION_NAMES: Final = " ExpressionAttributeNames ExpressionAttributeValues"
_PARAMETERS: Final = {
    what: frozenset(names.split())
    for what, names in {
        "CreateTable": "TableName AttributeDefinitions KeySchema BillingMode GlobalSecondaryIndexes",
        "GetItem": "TableName Key ConsistentRead ProjectionExpression ExpressionAttributeNames",
        "PutItem": "TableName Item ConditionExpression" + _EXPRESSION_NAMES,
        "UpdateItem": "TableName Key UpdateExpression ConditionExpression ReturnValues" + _EXPRESSION_NAMES,
        "DeleteItem": "TableName Key ConditionExpression" + _EXPRESSION_NAMES,
        "Query": "TableName IndexName KeyConditionExpression ConsistentRead ScanIndexForward Limit ExclusiveStartKey"
        + _EXPRESSION_NAMES,
        "Scan": "TableName IndexName FilterExpression ProjectionExpression ConsistentRead Limit ExclusiveStartKey"
        + _EXPRESSION_NAMES,
        "BatchGetItem": "RequestItems",
        "BatchGetItem table": "Keys ConsistentRead",
        "TransactWriteItems": "TransactItems",
        "TransactWriteItems Put": "TableName Item ConditionExpression ReturnValuesOnConditionCheckFailure"
        + _EXPRESSION_NAMES,
        "TransactWriteItems Update": "TableName Key UpdateExpression ConditionExpression"
        " ReturnValuesOnConditionCheckFailure" + _EXPRESSION_NAMES,
        "TransactWriteItems ConditionCheck": "TableName Key ConditionExpression ReturnValuesOnConditionCheckFailure"
        + _EXPRESSION_NAMES,
        "TransactWriteItems Delete": "TableName Key ConditionExpression" + _EXPRESSION_NAMES,
    }.items()
}


def _check_supported(what: str, params: Mapping[str, Any]) -> None:
    extra = sorted(set(params) - _PARAMETERS[what])
    if extra:
        _unsupported(f"{', '.join(extra)} in {what}")


@dataclass(frozen=True)
class _Botocore:
    """What the fake borrows from botocore: the service model, its exception classes, its validator."""

    model: ServiceModel
    exceptions: Any
    validator: ParamValidator


@functools.cache
def _botocore() -> _Botocore:
    model = botocore.session.get_session().get_service_model("dynamodb")
    return _Botocore(model, ClientExceptionsFactory().create_client_exceptions(model), ParamValidator())


@functools.cache
def _error_members(code: str) -> frozenset[str]:
    """The members of DynamoDB's modelled error shape (e.g. ``message``, ``Item``), none if unmodelled."""
    model = _botocore().model
    if code not in model.shape_names:
        return frozenset()
    return frozenset(getattr(model.shape_for(code), "members", {}))


_request_ids = itertools.count(1)


def _metadata(status: int, error_code: str | None = None) -> dict[str, Any]:
    request_id = f"FAKE{next(_request_ids):020d}"
    headers = {"x-amzn-requestid": request_id, "content-type": "application/x-amz-json-1.0"}
    if error_code:
        headers["x-amzn-errortype"] = error_code
    return {"RequestId": request_id, "HTTPStatusCode": status, "HTTPHeaders": headers, "RetryAttempts": 0}


def _client_error(error: DynamoDBError, operation: str) -> ClientError:
    """The exception boto3 raises for this error answer: the modelled subclass when there is one,
    with the response botocore parses (``Error``, ``ResponseMetadata``, the shape's members)."""
    response: dict[str, Any] = {
        "Error": {"Message": error.message, "Code": error.code},
        "ResponseMetadata": _metadata(400, error.code),
    }
    for member in ("message", "Message"):
        if member in _error_members(error.code):
            response[member] = error.message
    response.update(error.fields)
    exception_class: type[ClientError] = _botocore().exceptions.from_code(error.code)
    return exception_class(response, operation)  # type: ignore[arg-type]


def _check_params(operation: str, params: Mapping[str, Any], *, full: bool) -> None:
    """botocore's client-side validation: unknown or missing parameters (and, when ``full``, every
    type and length) raise ``ParamValidationError`` before anything reaches DynamoDB."""
    tools = _botocore()
    shape = tools.model.operation_model(operation).input_shape
    assert shape is not None
    if full:
        report = tools.validator.validate(params, shape)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())
        return
    unknown = sorted(set(params) - set(shape.members))
    missing = sorted(set(shape.required_members) - set(params))
    if unknown or missing:
        lines = [f'Unknown parameter in input: "{name}"' for name in unknown]
        lines += [f'Missing required parameter in input: "{name}"' for name in missing]
        raise ParamValidationError(report="\n".join(lines))


# ---- attribute values -----------------------------------------------------------------------------

_NUMBER_SYNTAX: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Exact for any sum or difference of two numbers DynamoDB can store (exponents -130..125, 38 digits).
_EXACT: Final = Context(prec=400, Emax=999_999, Emin=-999_999)


def _checked_number(value: Decimal, *, computed: bool = False) -> Decimal:
    """``value`` within DynamoDB's limits (38 significant digits, magnitude 1e-130 to 1e126), normalized."""
    if not value:
        return Decimal(0)
    normal = value.normalize(_EXACT)
    if len(normal.as_tuple().digits) > 38:
        # DynamoDB reports an inexact sum as an overflow.
        raise _invalid(_OVERFLOW if computed else "Attempting to store more than 38 significant digits in a Number")
    if normal.adjusted() > 125:
        raise _invalid(_OVERFLOW)
    if normal.adjusted() < -130:
        raise _invalid(_UNDERFLOW)
    return normal


def _number_text(value: Decimal) -> str:
    """DynamoDB's canonical text of a (normalized) number: no exponent, no needless zeros."""
    return format(value, "f") if value else "0"


@functools.lru_cache(maxsize=65536)
def _canonical_number(text: str) -> str:
    if not _NUMBER_SYNTAX.fullmatch(text):
        suffix = f": {text}" if text else ""
        raise _invalid(f"The parameter cannot be converted to a numeric value{suffix}")
    return _number_text(_checked_number(Decimal(text)))


@functools.lru_cache(maxsize=65536)
def _number(text: str) -> Decimal:
    """The value of a canonical ``N`` text."""
    return Decimal(text)


def _load_number(raw: Any, depth: int) -> str:
    if not isinstance(raw, str):
        raise DynamoDBError("SerializationException", f"NUMBER_VALUE cannot be converted to String: {raw!r}")
    return _canonical_number(raw)


def _load_string(raw: Any, depth: int) -> str:
    if not isinstance(raw, str):
        raise DynamoDBError("SerializationException", f"S value must be a string, not {type(raw).__name__}")
    return raw


def _load_bool(raw: Any, depth: int) -> bool:
    if not isinstance(raw, bool):
        raise DynamoDBError("SerializationException", "BOOL value must be a boolean")
    return raw


def _load_map(raw: Any, depth: int) -> dict[str, AttributeValue]:
    if not isinstance(raw, Mapping):
        raise DynamoDBError("SerializationException", "M value must be a map")
    return {str(name): _load(member, depth + 1) for name, member in raw.items()}


def _load_list(raw: Any, depth: int) -> list[AttributeValue]:
    if not isinstance(raw, list | tuple):
        raise DynamoDBError("SerializationException", "L value must be a list")
    return [_load(member, depth + 1) for member in raw]


_LOADERS: Final[dict[str, Callable[[Any, int], Any]]] = {
    "S": _load_string,
    "N": _load_number,
    "BOOL": _load_bool,
    "M": _load_map,
    "L": _load_list,
}
_UNSUPPORTED_TYPES: Final = frozenset({"B", "NULL", "SS", "NS", "BS"})
_MORE_THAN_ONE_TYPE: Final = (
    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
)


def _load(value: Any, depth: int = 1) -> AttributeValue:
    """A fresh, checked copy of a wire attribute value, numbers in canonical form."""
    if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _UNSUPPORTED_TYPES:
        _unsupported(f"attribute values of type {next(iter(value))}")
    if not isinstance(value, Mapping) or not value or next(iter(value)) not in _LOADERS:
        raise _invalid("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    if len(value) > 1:
        raise _invalid(_MORE_THAN_ONE_TYPE)
    if depth > MAX_NESTING:
        raise _invalid("Nesting Levels have exceeded supported limits")
    ((tag, raw),) = value.items()
    return {tag: _LOADERS[tag](raw, depth)}


def _load_item(raw: Any) -> Item:
    if not isinstance(raw, Mapping):
        raise DynamoDBError("SerializationException", "an item must be a map of attribute values")
    return {str(name): _load(value) for name, value in raw.items()}


def _copy(value: AttributeValue) -> AttributeValue:
    """A deep copy (stored values never leave the fake, nor do callers' values enter it)."""
    tag = next(iter(value))
    raw = value[tag]
    if tag == "M":
        return {"M": {name: _copy(member) for name, member in raw.items()}}
    if tag == "L":
        return {"L": [_copy(member) for member in raw]}
    return {tag: raw}


def _copy_item(item: Mapping[str, AttributeValue]) -> Item:
    return {name: _copy(value) for name, value in item.items()}


def _tag(value: AttributeValue) -> str:
    return next(iter(value))


def _equal(first: AttributeValue, second: AttributeValue) -> bool:
    """DynamoDB's ``=``: same type and value. Without sets (whose order does not count) and with
    numbers in canonical form, that is equality of the wire values."""
    return first == second


def _ordered_pair(first: AttributeValue | None, second: AttributeValue | None) -> tuple[Any, Any] | None:
    """Both values in DynamoDB's order when ``<`` and friends apply to them (both S, or both N):
    numbers numerically, text by code point, which is the order of its UTF-8 bytes."""
    if first is None or second is None:
        return None
    tag = _tag(first)
    if tag not in ("S", "N") or tag != _tag(second):
        return None
    if tag == "N":
        return _number(first["N"]), _number(second["N"])
    return first["S"], second["S"]


def _number_size(text: str) -> int:
    digits = len(text.lstrip("-").replace(".", "").strip("0")) or 1
    return (digits + 1) // 2 + 1


def _value_size(value: AttributeValue) -> int:
    """DynamoDB's accounting of an attribute value's size in bytes."""
    tag = _tag(value)
    raw = value[tag]
    if tag == "S":
        return len(raw.encode("utf-8", "surrogatepass"))
    if tag == "N":
        return _number_size(raw)
    if tag == "BOOL":
        return 1
    if tag == "L":
        return 3 + sum(1 + _value_size(member) for member in raw)
    return 3 + sum(1 + len(name.encode("utf-8", "surrogatepass")) + _value_size(member) for name, member in raw.items())


def _item_size(item: Mapping[str, AttributeValue]) -> int:
    return sum(len(name.encode("utf-8", "surrogatepass")) + _value_size(value) for name, value in item.items())


# ---- document paths -------------------------------------------------------------------------------


def _get(item: Mapping[str, AttributeValue], path: Path) -> AttributeValue | None:
    """The value at ``path``, or None when any step is missing or not a map."""
    value = item.get(path[0])
    for name in path[1:]:
        members = None if value is None else value.get("M")
        if members is None:
            return None
        value = members.get(name)
    return value


def _check_disjoint(paths: Sequence[Path], kind: str) -> None:
    """DynamoDB refuses two paths of which one contains the other (or that are the same)."""
    for number, first in enumerate(paths):
        for second in paths[number + 1 :]:
            shorter = min(len(first), len(second))
            if first[:shorter] == second[:shorter]:
                raise _invalid(
                    f"Invalid {kind}: Two document paths overlap with each other; must remove or rewrite one of"
                    f" these paths; path one: [{', '.join(first)}], path two: [{', '.join(second)}]"
                )


# ---- expressions: tokens --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "name" (#placeholder), "value" (:placeholder), "ident", "int", "op" or "end"
    text: str
    position: int


_TOKEN: Final = re.compile(
    r"(?P<name>\#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)|(?P<ident>[A-Za-z][A-Za-z0-9_]*)"
    r"|(?P<int>[0-9]+)|(?P<op><>|<=|>=|[=<>()\[\],.+\-])"
)


def _syntax_error(kind: str, text: str, token: str, position: int) -> DynamoDBError:
    near = text[max(0, position - 12) : position + len(token) + 12].strip()
    return _invalid(f'Invalid {kind}: Syntax error; token: "{token}", near: "{near}"')


def _tokenize(text: str, kind: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            tokens.append(_Token("end", "<EOF>", position))
            return tokens
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise _syntax_error(kind, text, text[position], position)
        tokens.append(_Token(match.lastgroup, match.group(), position))
        position = match.end()


# ---- expressions: syntax trees --------------------------------------------------------------------
# Parsing gives trees whose paths may hold "#name" placeholders and whose values are :placeholders
# (_ValueRef); binding them to a request's ExpressionAttributeNames/Values gives resolved paths and
# constants (_Const). Parsed trees are cached by expression text.


@dataclass(frozen=True, slots=True)
class _PathOp:
    path: Path


@dataclass(frozen=True, slots=True)
class _ValueRef:
    name: str


@dataclass(frozen=True, slots=True)
class _Const:
    value: AttributeValue
    name: str


@dataclass(frozen=True, slots=True)
class _Call:
    function: str
    args: tuple[_Operand, ...]


@dataclass(frozen=True, slots=True)
class _Arith:
    op: str
    left: _Operand
    right: _Operand


_Operand: TypeAlias = _PathOp | _ValueRef | _Const | _Call | _Arith


@dataclass(frozen=True, slots=True)
class _Compare:
    op: str
    left: _Operand
    right: _Operand


@dataclass(frozen=True, slots=True)
class _And:
    left: _Condition
    right: _Condition


@dataclass(frozen=True, slots=True)
class _Or:
    left: _Condition
    right: _Condition


@dataclass(frozen=True, slots=True)
class _Function:
    function: str
    args: tuple[_Operand, ...]


_Condition: TypeAlias = _Compare | _And | _Or | _Function


@dataclass(frozen=True, slots=True)
class _Action:
    verb: str  # SET, REMOVE or ADD
    path: Path
    value: _Operand | None


_CONDITION_FUNCTIONS: Final = {"attribute_exists": 1, "attribute_not_exists": 1, "begins_with": 2}  # name: arity
_COMPARATORS: Final = frozenset({"=", "<>", "<", "<=", ">", ">="})
_ORDERING: Final = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class _Parser:
    """Recursive descent over one expression. Precedence, loosest first: OR, AND, then comparisons
    and function calls; parentheses group conditions."""

    def __init__(self, text: str, kind: str) -> None:
        self.text = text
        self.kind = kind
        self.tokens = _tokenize(text, kind)
        self.index = 0
        self.groups: set[tuple[int, int]] = set()  # (opening, closing) token positions of (conditions)

    # -- tokens --

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.peek()
        self.index += 1
        return token

    def at_op(self, *ops: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.text in ops

    def at_keyword(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "ident" and token.text.upper() == word

    def expect_op(self, op: str) -> None:
        if not self.at_op(op):
            raise self.syntax_error()
        self.advance()

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise self.syntax_error()

    def syntax_error(self) -> DynamoDBError:
        token = self.peek()
        return _syntax_error(self.kind, self.text, token.text, token.position)

    def error(self, message: str) -> DynamoDBError:
        return _invalid(f"Invalid {self.kind}: {message}")

    def placeholders(self, kind: str) -> frozenset[str]:
        return frozenset(token.text for token in self.tokens if token.kind == kind)

    # -- paths and operands --

    def path(self) -> Path:
        elements = [self.path_name()]
        while self.at_op("."):
            self.advance()
            elements.append(self.path_name())
        if self.at_op("["):
            _unsupported(f"list indexes in document paths ({self.kind}: {self.text})")
        return tuple(elements)

    def path_name(self) -> str:
        token = self.peek()
        if token.kind == "name":
            self.advance()
            return token.text
        if token.kind == "ident":
            if token.text.upper() in _RESERVED_WORDS:
                raise self.error(f"Attribute name is a reserved keyword; reserved keyword: {token.text}")
            self.advance()
            return token.text
        raise self.syntax_error()

    def operand(self) -> _Operand:
        token = self.peek()
        if token.kind == "value":
            self.advance()
            return _ValueRef(token.text)
        if token.kind == "ident" and self.peek(1).kind == "op" and self.peek(1).text == "(":
            self.advance()
            self.advance()
            args = [self.operand()]
            while self.at_op(","):
                self.advance()
                args.append(self.operand())
            self.expect_op(")")
            return _Call(token.text, tuple(args))
        if token.kind in ("name", "ident"):
            return _PathOp(self.path())
        raise self.syntax_error()

    # -- conditions --

    def condition(self) -> _Condition:
        if self.peek().kind == "end":
            raise self.error("The expression can not be empty;")
        node = self.disjunction()
        self.expect_end()
        return node

    def disjunction(self) -> _Condition:
        node = self.conjunction()
        while self.at_keyword("OR"):
            self.advance()
            node = _Or(node, self.conjunction())
        return node

    def conjunction(self) -> _Condition:
        node = self.primary()
        while self.at_keyword("AND"):
            self.advance()
            node = _And(node, self.primary())
        return node

    def primary(self) -> _Condition:
        if self.at_keyword("NOT"):
            _unsupported(f"NOT in conditions ({self.kind}: {self.text})")
        if self.at_op("("):
            opening = self.index
            self.advance()
            node = self.disjunction()
            closing = self.index
            self.expect_op(")")
            if (opening + 1, closing - 1) in self.groups:  # ((...)): DynamoDB refuses the outer pair
                raise self.error("The expression has redundant parentheses;")
            self.groups.add((opening, closing))
            return node
        left = self.operand()
        if self.at_keyword("BETWEEN") or self.at_keyword("IN"):
            _unsupported(f"{self.peek().text.upper()} in conditions ({self.kind}: {self.text})")
        if self.at_op(*_COMPARATORS):
            op = self.advance().text
            return _Compare(op, left, self.operand())
        if isinstance(left, _Call):
            return _Function(left.function, left.args)
        raise self.syntax_error()

    # -- update expressions --

    def update(self) -> tuple[_Action, ...]:
        if self.peek().kind == "end":
            raise self.error("The expression can not be empty;")
        actions: list[_Action] = []
        seen: set[str] = set()
        while self.peek().kind != "end":
            token = self.peek()
            verb = token.text.upper()
            if token.kind == "ident" and verb == "DELETE":
                _unsupported(f"DELETE in update expressions ({self.text})")
            if token.kind != "ident" or verb not in ("SET", "REMOVE", "ADD"):
                raise self.syntax_error()
            if verb in seen:
                raise self.error(f'The "{verb}" section can only be used once in an update expression;')
            seen.add(verb)
            self.advance()
            actions.append(self.action(verb))
            while self.at_op(","):
                self.advance()
                actions.append(self.action(verb))
        return tuple(actions)

    def action(self, verb: str) -> _Action:
        path = self.path()
        if verb == "REMOVE":
            return _Action(verb, path, None)
        if verb == "SET":
            self.expect_op("=")
            value = self.operand()
            if self.at_op("+", "-"):
                op = self.advance().text
                value = _Arith(op, value, self.operand())
            return _Action(verb, path, value)
        token = self.peek()
        if token.kind != "value":
            raise self.syntax_error()
        self.advance()
        return _Action(verb, path, _ValueRef(token.text))

    # -- projections --

    def projection(self) -> tuple[Path, ...]:
        if self.peek().kind == "end":
            raise self.error("The expression can not be empty;")
        paths = [self.path()]
        while self.at_op(","):
            self.advance()
            paths.append(self.path())
        self.expect_end()
        return tuple(paths)


@dataclass(frozen=True)
class _Parsed:
    tree: Any  # a _Condition, a tuple of _Action or a tuple of Path, by kind
    names: frozenset[str]
    values: frozenset[str]


@functools.lru_cache(maxsize=4096)
def _parse(text: str, kind: str) -> _Parsed:
    parser = _Parser(text, kind)
    tree: Any
    if kind == "UpdateExpression":
        tree = parser.update()
    elif kind == "ProjectionExpression":
        tree = parser.projection()
    else:
        tree = parser.condition()
    return _Parsed(tree, parser.placeholders("name"), parser.placeholders("value"))


# ---- expressions: binding and static checks -------------------------------------------------------


class _Binder:
    """Resolves one request's placeholders and makes DynamoDB's checks that need no item."""

    def __init__(self, kind: str, names: Mapping[str, str], values: Mapping[str, AttributeValue]) -> None:
        self.kind = kind
        self.names = names
        self.values = values

    def error(self, message: str) -> DynamoDBError:
        return _invalid(f"Invalid {self.kind}: {message}")

    def path(self, path: Path) -> Path:
        resolved: list[str] = []
        for element in path:
            if element.startswith("#"):
                if element not in self.names:
                    raise self.error(
                        "An expression attribute name used in the document path is not defined; "
                        f"attribute name: {element}"
                    )
                resolved.append(self.names[element])
            else:
                resolved.append(element)
        return tuple(resolved)

    def const(self, node: _ValueRef) -> _Const:
        if node.name not in self.values:
            raise self.error(
                f"An expression attribute value used in expression is not defined; attribute value: {node.name}"
            )
        return _Const(self.values[node.name], node.name)

    def wrong_type(self, function: str, value: _Operand) -> None:
        if isinstance(value, _Const):
            raise self.error(
                "Incorrect operand type for operator or function; "
                f"operator or function: {function}, operand type: {_tag(value.value)}"
            )

    def arity(self, function: str, args: Sequence[_Operand], count: int) -> None:
        if len(args) != count:
            raise self.error(
                "Incorrect number of operands for operator or function; "
                f"operator or function: {function}, number of operands: {len(args)}"
            )

    def document_path(self, function: str, argument: _Operand) -> _PathOp:
        if not isinstance(argument, _PathOp):
            raise self.error(f"Operator or function requires a document path; operator or function: {function}")
        return _PathOp(self.path(argument.path))

    def unknown(self, function: str) -> DynamoDBError:
        """A function of DynamoDB's that the fake does not implement is a NotImplementedError."""
        if function in _FUNCTIONS:
            _unsupported(f"the function {function} ({self.kind})")
        return self.error(f"Invalid function name; function: {function}")

    # -- conditions --

    def value(self, node: _Operand) -> _Operand:
        """An operand of a comparison: a path, a constant or ``size(path)``."""
        if isinstance(node, _PathOp):
            return _PathOp(self.path(node.path))
        if isinstance(node, _ValueRef):
            return self.const(node)
        if isinstance(node, _Call) and node.function == "size":
            self.arity("size", node.args, 1)
            return _Call("size", (self.document_path("size", node.args[0]),))
        if isinstance(node, _Call) and (node.function in _CONDITION_FUNCTIONS or node.function == "if_not_exists"):
            raise self.error(
                f"The function is not allowed to be used this way in an expression; function: {node.function}"
            )
        if isinstance(node, _Call):
            raise self.unknown(node.function)
        raise self.error("Syntax error")

    def condition(self, node: _Condition) -> _Condition:
        if isinstance(node, _And):
            return _And(self.condition(node.left), self.condition(node.right))
        if isinstance(node, _Or):
            return _Or(self.condition(node.left), self.condition(node.right))
        if isinstance(node, _Compare):
            left, right = self.value(node.left), self.value(node.right)
            if node.op in _ORDERING:
                for side in (left, right):
                    if isinstance(side, _Const) and _tag(side.value) not in ("S", "N"):
                        self.wrong_type(node.op, side)
            return _Compare(node.op, left, right)
        return self.function(node)

    def function(self, node: _Function) -> _Function:
        name = node.function
        if name not in _CONDITION_FUNCTIONS:
            if name in ("size", "if_not_exists"):
                raise self.error(f"The function is not allowed to be used this way in an expression; function: {name}")
            raise self.unknown(name)
        self.arity(name, node.args, _CONDITION_FUNCTIONS[name])
        if name in ("attribute_exists", "attribute_not_exists"):
            return _Function(name, (self.document_path(name, node.args[0]),))
        args = tuple(self.value(argument) for argument in node.args)
        for argument in args:  # begins_with: of a string (binary values are not implemented)
            if isinstance(argument, _Const) and _tag(argument.value) != "S":
                self.wrong_type(name, argument)
        return _Function(name, args)

    # -- updates --

    def update(self, actions: Sequence[_Action]) -> tuple[_Action, ...]:
        bound = tuple(
            _Action(action.verb, self.path(action.path), None if action.value is None else self.action_value(action))
            for action in actions
        )
        _check_disjoint([action.path for action in bound], self.kind)
        return bound

    def action_value(self, action: _Action) -> _Operand:
        assert action.value is not None
        if action.verb == "SET":
            return self.set_value(action.value)
        assert isinstance(action.value, _ValueRef)
        value = self.const(action.value)
        if _tag(value.value) != "N":  # sets are not implemented (_load refuses them)
            names = {"S": "STRING", "BOOL": "BOOLEAN", "M": "MAP", "L": "LIST"}
            raise self.error(
                "Incorrect operand type for operator or function; "
                f"operator: ADD, operand type: {names[_tag(value.value)]}"
            )
        return value

    def set_value(self, node: _Operand) -> _Operand:
        if isinstance(node, _PathOp):
            return _PathOp(self.path(node.path))
        if isinstance(node, _ValueRef):
            return self.const(node)
        if isinstance(node, _Arith):
            left, right = self.set_value(node.left), self.set_value(node.right)
            for side in (left, right):
                if isinstance(side, _Const) and _tag(side.value) != "N":
                    self.wrong_type(node.op, side)
            return _Arith(node.op, left, right)
        assert isinstance(node, _Call)
        if node.function == "if_not_exists":
            self.arity("if_not_exists", node.args, 2)
            path, fallback = node.args
            return _Call("if_not_exists", (self.document_path("if_not_exists", path), self.set_value(fallback)))
        if node.function in _CONDITION_FUNCTIONS or node.function == "size":
            raise self.error(f"The function is not allowed in an update expression; function: {node.function}")
        raise self.unknown(node.function)


_NAME_KEY: Final = re.compile(r"#[A-Za-z0-9_]+")
_VALUE_KEY: Final = re.compile(r":[A-Za-z0-9_]+")


class _Expressions:
    """The expressions of one request (or one item of a transaction), parsed and bound to its
    ExpressionAttributeNames and ExpressionAttributeValues, every placeholder used."""

    def __init__(self, request: Mapping[str, Any], *fields: str) -> None:
        present = [name for name in fields if request.get(name) is not None]
        names = self._names(request.get("ExpressionAttributeNames"), present)
        values = self._values(request.get("ExpressionAttributeValues"), present)
        used_names: set[str] = set()
        used_values: set[str] = set()
        self.condition: _Condition | None = None
        self.key_condition: _Condition | None = None
        self.filter: _Condition | None = None
        self.update: tuple[_Action, ...] | None = None
        self.projection: tuple[str, ...] | None = None
        for name in present:
            text = request[name]
            if not isinstance(text, str):
                raise DynamoDBError("SerializationException", f"{name} must be a string")
            parsed = _parse(text, name)
            used_names |= parsed.names
            used_values |= parsed.values
            binder = _Binder(name, names, values)
            if name == "UpdateExpression":
                self.update = binder.update(parsed.tree)
            elif name == "ProjectionExpression":
                paths = tuple(binder.path(path) for path in parsed.tree)
                _check_disjoint(paths, name)
                if any(len(path) > 1 for path in paths):
                    _unsupported(f"nested paths in a ProjectionExpression ({text})")
                self.projection = tuple(path[0] for path in paths)
            elif name == "KeyConditionExpression":
                self.key_condition = binder.condition(parsed.tree)
            elif name == "FilterExpression":
                self.filter = binder.condition(parsed.tree)
            else:
                self.condition = binder.condition(parsed.tree)
        for kind, given, used in (("Names", names, used_names), ("Values", values, used_values)):
            unused = sorted(set(given) - used)
            if unused:
                raise _invalid(
                    f"Value provided in ExpressionAttribute{kind} unused in expressions: keys: {{{', '.join(unused)}}}"
                )

    @staticmethod
    def _names(raw: Any, present: Sequence[str]) -> Mapping[str, str]:
        if raw is None:
            return {}
        if not raw:
            raise _invalid("ExpressionAttributeNames must not be empty")
        for key in raw:
            if not _NAME_KEY.fullmatch(str(key)):
                raise _invalid(f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{key}"')
        if not present:
            raise _invalid("ExpressionAttributeNames can only be specified when using expressions")
        return {str(key): str(value) for key, value in raw.items()}

    @staticmethod
    def _values(raw: Any, present: Sequence[str]) -> Mapping[str, AttributeValue]:
        if raw is None:
            return {}
        if not raw:
            raise _invalid("ExpressionAttributeValues must not be empty")
        values: dict[str, AttributeValue] = {}
        for key, value in raw.items():
            if not _VALUE_KEY.fullmatch(str(key)):
                raise _invalid(f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{key}"')
            try:
                values[str(key)] = _load(value)
            except DynamoDBError as error:
                raise _invalid(
                    f"ExpressionAttributeValues contains invalid value: {error.message} for key {key}"
                ) from None
        if not present:
            raise _invalid("ExpressionAttributeValues can only be specified when using expressions")
        return values


# ---- expressions: evaluation ----------------------------------------------------------------------


def _size(value: AttributeValue | None) -> int | None:
    """``size()``: the members of a map or list; none for a missing attribute, a number or a boolean
    (a comparison with it is false). Of a string, DynamoDB's count is not implemented."""
    if value is None:
        return None
    tag = _tag(value)
    if tag == "S":
        _unsupported("size() of a string")
    return len(value[tag]) if tag in ("M", "L") else None


def _operand_value(node: _Operand, item: Mapping[str, AttributeValue]) -> AttributeValue | None:
    if isinstance(node, _PathOp):
        return _get(item, node.path)
    if isinstance(node, _Const):
        return node.value
    assert isinstance(node, _Call) and node.function == "size"
    size = _size(_operand_value(node.args[0], item))
    return None if size is None else {"N": str(size)}


def _compare(op: str, first: AttributeValue | None, second: AttributeValue | None) -> bool:
    """A comparison as DynamoDB makes it: with a missing attribute or values of different types
    everything is false except ``<>``."""
    if op == "=":
        return first is not None and second is not None and _equal(first, second)
    if op == "<>":
        return first is None or second is None or not _equal(first, second)
    pair = _ordered_pair(first, second)
    return pair is not None and bool(_ORDERING[op](*pair))


def _evaluate(node: _Condition, item: Mapping[str, AttributeValue]) -> bool:
    if isinstance(node, _And):
        return _evaluate(node.left, item) and _evaluate(node.right, item)
    if isinstance(node, _Or):
        return _evaluate(node.left, item) or _evaluate(node.right, item)
    if isinstance(node, _Compare):
        return _compare(node.op, _operand_value(node.left, item), _operand_value(node.right, item))
    values = [_operand_value(argument, item) for argument in node.args]
    if node.function == "attribute_exists":
        return values[0] is not None
    if node.function == "attribute_not_exists":
        return values[0] is None
    subject, prefix = values  # begins_with
    return (
        subject is not None
        and prefix is not None
        and _tag(subject) == _tag(prefix) == "S"
        and bool(subject["S"].startswith(prefix["S"]))
    )


# ---- updates --------------------------------------------------------------------------------------


def _update_value(node: _Operand, old: Mapping[str, AttributeValue]) -> AttributeValue:
    """A SET action's value, computed from the item as it was before the update."""
    if isinstance(node, _PathOp):
        value = _get(old, node.path)
        if value is None:
            raise _invalid(_MISSING_OPERAND)
        return value
    if isinstance(node, _Const):
        return node.value
    if isinstance(node, _Arith):
        left, right = _update_value(node.left, old), _update_value(node.right, old)
        if _tag(left) != "N" or _tag(right) != "N":
            raise _invalid(_WRONG_OPERAND)
        compute = _EXACT.add if node.op == "+" else _EXACT.subtract
        return {"N": _number_text(_checked_number(compute(_number(left["N"]), _number(right["N"])), computed=True))}
    assert isinstance(node, _Call) and node.function == "if_not_exists"
    path, fallback = node.args
    assert isinstance(path, _PathOp)
    existing = _get(old, path.path)
    return existing if existing is not None else _update_value(fallback, old)


def _container(item: Item, path: Path) -> dict[str, AttributeValue]:
    """The map that holds the last step of ``path`` (the item itself for an attribute)."""
    if len(path) == 1:
        return item
    parent = _get(item, path[:-1])
    if parent is None or "M" not in parent:
        raise _invalid(_INVALID_PATH)
    members: dict[str, AttributeValue] = parent["M"]
    return members


def _apply_update(old: Item | None, key: Item, actions: tuple[_Action, ...]) -> Item | None:
    """The item after an UpdateItem; None when it did not exist and the update only removes (then
    DynamoDB creates nothing and checks no path). Values are read from the item as it was; the paths
    are disjoint (DynamoDB refuses overlapping ones), so the actions apply in any order."""
    if old is None and all(action.verb == "REMOVE" for action in actions):
        return None
    before: Mapping[str, AttributeValue] = old or {}
    values = {
        id(action): _update_value(action.value, before) for action in actions if action.value and action.verb == "SET"
    }
    item = _copy_item(old) if old is not None else _copy_item(key)
    for action in actions:
        container = _container(item, action.path)
        name = action.path[-1]
        if action.verb == "SET":
            container[name] = _copy(values[id(action)])
        elif action.verb == "REMOVE":
            container.pop(name, None)
        else:  # ADD a number; a missing one counts as 0
            assert isinstance(action.value, _Const)
            existing = container.get(name)
            if existing is None:
                container[name] = _copy(action.value.value)
            elif _tag(existing) != "N":
                raise _invalid(_WRONG_OPERAND)
            else:
                total = _EXACT.add(_number(existing["N"]), _number(action.value.value["N"]))
                container[name] = {"N": _number_text(_checked_number(total, computed=True))}
    return item


# ---- tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Schema:
    """A key schema of string attributes: the hash key, and the range key if there is one."""

    names: tuple[str, ...]

    @property
    def hash(self) -> str:
        return self.names[0]

    def values(self, item: Mapping[str, AttributeValue]) -> Key | None:
        """The item's key values, None when it lacks one (or has one of another type)."""
        values = []
        for name in self.names:
            value = item.get(name)
            if value is None or "S" not in value:
                return None
            values.append(value["S"])
        return tuple(values)


def _schema(elements: Any, types: Mapping[str, str]) -> _Schema:
    if not isinstance(elements, list | tuple) or not 1 <= len(elements) <= 2:
        raise _invalid("1 validation error detected: KeySchema must have 1 or 2 elements")
    kinds = [element.get("KeyType") for element in elements]
    if kinds[0] != "HASH" or (len(kinds) == 2 and kinds[1] != "RANGE"):
        raise _invalid("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    names = []
    for element in elements:
        name = element.get("AttributeName")
        if name not in types:
            raise _invalid(
                "One or more parameter values were invalid: Some index key attributes are not defined in "
                f"AttributeDefinitions. Keys: [{name}], AttributeDefinitions: [{', '.join(types)}]"
            )
        if types[name] != "S":
            _unsupported(f"key attributes of type {types[name]}")
        names.append(name)
    return _Schema(tuple(names))


class _Index:
    """A global secondary index projecting ALL: entries (index key, table key) in sort order; sparse,
    as DynamoDB's: an item is in it only while it has the index's key attributes."""

    def __init__(self, definition: Mapping[str, Any], types: Mapping[str, str]) -> None:
        self.name: str = definition["IndexName"]
        self.schema = _schema(definition["KeySchema"], types)
        projection = (definition.get("Projection") or {}).get("ProjectionType", "ALL")
        if projection != "ALL":
            _unsupported(f"index projections of type {projection}")
        self.entries: list[Key] = []

    def entry(self, item: Mapping[str, AttributeValue], key: Key) -> Key | None:
        values = self.schema.values(item)
        return None if values is None else values + key

    def add(self, entry: Key) -> None:
        bisect.insort(self.entries, entry)

    def discard(self, entry: Key) -> None:
        position = bisect.bisect_left(self.entries, entry)
        if position < len(self.entries) and self.entries[position] == entry:
            del self.entries[position]


def _first(entry: Key) -> Any:
    return entry[0]


class _Table:
    """A table made from a CreateTable request: items by key (with their sizes), the keys in sort
    order, and the global secondary indexes kept in step with every write."""

    def __init__(self, request: Mapping[str, Any]) -> None:
        self.name: str = request["TableName"]
        if request.get("BillingMode") != "PAY_PER_REQUEST":
            _unsupported("tables of provisioned capacity")
        types = {
            definition["AttributeName"]: definition["AttributeType"] for definition in request["AttributeDefinitions"]
        }
        self.schema = _schema(request["KeySchema"], types)
        self.indexes: dict[str, _Index] = {}
        for definition in request.get("GlobalSecondaryIndexes") or []:
            index = _Index(definition, types)
            if index.name in self.indexes:
                raise _invalid(f"One or more parameter values were invalid: Duplicate index name: {index.name}")
            self.indexes[index.name] = index
        self.items: dict[Key, Item] = {}
        self.sizes: dict[Key, int] = {}
        self.order: list[Key] = []

    # -- keys and items --

    def key(self, raw: Any) -> tuple[Item, Key]:
        """A Key parameter, checked against the schema."""
        if not isinstance(raw, Mapping) or set(raw) != set(self.schema.names):
            raise _invalid(_KEY_MISMATCH)
        item = {name: _load(raw[name]) for name in self.schema.names}
        for position, name in enumerate(self.schema.names):
            if _tag(item[name]) != "S":
                raise _invalid(_KEY_MISMATCH)
            self._check_key_value(name, item[name]["S"], hashed=position == 0)
        values = self.schema.values(item)
        assert values is not None
        return item, values

    def new_item(self, raw: Any) -> tuple[Item, Key, int]:
        """A PutItem's item, checked: its key, its index keys, its size."""
        item = _load_item(raw)
        for position, name in enumerate(self.schema.names):
            value = item.get(name)
            if value is None:
                raise _invalid(f"One or more parameter values were invalid: Missing the key {name} in the item")
            if _tag(value) != "S":
                raise _invalid(
                    "One or more parameter values were invalid: Type mismatch for key "
                    f"{name} expected: S actual: {_tag(value)}"
                )
            self._check_key_value(name, value["S"], hashed=position == 0)
        self.check_index_keys(item, updated=False)
        size = _item_size(item)
        if size > MAX_ITEM_SIZE:
            raise _invalid("Item size has exceeded the maximum allowed size")
        values = self.schema.values(item)
        assert values is not None
        return item, values, size

    @staticmethod
    def _check_key_value(name: str, raw: str, *, hashed: bool) -> None:
        if not raw:
            raise _invalid(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
                f"contain an empty string value. Key: {name}"
            )
        size = len(raw.encode("utf-8", "surrogatepass"))
        if hashed and size > MAX_HASH_KEY_SIZE:
            raise _invalid(
                "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of"
                f"{MAX_HASH_KEY_SIZE} bytes"
            )
        if not hashed and size > MAX_RANGE_KEY_SIZE:
            raise _invalid(
                "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size "
                f"limit of {MAX_RANGE_KEY_SIZE} bytes"
            )

    def check_index_keys(self, item: Item, *, updated: bool) -> None:
        """An index key attribute, when present, must be a string, and not an empty one."""
        for index in self.indexes.values():
            for name in index.schema.names:
                value = item.get(name)
                if value is None:
                    continue
                if _tag(value) != "S":
                    if updated:
                        raise _invalid(
                            "The update expression attempted to update the secondary index key to unsupported type"
                        )
                    raise _invalid(
                        "One or more parameter values were invalid: Type mismatch for Index Key "
                        f"{name} Expected: S Actual: {_tag(value)} IndexName: {index.name}"
                    )
                if not value["S"]:
                    raise _invalid(
                        "One or more parameter values are not valid. A value specified for a secondary index key is "
                        "not supported. The AttributeValue for a key attribute cannot contain an empty "
                        f"string value. IndexName: {index.name}, IndexKey: {name}"
                    )

    def check_update(self, actions: tuple[_Action, ...]) -> None:
        """An UpdateExpression may not touch the table's key."""
        for action in actions:
            if action.path[0] in self.schema.names:
                raise _invalid(
                    f"One or more parameter values were invalid: Cannot update attribute {action.path[0]}. "
                    "This attribute is part of the key"
                )

    def updated(self, key: Item, old: Item | None, actions: tuple[_Action, ...]) -> tuple[Item | None, int]:
        """The item after an update, checked like a written item; with its size."""
        new = _apply_update(old, key, actions)
        if new is None:
            return None, 0
        self.check_index_keys(new, updated=True)
        size = _item_size(new)
        if size > MAX_ITEM_SIZE:
            raise _invalid("Item size to update has exceeded the maximum allowed size")
        return new, size

    def write(self, key: Key, item: Item | None, size: int = 0) -> None:
        """Store ``item`` under ``key`` (None deletes), keeping the order and the indexes."""
        old = self.items.get(key)
        if old is not None:
            for index in self.indexes.values():
                entry = index.entry(old, key)
                if entry is not None:
                    index.discard(entry)
        if item is None:
            if old is not None:
                del self.items[key], self.sizes[key]
                del self.order[bisect.bisect_left(self.order, key)]
            return
        if old is None:
            bisect.insort(self.order, key)
        self.items[key] = item
        self.sizes[key] = size or _item_size(item)
        for index in self.indexes.values():
            entry = index.entry(item, key)
            if entry is not None:
                index.add(entry)

    # -- reading --

    def target(self, request: Mapping[str, Any]) -> tuple[_Schema, list[Key], _Index | None]:
        """The schema and the ordered entries a Query or Scan reads: the table's or an index's."""
        index_name = request.get("IndexName")
        if index_name is None:
            return self.schema, self.order, None
        index = self.indexes.get(index_name)
        if index is None:
            raise _invalid(f"The table does not have the specified index: {index_name}")
        if request.get("ConsistentRead"):
            raise _invalid("Consistent reads are not supported on global secondary indexes")
        return index.schema, index.entries, index

    def table_key(self, entry: Key, index: _Index | None) -> Key:
        return entry if index is None else entry[len(index.schema.names) :]

    def start_entry(self, raw: Any, index: _Index | None) -> Key:
        """An ExclusiveStartKey as an entry of the table's (or the index's) order."""
        schemas = (self.schema,) if index is None else (index.schema, self.schema)
        names = {name for schema in schemas for name in schema.names}
        if not isinstance(raw, Mapping) or set(raw) != names:
            raise _invalid(_BAD_START_KEY)
        loaded = {name: _load(value) for name, value in raw.items()}
        entry: Key = ()
        for schema in schemas:
            values = schema.values(loaded)
            if values is None:
                raise _invalid(_BAD_START_KEY)
            entry += values
        return entry

    def last_key(self, item: Item, index: _Index | None) -> Item:
        names = self.schema.names if index is None else (*index.schema.names, *self.schema.names)
        return {name: _copy(item[name]) for name in dict.fromkeys(names)}


# ---- reading pages --------------------------------------------------------------------------------


@dataclass
class _Reader:
    """One page of a Query or Scan: Limit counts the items read (before the filter), and a page ends
    after 1 MB; when it ends early, LastEvaluatedKey names the last item read, even if none follow."""

    table: _Table
    index: _Index | None
    filter: _Condition | None
    projection: tuple[str, ...] | None
    limit: int | None

    def page(self, entries: Iterator[Key]) -> dict[str, Any]:
        items: list[Item] = []
        scanned = size = 0
        for entry in entries:
            key = self.table.table_key(entry, self.index)
            item = self.table.items[key]
            scanned += 1
            size += self.table.sizes[key]
            if self.filter is None or _evaluate(self.filter, item):
                items.append(_project(item, self.projection))
            if (self.limit is not None and scanned >= self.limit) or size >= MAX_PAGE_SIZE:
                last = self.table.last_key(item, self.index)
                return {"Items": items, "Count": len(items), "ScannedCount": scanned, "LastEvaluatedKey": last}
        return {"Items": items, "Count": len(items), "ScannedCount": scanned}


def _project(item: Mapping[str, AttributeValue], names: tuple[str, ...] | None) -> Item:
    """A copy of ``item``, or of its attributes ``names`` (those it has)."""
    if names is None:
        return _copy_item(item)
    return {name: _copy(item[name]) for name in names if name in item}


@dataclass(frozen=True)
class _KeyMatch:
    """A KeyConditionExpression: the partition, and a test of the sort key (if there is one)."""

    partition: str
    sort_test: Callable[[str], bool] | None


def _key_part(node: _Condition) -> tuple[str, str, AttributeValue]:
    """(attribute, operator, constant) of one part of a KeyConditionExpression: ``name op :value`` or
    ``begins_with(name, :value)``; other forms are not implemented."""
    if isinstance(node, _Compare) and node.op != "<>":
        if isinstance(node.left, _PathOp) and len(node.left.path) == 1 and isinstance(node.right, _Const):
            return node.left.path[0], node.op, node.right.value
    elif isinstance(node, _Function) and node.function == "begins_with":
        subject, prefix = node.args
        if isinstance(subject, _PathOp) and len(subject.path) == 1 and isinstance(prefix, _Const):
            return subject.path[0], "begins_with", prefix.value
    _unsupported(f"this form of key condition: {node}")


def _sort_test(op: str, bound: str) -> Callable[[str], bool]:
    """A sort key condition as a test of the sort key's value."""
    if op == "begins_with":
        return lambda value: value.startswith(bound)
    compare = operator.eq if op == "=" else _ORDERING[op]
    return lambda value: bool(compare(value, bound))


def _key_match(condition: _Condition, schema: _Schema) -> _KeyMatch:
    parts: list[_Condition] = []
    pending: list[_Condition] = [condition]
    while pending:
        node = pending.pop()
        if isinstance(node, _And):
            pending += [node.right, node.left]
        else:
            parts.append(node)
    partition: str | None = None
    sort_test: Callable[[str], bool] | None = None
    seen: set[str] = set()
    for part in parts:
        name, op, constant = _key_part(part)
        if name not in schema.names:
            raise _invalid("Query key condition not supported")
        if name in seen:
            raise _invalid("KeyConditionExpressions must only contain one condition per key")
        seen.add(name)
        if _tag(constant) != "S":
            raise _invalid(
                "One or more parameter values were invalid: Condition parameter type does not match schema type"
            )
        if name == schema.hash:
            if op != "=":
                raise _invalid("Query key condition not supported")
            partition = constant["S"]
        else:
            sort_test = _sort_test(op, constant["S"])
    if partition is None:
        raise _invalid(f"Query condition missed key schema element: {schema.hash}")
    return _KeyMatch(partition, sort_test)


# ---- transactions ---------------------------------------------------------------------------------


@dataclass
class _Part:
    """One item of a TransactWriteItems."""

    verb: str  # Put, Update, ConditionCheck or Delete
    request: Mapping[str, Any]
    table: _Table
    expressions: _Expressions
    return_old: bool
    key_item: Item = field(default_factory=dict)
    key: Key = ()
    new: Item | None = None
    size: int = 0


def _cancelled(reasons: list[dict[str, Any]]) -> DynamoDBError:
    codes = ", ".join(reason["Code"] for reason in reasons)
    return DynamoDBError(
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        CancellationReasons=reasons,
    )


def _return_old(request: Mapping[str, Any], where: str) -> bool:
    value = request.get("ReturnValuesOnConditionCheckFailure", "NONE")
    if value not in ("ALL_OLD", "NONE"):
        raise _invalid(
            f"1 validation error detected: Value '{value}' at '{where}returnValuesOnConditionCheckFailure' failed to "
            "satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
        )
    return bool(value == "ALL_OLD")


# ---- the client -----------------------------------------------------------------------------------


class FakeDynamoDB:
    """The low-level DynamoDB client, in memory. ``validate_params=False`` skips botocore's full
    parameter validation (types, lengths), keeping only unknown and missing parameters, for speed."""

    def __init__(self, *, validate_params: bool = True) -> None:
        self._validate_params = validate_params
        self._lock = threading.RLock()
        self._tables: dict[str, _Table] = {}

    def __getattr__(self, name: str) -> Any:
        """An operation of DynamoDB's the fake does not implement fails loudly, not as a missing attribute."""
        if name in _operation_methods():
            _unsupported(f"the operation {_operation_methods()[name]}")
        raise AttributeError(name)

    # -- for tests --

    def table_items(self, table_name: str) -> list[Item]:
        """Copies of every item of a table, in key order."""
        with self._lock:
            table = self._table(table_name)
            return [_copy_item(table.items[key]) for key in table.order]

    def peek_items(self, table_name: str) -> list[Item]:
        """The stored items themselves, in key order, without copying: for invariant checks that
        read a table after every step. Never change what this returns."""
        with self._lock:
            table = self._table(table_name)
            return [table.items[key] for key in table.order]

    # -- plumbing --

    def _call(
        self, operation: str, params: Mapping[str, Any], handler: Callable[[Mapping[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        _check_params(operation, params, full=self._validate_params)
        _check_supported(operation, params)
        with self._lock:
            try:
                answer = handler(params)
            except DynamoDBError as error:
                raise _client_error(error, operation) from None
        answer["ResponseMetadata"] = _metadata(200)
        return answer

    def _table(self, name: Any) -> _Table:
        table = self._tables.get(name)
        if table is None:
            raise DynamoDBError("ResourceNotFoundException", "Requested resource not found")
        return table

    # -- tables --

    def create_table(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateTable", params, self._create_table)

    def _create_table(self, request: Mapping[str, Any]) -> dict[str, Any]:
        if request["TableName"] in self._tables:
            raise DynamoDBError("ResourceInUseException", f"Table already exists: {request['TableName']}")
        table = _Table(request)
        self._tables[table.name] = table
        return {"TableDescription": {"TableName": table.name, "TableStatus": "ACTIVE"}}

    # -- single items --

    def get_item(self, **params: Any) -> dict[str, Any]:
        return self._call("GetItem", params, self._get_item)

    def _get_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        expressions = _Expressions(request, "ProjectionExpression")
        table = self._table(request["TableName"])
        _, key = table.key(request["Key"])
        item = table.items.get(key)
        return {} if item is None else {"Item": _project(item, expressions.projection)}

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self._call("PutItem", params, self._put_item)

    def _put_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        expressions = _Expressions(request, "ConditionExpression")
        table = self._table(request["TableName"])
        item, key, size = table.new_item(request["Item"])
        old = table.items.get(key)
        if expressions.condition is not None and not _evaluate(expressions.condition, old or {}):
            raise DynamoDBError("ConditionalCheckFailedException", _CONDITION_FAILED)
        table.write(key, item, size)
        return {}

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self._call("UpdateItem", params, self._update_item)

    def _update_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        if "UpdateExpression" not in request:
            _unsupported("an UpdateItem without an UpdateExpression")
        expressions = _Expressions(request, "UpdateExpression", "ConditionExpression")
        assert expressions.update is not None
        table = self._table(request["TableName"])
        returns = request.get("ReturnValues", "NONE")
        if returns in ("UPDATED_OLD", "UPDATED_NEW"):
            _unsupported(f"ReturnValues {returns}")
        if returns not in ("NONE", "ALL_OLD", "ALL_NEW"):
            raise _invalid("Return values set to invalid value")
        table.check_update(expressions.update)
        key_item, key = table.key(request["Key"])
        old = table.items.get(key)
        if expressions.condition is not None and not _evaluate(expressions.condition, old or {}):
            raise DynamoDBError("ConditionalCheckFailedException", _CONDITION_FAILED)
        new, size = table.updated(key_item, old, expressions.update)
        if new is not None:
            table.write(key, new, size)
        chosen = {"ALL_OLD": old, "ALL_NEW": new}.get(returns)
        return {"Attributes": _copy_item(chosen)} if chosen is not None else {}

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteItem", params, self._delete_item)

    def _delete_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        expressions = _Expressions(request, "ConditionExpression")
        table = self._table(request["TableName"])
        _, key = table.key(request["Key"])
        old = table.items.get(key)
        if expressions.condition is not None and not _evaluate(expressions.condition, old or {}):
            raise DynamoDBError("ConditionalCheckFailedException", _CONDITION_FAILED)
        table.write(key, None)
        return {}

    # -- queries and scans --

    def query(self, **params: Any) -> dict[str, Any]:
        return self._call("Query", params, self._query)

    def _query(self, request: Mapping[str, Any]) -> dict[str, Any]:
        expressions = _Expressions(request, "KeyConditionExpression")
        if expressions.key_condition is None:
            raise _invalid(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
            )
        table = self._table(request["TableName"])
        schema, entries, index = table.target(request)
        match = _key_match(expressions.key_condition, schema)
        low = bisect.bisect_left(entries, match.partition, key=_first)
        high = bisect.bisect_right(entries, match.partition, key=_first)
        forward = request.get("ScanIndexForward", True)
        if request.get("ExclusiveStartKey") is not None:
            start = table.start_entry(request["ExclusiveStartKey"], index)
            if start[0] != match.partition:
                raise _invalid("The provided starting key is outside query boundaries based on provided conditions")
            if forward:
                low = bisect.bisect_right(entries, start, low, high)
            else:
                high = bisect.bisect_left(entries, start, low, high)
        positions = range(low, high) if forward else range(high - 1, low - 1, -1)
        sort_test = match.sort_test
        selected = (entries[position] for position in positions if sort_test is None or sort_test(entries[position][1]))
        return _Reader(table, index, None, None, request.get("Limit")).page(selected)

    def scan(self, **params: Any) -> dict[str, Any]:
        return self._call("Scan", params, self._scan)

    def _scan(self, request: Mapping[str, Any]) -> dict[str, Any]:
        expressions = _Expressions(request, "FilterExpression", "ProjectionExpression")
        table = self._table(request["TableName"])
        _, entries, index = table.target(request)
        start = 0
        if request.get("ExclusiveStartKey") is not None:
            start = bisect.bisect_right(entries, table.start_entry(request["ExclusiveStartKey"], index))
        reader = _Reader(table, index, expressions.filter, expressions.projection, request.get("Limit"))
        return reader.page(entries[position] for position in range(start, len(entries)))

    # -- batches --

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        return self._call("BatchGetItem", params, self._batch_get_item)

    def _batch_get_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        wanted = request["RequestItems"]
        for table_request in wanted.values():
            _check_supported("BatchGetItem table", table_request)
        if sum(len(table_request.get("Keys") or ()) for table_request in wanted.values()) > MAX_BATCH_GET:
            raise _invalid("Too many items requested for the BatchGetItem call")
        reads: list[tuple[str, _Table, list[Key]]] = []
        for name, table_request in wanted.items():
            table = self._table(name)
            keys = [table.key(raw)[1] for raw in table_request["Keys"]]
            if len(set(keys)) != len(keys):
                raise _invalid("Provided list of item keys contains duplicates")
            reads.append((name, table, keys))
        responses = {
            name: [_copy_item(table.items[key]) for key in keys if key in table.items] for name, table, keys in reads
        }
        return {"Responses": responses, "UnprocessedKeys": {}}

    # -- transactions --

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        return self._call("TransactWriteItems", params, self._transact_write_items)

    def _transact_write_items(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """All or nothing. Malformed requests (syntax, placeholders, two actions on one item) are a
        ValidationException; an item DynamoDB cannot take, a failed condition or an update that does
        not fit the item cancel the transaction, with one reason per item ("None" when fine)."""
        parts = self._transaction_parts(request)
        reasons: list[dict[str, Any]] = [{"Code": "None"} for _ in parts]
        for position, part in enumerate(parts):  # an item DynamoDB cannot take: the first one cancels
            try:
                if part.verb == "Put":
                    part.new, part.key, part.size = part.table.new_item(part.request["Item"])
                else:
                    part.key_item, part.key = part.table.key(part.request["Key"])
            except DynamoDBError as error:
                reasons[position] = {"Code": "ValidationError", "Message": error.message}
                raise _cancelled(reasons) from None
        if len({(part.table.name, part.key) for part in parts}) != len(parts):
            raise _invalid("Transaction request cannot include multiple operations on one item")
        for position, part in enumerate(parts):
            reasons[position] = self._prepare(part)
        if any(reason["Code"] != "None" for reason in reasons):
            raise _cancelled(reasons)
        for part in parts:
            if part.new is not None:
                part.table.write(part.key, part.new, part.size)
            elif part.verb == "Delete":
                part.table.write(part.key, None)
        return {}

    @staticmethod
    def _prepare(part: _Part) -> dict[str, Any]:
        """Check one part against the item as it is; the cancellation reason ("None" when fine)."""
        old = part.table.items.get(part.key)
        condition = part.expressions.condition
        if condition is not None and not _evaluate(condition, old or {}):
            reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": _CONDITION_FAILED}
            if part.return_old and old is not None:
                reason["Item"] = _copy_item(old)
            return reason
        if part.verb == "Update":
            assert part.expressions.update is not None
            try:
                part.new, part.size = part.table.updated(part.key_item, old, part.expressions.update)
            except DynamoDBError as error:
                return {"Code": "ValidationError", "Message": error.message}
        return {"Code": "None"}

    def _transaction_parts(self, request: Mapping[str, Any]) -> list[_Part]:
        entries: Sequence[Any] = request["TransactItems"]
        if not 1 <= len(entries) <= MAX_TRANSACT_ITEMS:
            raise _invalid(
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_TRANSACT_ITEMS}"
            )
        fields = {
            "Put": ("ConditionExpression",),
            "Update": ("UpdateExpression", "ConditionExpression"),
            "ConditionCheck": ("ConditionExpression",),
            "Delete": ("ConditionExpression",),
        }
        parts: list[_Part] = []
        for position, entry in enumerate(entries):
            if len(entry) != 1:
                raise _invalid("TransactItems can only contain one of Check, Put, Update or Delete")
            ((verb, action),) = entry.items()
            if verb not in fields:
                _unsupported(f"{verb} in TransactWriteItems")
            _check_supported(f"TransactWriteItems {verb}", action)
            expressions = _Expressions(action, *fields[verb])
            if verb == "ConditionCheck" and expressions.condition is None:
                raise _invalid("The ConditionExpression of a ConditionCheck must be specified")
            return_old = _return_old(action, f"transactItems.{position + 1}.member.{verb[0].lower()}{verb[1:]}.")
            table = self._table(action["TableName"])
            if verb == "Update":
                if expressions.update is None:
                    _unsupported("an Update without an UpdateExpression in TransactWriteItems")
                table.check_update(expressions.update)
            parts.append(_Part(verb, action, table, expressions, return_old))
        return parts


@functools.cache
def _operation_methods() -> dict[str, str]:
    """DynamoDB's operations by the name of their client method (``batch_write_item``: BatchWriteItem)."""
    return {xform_name(name): name for name in _botocore().model.operation_names}
