"""An in-memory fake of boto3's low-level DynamoDB client, for model tests that send thousands of
requests a second (moto serializes every call through botocore and copies whole tables in
transactions, which is far too slow for that).

:class:`FakeDynamoDB` takes the keyword arguments of ``boto3.client("dynamodb")`` and answers with the
same shapes: attribute values in the wire format (``{"S": "x"}``, ``{"N": "5"}``, ``{"M": {...}}`` ...)
and, for errors, ``botocore.exceptions.ClientError`` (the very subclasses boto3 raises, e.g.
``client.exceptions.ConditionalCheckFailedException``) with DynamoDB's codes and response fields, such
as the ``CancellationReasons`` of a cancelled transaction. Where moto and DynamoDB differ, the fake
follows DynamoDB (``tests/unit/test_fake_dynamodb.py`` lists the cases).

Install it as the store's client::

    fake = FakeDynamoDB()
    fake.create_table(**create_table_request("AppTable", "avocette-app"))
    with unittest.mock.patch("boto3.client", return_value=fake):
        avocette.store.table.dynamodb.cache_clear()
        avocette.store.table.dynamodb()

Every request is atomic (one lock around each call), as DynamoDB applies each request atomically.
``fake.calls`` counts the calls by operation (``fake.calls["transact_write_items"]``; reset with
``fake.reset_calls()``), and ``fake.inject_error`` makes the next calls of an operation fail as DynamoDB
does when it throttles or when transactions conflict.

Items are stored in the wire format, deep-copied in and out, with numbers in DynamoDB's canonical form
(``"5.50"`` is stored and returned as ``"5.5"``). Keys sort as DynamoDB sorts them: strings by UTF-8
bytes (the order of code points), numbers numerically, binary by unsigned bytes.

DynamoDB behaviour worth knowing, which the fake reproduces:

- Expressions: unused or undefined placeholders, reserved words used as names (``count``, ``status``,
  ``lines`` ...), ``((redundant parentheses))``, constants of a type an operator cannot take and
  overlapping update paths are a ValidationException. A comparison with a missing attribute or a
  value of another type is false (``<>`` is true), never an error.
- UpdateItem reads every value from the item as it was, and list indexes refer to the list as it was
  (``REMOVE l[0] SET l[2] = :v`` sets the element that was third). An update that only REMOVEs or
  DELETEs does not create a missing item. ``UPDATED_OLD``/``UPDATED_NEW`` answer the updated paths.
- A transaction whose item DynamoDB cannot take (a key of the wrong type, a bad update path, an
  operand of the wrong type) is cancelled with a ``ValidationError`` reason for that item; a malformed
  request (syntax, placeholders, two actions on one item) is a ValidationException.
- A page of a Query or Scan that reaches ``Limit`` has a ``LastEvaluatedKey`` even when nothing follows.
- An index key attribute of the wrong type, or an empty string, is refused on writes.

Where DynamoDB defines no order the fake picks one: a Scan reads in key order, items with equal index
keys come in table key order, and parallel scan segments split the table by partition key. ``size()`` of
a string counts its characters.

Not supported (``NotImplementedError``): the legacy parameters (``Expected``, ``AttributeUpdates``,
``KeyConditions``, ``QueryFilter``, ``ScanFilter``, ``AttributesToGet``, ``ConditionalOperator``), local
secondary indexes, PartiQL, streams and backups. ``ReturnConsumedCapacity`` and
``ReturnItemCollectionMetrics`` are accepted and answered with nothing. Time to live is recorded, and
items expire only when a test calls :meth:`FakeDynamoDB.expire_ttl`.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import operator
import re
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any, Final, TypeAlias

import botocore.session
from botocore import xform_name
from botocore.errorfactory import ClientExceptionsFactory
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

__all__ = ["DynamoDBError", "FakeDynamoDB"]

AttributeValue: TypeAlias = dict[str, Any]
Item: TypeAlias = dict[str, AttributeValue]
Element: TypeAlias = str | int  # one step of a document path: a map key (or attribute name), or a list index
Path: TypeAlias = tuple[Element, ...]
Key: TypeAlias = tuple[Any, ...]  # an item's key values (str, Decimal or bytes), in DynamoDB's sort order

MAX_ITEM_SIZE: Final = 400 * 1024
MAX_PAGE_SIZE: Final = 1024 * 1024
MAX_HASH_KEY_SIZE: Final = 2048
MAX_RANGE_KEY_SIZE: Final = 1024
MAX_NESTING: Final = 32
MAX_TRANSACT_ITEMS: Final = 100
MAX_BATCH_WRITE: Final = 25
MAX_BATCH_GET: Final = 100
MAX_IN_OPERANDS: Final = 100
MAX_TOKEN_LENGTH: Final = 36
IDEMPOTENCY_SECONDS: Final = 600.0

_SCALAR_KEY_TYPES: Final = frozenset({"S", "N", "B"})
_SET_TYPES: Final = frozenset({"SS", "NS", "BS"})
_ALL_TYPES: Final = ("B", "NULL", "SS", "BOOL", "L", "BS", "N", "NS", "S", "M")
_TYPE_NAMES: Final = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "BOOL": "BOOLEAN",
    "NULL": "NULL",
    "M": "MAP",
    "L": "LIST",
    "SS": "SET",
    "NS": "SET",
    "BS": "SET",
}

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


def _not_found(message: str = "Requested resource not found") -> DynamoDBError:
    return DynamoDBError("ResourceNotFoundException", message)


_CONDITION_FAILED: Final = "The conditional request failed"
_INVALID_PATH: Final = "The document path provided in the update expression is invalid for update"
_MISSING_OPERAND: Final = "The provided expression refers to an attribute that does not exist in the item"
_WRONG_OPERAND: Final = "An operand in the update expression has an incorrect data type"
_OVERFLOW: Final = "Number overflow. Attempting to store a number with magnitude larger than supported range"
_UNDERFLOW: Final = "Number underflow. Attempting to store a number with magnitude smaller than supported range"
_KEY_MISMATCH: Final = "The provided key element does not match the schema"
_BAD_START_KEY: Final = "The provided starting key is invalid: The provided key element does not match the schema"
_SERVER_ERRORS: Final = frozenset({"InternalServerError", "ServiceUnavailable"})


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
    status = 500 if error.code in _SERVER_ERRORS else 400
    response: dict[str, Any] = {
        "Error": {"Message": error.message, "Code": error.code},
        "ResponseMetadata": _metadata(status, error.code),
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


def _reject_legacy(request: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if name in request:
            raise NotImplementedError(f"FakeDynamoDB does not support the legacy parameter {name}; use expressions")


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


def _load_number(raw: Any) -> str:
    if not isinstance(raw, str):
        raise DynamoDBError("SerializationException", f"NUMBER_VALUE cannot be converted to String: {raw!r}")
    return _canonical_number(raw)


def _load_binary(raw: Any) -> bytes:
    if isinstance(raw, bytes | bytearray):
        return bytes(raw)
    if isinstance(raw, str):  # botocore encodes text as UTF-8
        return raw.encode("utf-8")
    raise DynamoDBError("SerializationException", f"Binary value must be bytes, not {type(raw).__name__}")


def _load_set(tag: str, raw: Any) -> list[Any]:
    if not isinstance(raw, list | tuple | set | frozenset):
        raise DynamoDBError("SerializationException", f"{tag} value must be a list")
    elements: list[Any]
    if tag == "SS":
        if not all(isinstance(element, str) for element in raw):
            raise DynamoDBError("SerializationException", "SS elements must be strings")
        elements = list(raw)
    elif tag == "NS":
        elements = [_load_number(element) for element in raw]
    else:
        elements = [_load_binary(element) for element in raw]
    if not elements:
        empty = {"SS": "An string set  may not be empty", "NS": "An number set  may not be empty"}
        raise _invalid(
            "One or more parameter values were invalid: " + empty.get(tag, "Binary sets should not be empty")
        )
    if len(set(elements)) != len(elements):
        raise _invalid("One or more parameter values were invalid: Input collection contains duplicates")
    return elements


def _load_string(raw: Any, depth: int) -> str:
    if not isinstance(raw, str):
        raise DynamoDBError("SerializationException", f"S value must be a string, not {type(raw).__name__}")
    return raw


def _load_bool(raw: Any, depth: int) -> bool:
    if not isinstance(raw, bool):
        raise DynamoDBError("SerializationException", "BOOL value must be a boolean")
    return raw


def _load_null(raw: Any, depth: int) -> bool:
    if raw is not True:
        raise _invalid(
            "One or more parameter values were invalid: Null attribute value types must have the value of true"
        )
    return True


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
    "N": lambda raw, _: _load_number(raw),
    "B": lambda raw, _: _load_binary(raw),
    "BOOL": _load_bool,
    "NULL": _load_null,
    "M": _load_map,
    "L": _load_list,
    "SS": lambda raw, _: _load_set("SS", raw),
    "NS": lambda raw, _: _load_set("NS", raw),
    "BS": lambda raw, _: _load_set("BS", raw),
}
_MORE_THAN_ONE_TYPE: Final = (
    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
)


def _load(value: Any, depth: int = 1) -> AttributeValue:
    """A fresh, checked copy of a wire attribute value, numbers in canonical form."""
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
    if tag in _SET_TYPES:
        return {tag: list(raw)}
    return {tag: raw}


def _copy_item(item: Mapping[str, AttributeValue]) -> Item:
    return {name: _copy(value) for name, value in item.items()}


def _tag(value: AttributeValue) -> str:
    return next(iter(value))


def _equal(first: AttributeValue, second: AttributeValue) -> bool:
    """DynamoDB's ``=``: same type and value; sets in any order (numbers are canonical, so text compares)."""
    tag = _tag(first)
    if tag != _tag(second):
        return False
    a, b = first[tag], second[tag]
    if tag in _SET_TYPES:
        return len(a) == len(b) and set(a) == set(b)
    if tag == "L":
        return len(a) == len(b) and all(map(_equal, a, b))
    if tag == "M":
        return bool(a.keys() == b.keys()) and all(_equal(member, b[name]) for name, member in a.items())
    return bool(a == b)


def _sort_value(value: AttributeValue) -> Any:
    """A scalar's value in DynamoDB's order: numbers numerically; text by code point, which is the
    order of its UTF-8 bytes; binary by unsigned bytes."""
    tag = _tag(value)
    return _number(value["N"]) if tag == "N" else value[tag]


def _ordered_pair(first: AttributeValue | None, second: AttributeValue | None) -> tuple[Any, Any] | None:
    """Both values in sort order when ``<`` and friends apply to them (same type, S, N or B)."""
    if first is None or second is None:
        return None
    tag = _tag(first)
    if tag not in _SCALAR_KEY_TYPES or tag != _tag(second):
        return None
    return _sort_value(first), _sort_value(second)


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
    if tag == "B":
        return len(raw)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(len(element.encode("utf-8", "surrogatepass")) for element in raw)
    if tag == "NS":
        return sum(_number_size(element) for element in raw)
    if tag == "BS":
        return sum(len(element) for element in raw)
    if tag == "L":
        return 3 + sum(1 + _value_size(member) for member in raw)
    return 3 + sum(1 + len(name.encode("utf-8", "surrogatepass")) + _value_size(member) for name, member in raw.items())


def _item_size(item: Mapping[str, AttributeValue]) -> int:
    return sum(len(name.encode("utf-8", "surrogatepass")) + _value_size(value) for name, value in item.items())


def _describe(value: AttributeValue) -> str:
    tag = _tag(value)
    return f"AttributeValue: {{{tag}:{value[tag]}}}"


# ---- document paths -------------------------------------------------------------------------------


def _get(item: Mapping[str, AttributeValue], path: Path) -> AttributeValue | None:
    """The value at ``path``, or None when any step is missing or of the wrong type."""
    value = item.get(str(path[0]))
    for element in path[1:]:
        if value is None:
            return None
        if isinstance(element, str):
            members = value.get("M")
            value = None if members is None else members.get(element)
        else:
            elements = value.get("L")
            value = elements[element] if elements is not None and element < len(elements) else None
    return value


def _format_path(path: Path) -> str:
    return "[" + ", ".join(f"[{element}]" if isinstance(element, int) else element for element in path) + "]"


def _path_order(path: Path) -> tuple[tuple[int, Any], ...]:
    """Sorts paths element by element, list indexes numerically."""
    return tuple((1, element) if isinstance(element, int) else (0, element) for element in path)


def _check_disjoint(paths: Sequence[Path], kind: str) -> None:
    """DynamoDB refuses two paths of which one contains the other ("overlap"), or that use one step
    both as a map key and a list index ("conflict")."""
    for number, first in enumerate(paths):
        for second in paths[number + 1 :]:
            for a, b in zip(first, second, strict=False):
                if a == b:
                    continue
                if isinstance(a, int) != isinstance(b, int):
                    raise _invalid(
                        f"Invalid {kind}: Two document paths conflict with each other; must remove or rewrite one"
                        f" of these paths; path one: {_format_path(first)}, path two: {_format_path(second)}"
                    )
                break
            else:
                raise _invalid(
                    f"Invalid {kind}: Two document paths overlap with each other; must remove or rewrite one of"
                    f" these paths; path one: {_format_path(first)}, path two: {_format_path(second)}"
                )


# A projection as a tree of path steps; None marks a step whose whole value is taken.
_Tree: TypeAlias = dict[Element, "_Tree | None"]


def _tree(paths: Sequence[Path]) -> _Tree:
    root: _Tree = {}
    for path in paths:
        node = root
        for element in path[:-1]:
            child = node.setdefault(element, {})
            assert child is not None  # disjoint paths: a step is never both taken whole and descended
            node = child
        node[path[-1]] = None
    return root


def _project(item: Mapping[str, AttributeValue], tree: _Tree) -> Item:
    """The parts of ``item`` the tree names, shaped as in the item; missing parts are left out."""
    result: Item = {}
    for name, subtree in tree.items():
        value = item.get(str(name))
        if value is None:
            continue
        projected = _copy(value) if subtree is None else _project_value(value, subtree)
        if projected is not None:
            result[str(name)] = projected
    return result


def _project_value(value: AttributeValue, tree: _Tree) -> AttributeValue | None:
    if isinstance(next(iter(tree)), str):
        members = value.get("M")
        if members is None:
            return None
        picked: Item = {}
        for name, subtree in tree.items():
            member = members.get(name)
            projected = (
                None if member is None else _copy(member) if subtree is None else _project_value(member, subtree)
            )
            if projected is not None:
                picked[str(name)] = projected
        return {"M": picked} if picked else None
    elements = value.get("L")
    if elements is None:
        return None
    chosen: list[AttributeValue] = []
    for index in sorted(tree, key=int):
        if int(index) < len(elements):
            subtree = tree[index]
            element = elements[int(index)]
            projected = _copy(element) if subtree is None else _project_value(element, subtree)
            if projected is not None:
                chosen.append(projected)
    return {"L": chosen} if chosen else None


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
class _Between:
    subject: _Operand
    low: _Operand
    high: _Operand


@dataclass(frozen=True, slots=True)
class _In:
    subject: _Operand
    options: tuple[_Operand, ...]


@dataclass(frozen=True, slots=True)
class _And:
    left: _Condition
    right: _Condition


@dataclass(frozen=True, slots=True)
class _Or:
    left: _Condition
    right: _Condition


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Condition


@dataclass(frozen=True, slots=True)
class _Function:
    function: str
    args: tuple[_Operand, ...]


_Condition: TypeAlias = _Compare | _Between | _In | _And | _Or | _Not | _Function


@dataclass(frozen=True, slots=True)
class _Action:
    verb: str  # SET, REMOVE, ADD or DELETE
    path: Path
    value: _Operand | None


_CONDITION_FUNCTIONS: Final = {  # name: number of arguments
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
}
_UPDATE_FUNCTIONS: Final = frozenset({"if_not_exists", "list_append"})
_COMPARATORS: Final = frozenset({"=", "<>", "<", "<=", ">", ">="})
_ORDERING: Final = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class _Parser:
    """Recursive descent over one expression. Precedence, loosest first: OR, AND, NOT, then
    comparisons, BETWEEN, IN and function calls; parentheses group conditions."""

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
        elements: list[Element] = [self.path_name()]
        while True:
            if self.at_op("."):
                self.advance()
                elements.append(self.path_name())
            elif self.at_op("["):
                self.advance()
                token = self.advance()
                if token.kind != "int":
                    self.index -= 1
                    raise self.syntax_error()
                self.expect_op("]")
                elements.append(int(token.text))
            else:
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
        node = self.negation()
        while self.at_keyword("AND"):
            self.advance()
            node = _And(node, self.negation())
        return node

    def negation(self) -> _Condition:
        if self.at_keyword("NOT"):
            self.advance()
            return _Not(self.negation())
        return self.primary()

    def primary(self) -> _Condition:
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
        if self.at_op(*_COMPARATORS):
            op = self.advance().text
            return _Compare(op, left, self.operand())
        if self.at_keyword("BETWEEN"):
            self.advance()
            low = self.operand()
            if not self.at_keyword("AND"):
                raise self.syntax_error()
            self.advance()
            return _Between(left, low, self.operand())
        if self.at_keyword("IN"):
            self.advance()
            self.expect_op("(")
            options = [self.operand()]
            while self.at_op(","):
                self.advance()
                options.append(self.operand())
            self.expect_op(")")
            return _In(left, tuple(options))
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
            if token.kind != "ident" or verb not in ("SET", "REMOVE", "ADD", "DELETE"):
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
        resolved: list[Element] = []
        for element in path:
            if isinstance(element, str) and element.startswith("#"):
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

    def not_allowed(self, function: str) -> DynamoDBError:
        if function in _CONDITION_FUNCTIONS or function in _UPDATE_FUNCTIONS or function == "size":
            return self.error(f"The function is not allowed to be used this way in an expression; function: {function}")
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
            (argument,) = node.args
            if not isinstance(argument, _PathOp):
                raise self.error("Operator or function requires a document path; operator or function: size")
            return _Call("size", (_PathOp(self.path(argument.path)),))
        if isinstance(node, _Call):
            raise self.not_allowed(node.function)
        raise self.error("Syntax error")

    def ordered(self, op: str, *operands: _Operand) -> None:
        for operand in operands:
            if isinstance(operand, _Const) and _tag(operand.value) not in _SCALAR_KEY_TYPES:
                self.wrong_type(op, operand)

    def condition(self, node: _Condition) -> _Condition:
        if isinstance(node, _And):
            return _And(self.condition(node.left), self.condition(node.right))
        if isinstance(node, _Or):
            return _Or(self.condition(node.left), self.condition(node.right))
        if isinstance(node, _Not):
            return _Not(self.condition(node.operand))
        if isinstance(node, _Compare):
            left, right = self.value(node.left), self.value(node.right)
            if node.op in _ORDERING:
                self.ordered(node.op, left, right)
            return _Compare(node.op, left, right)
        if isinstance(node, _Between):
            return self.between(node)
        if isinstance(node, _In):
            if len(node.options) + 1 > MAX_IN_OPERANDS:
                raise self.error(
                    f"The IN operator is provided with too many operands; number of operands: {len(node.options) + 1}"
                )
            return _In(self.value(node.subject), tuple(self.value(option) for option in node.options))
        return self.function(node)

    def between(self, node: _Between) -> _Between:
        subject, low, high = self.value(node.subject), self.value(node.low), self.value(node.high)
        self.ordered("BETWEEN", subject, low, high)
        if isinstance(low, _Const) and isinstance(high, _Const):
            if _tag(low.value) != _tag(high.value):
                raise self.error(
                    "The BETWEEN operator requires same data type for lower and upper bounds; "
                    f"lower bound operand: {_describe(low.value)}, upper bound operand: {_describe(high.value)}"
                )
            if _sort_value(low.value) > _sort_value(high.value):
                raise self.error(
                    "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
                    f"lower bound operand: {_describe(low.value)}, upper bound operand: {_describe(high.value)}"
                )
        return _Between(subject, low, high)

    def function(self, node: _Function) -> _Function:
        name = node.function
        if name not in _CONDITION_FUNCTIONS:
            raise self.not_allowed(name)
        self.arity(name, node.args, _CONDITION_FUNCTIONS[name])
        if name in ("attribute_exists", "attribute_not_exists"):
            (argument,) = node.args
            if not isinstance(argument, _PathOp):
                raise self.error(f"Operator or function requires a document path; operator or function: {name}")
            return _Function(name, (_PathOp(self.path(argument.path)),))
        args = tuple(self.value(argument) for argument in node.args)
        if name == "attribute_type":
            kind = args[1]
            if not isinstance(kind, _Const):
                raise self.error(
                    "Incorrect operand type for operator or function; operator or function: attribute_type"
                )
            if _tag(kind.value) != "S":
                self.wrong_type(name, kind)
            if kind.value["S"] not in _ALL_TYPES:
                raise self.error(
                    f"Invalid attribute type name found in type: {kind.value['S']}, "
                    f"valid types: {{{','.join(_ALL_TYPES)}}}"
                )
        elif name == "begins_with":
            for argument in args:
                if isinstance(argument, _Const) and _tag(argument.value) not in ("S", "B"):
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
            return self.set_value(action.value, inside=None)
        assert isinstance(action.value, _ValueRef)
        value = self.const(action.value)
        tag = _tag(value.value)
        if tag not in _SET_TYPES and (action.verb == "DELETE" or tag != "N"):
            raise self.error(
                "Incorrect operand type for operator or function; "
                f"operator: {action.verb}, operand type: {_TYPE_NAMES[tag]}"
            )
        return value

    def set_value(self, node: _Operand, inside: str | None) -> _Operand:
        if isinstance(node, _PathOp):
            return _PathOp(self.path(node.path))
        if isinstance(node, _ValueRef):
            return self.const(node)
        if isinstance(node, _Arith):
            left, right = self.set_value(node.left, inside), self.set_value(node.right, inside)
            for side in (left, right):
                if isinstance(side, _Const) and _tag(side.value) != "N":
                    self.wrong_type(node.op, side)
            return _Arith(node.op, left, right)
        assert isinstance(node, _Call)
        return self.update_function(node, inside)

    def update_function(self, node: _Call, inside: str | None) -> _Operand:
        name = node.function
        if name == "if_not_exists":
            self.arity(name, node.args, 2)
            path, fallback = node.args
            if not isinstance(path, _PathOp):
                raise self.error("Operator or function requires a document path; operator or function: if_not_exists")
            return _Call(name, (_PathOp(self.path(path.path)), self.set_value(fallback, inside)))
        if name == "list_append":
            self.arity(name, node.args, 2)
            if inside == "list_append":
                raise self.not_allowed(name)
            args = tuple(self.set_value(argument, "list_append") for argument in node.args)
            for argument in args:
                if isinstance(argument, _Const) and _tag(argument.value) != "L":
                    self.wrong_type(name, argument)
            return _Call(name, args)
        if name in _CONDITION_FUNCTIONS or name == "size":
            raise self.error(f"The function is not allowed in an update expression; function: {name}")
        raise self.error(f"Invalid function name; function: {name}")


def _operand_paths(node: _Operand) -> Iterator[Path]:
    if isinstance(node, _PathOp):
        yield node.path
    elif isinstance(node, _Call):
        for argument in node.args:
            yield from _operand_paths(argument)
    elif isinstance(node, _Arith):
        yield from _operand_paths(node.left)
        yield from _operand_paths(node.right)


def _condition_paths(node: _Condition) -> Iterator[Path]:
    if isinstance(node, _And | _Or):
        yield from _condition_paths(node.left)
        yield from _condition_paths(node.right)
    elif isinstance(node, _Not):
        yield from _condition_paths(node.operand)
    elif isinstance(node, _Compare):
        yield from _operand_paths(node.left)
        yield from _operand_paths(node.right)
    elif isinstance(node, _Between):
        for operand in (node.subject, node.low, node.high):
            yield from _operand_paths(operand)
    elif isinstance(node, _In):
        for operand in (node.subject, *node.options):
            yield from _operand_paths(operand)
    else:
        for operand in node.args:
            yield from _operand_paths(operand)


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
        self.projection: tuple[Path, ...] | None = None
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
                self.projection = tuple(binder.path(path) for path in parsed.tree)
                _check_disjoint(self.projection, name)
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
    """``size()``: characters of a string, bytes of a binary, members of a set, list or map."""
    if value is None:
        return None
    tag = _tag(value)
    if tag in ("S", "B", "L", "M") or tag in _SET_TYPES:
        return len(value[tag])
    return None


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
    if isinstance(node, _Not):
        return not _evaluate(node.operand, item)
    if isinstance(node, _Compare):
        return _compare(node.op, _operand_value(node.left, item), _operand_value(node.right, item))
    if isinstance(node, _Between):
        subject = _operand_value(node.subject, item)
        low = _ordered_pair(_operand_value(node.low, item), subject)
        high = _ordered_pair(subject, _operand_value(node.high, item))
        return low is not None and high is not None and low[0] <= low[1] and high[0] <= high[1]
    if isinstance(node, _In):
        subject = _operand_value(node.subject, item)
        if subject is None:
            return False
        return any(_compare("=", subject, _operand_value(option, item)) for option in node.options)
    return _function(node, item)


def _function(node: _Function, item: Mapping[str, AttributeValue]) -> bool:
    values = [_operand_value(argument, item) for argument in node.args]
    name = node.function
    if name == "attribute_exists":
        return values[0] is not None
    if name == "attribute_not_exists":
        return values[0] is None
    first, second = values
    if first is None or second is None:
        return False
    tag, other = _tag(first), _tag(second)
    if name == "attribute_type":
        return bool(tag == second["S"])
    if name == "begins_with":
        return tag == other and tag in ("S", "B") and bool(first[tag].startswith(second[tag]))
    # contains: a substring of a string or binary, a member of a set, an element of a list
    if tag in ("S", "B"):
        return tag == other and bool(second[tag] in first[tag])
    if tag in _SET_TYPES:
        return other == tag[0] and second[other] in first[tag]
    if tag == "L":
        return any(_equal(element, second) for element in first["L"])
    return False


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
    assert isinstance(node, _Call)
    if node.function == "if_not_exists":
        path, fallback = node.args
        assert isinstance(path, _PathOp)
        existing = _get(old, path.path)
        return existing if existing is not None else _update_value(fallback, old)
    first, second = (_update_value(argument, old) for argument in node.args)
    if _tag(first) != "L" or _tag(second) != "L":
        raise _invalid(_WRONG_OPERAND)
    return {"L": first["L"] + second["L"]}


def _container(item: Item, path: Path) -> dict[str, AttributeValue] | list[AttributeValue]:
    """The map (for a name) or the list (for an index) that holds the last step of ``path``."""
    if len(path) == 1:
        return item
    parent = _get(item, path[:-1])
    if parent is not None:
        if isinstance(path[-1], str) and "M" in parent:
            members: dict[str, AttributeValue] = parent["M"]
            return members
        if isinstance(path[-1], int) and "L" in parent:
            elements: list[AttributeValue] = parent["L"]
            return elements
    raise _invalid(_INVALID_PATH)


def _child(container: dict[str, AttributeValue] | list[AttributeValue], step: Element) -> AttributeValue | None:
    if isinstance(container, dict):
        return container.get(str(step))
    index = int(step)
    return container[index] if index < len(container) else None


def _put_child(
    container: dict[str, AttributeValue] | list[AttributeValue], step: Element, value: AttributeValue
) -> None:
    if isinstance(container, dict):
        container[str(step)] = value
    elif int(step) < len(container):
        container[int(step)] = value
    else:  # SET beyond the end of a list appends
        container.append(value)


def _add(item: Item, path: Path, delta: AttributeValue) -> None:
    """ADD: a number to a number (a missing one counts as 0), or a set's members to a set."""
    container = _container(item, path)
    existing = _child(container, path[-1])
    tag = _tag(delta)
    if existing is None:
        _put_child(container, path[-1], _copy(delta))
    elif _tag(existing) != tag:
        raise _invalid(_WRONG_OPERAND)
    elif tag == "N":
        total = _EXACT.add(_number(existing["N"]), _number(delta["N"]))
        _put_child(container, path[-1], {"N": _number_text(_checked_number(total, computed=True))})
    else:
        present = set(existing[tag])
        _put_child(
            container, path[-1], {tag: existing[tag] + [member for member in delta[tag] if member not in present]}
        )


def _delete(item: Item, path: Path, members: AttributeValue) -> bool:
    """DELETE: a set's members from a set; True when that leaves it empty (and so removed)."""
    container = _container(item, path)
    existing = _child(container, path[-1])
    tag = _tag(members)
    if existing is None:
        return False
    if _tag(existing) != tag:
        raise _invalid(_WRONG_OPERAND)
    removed = set(members[tag])
    remaining = [member for member in existing[tag] if member not in removed]
    if not remaining:
        return True
    _put_child(container, path[-1], {tag: remaining})
    return False


def _remove(item: Item, path: Path) -> None:
    container = _container(item, path)
    if isinstance(container, dict):
        container.pop(str(path[-1]), None)
    elif int(path[-1]) < len(container):
        del container[int(path[-1])]


def _apply_update(old: Item | None, key: Item, actions: tuple[_Action, ...] | None) -> Item | None:
    """The item after an UpdateItem; None when it did not exist and the update only removes (then
    DynamoDB creates nothing and checks no path).

    Values are read from the item as it was; list indexes refer to the list as it was (writes go
    first in path order, so that SETs beyond the end append in index order, then removals from the
    last index back)."""
    if actions is None:
        return _copy_item(old) if old is not None else _copy_item(key)
    if old is None and all(action.verb in ("REMOVE", "DELETE") for action in actions):
        return None
    before: Mapping[str, AttributeValue] = old or {}
    values = {
        id(action): _update_value(action.value, before) for action in actions if action.verb == "SET" and action.value
    }
    item = _copy_item(old) if old is not None else _copy_item(key)
    removals = [action.path for action in actions if action.verb == "REMOVE"]
    for action in sorted((action for action in actions if action.verb != "REMOVE"), key=lambda a: _path_order(a.path)):
        if action.verb == "SET":
            _put_child(_container(item, action.path), action.path[-1], _copy(values[id(action)]))
        elif action.verb == "ADD":
            assert isinstance(action.value, _Const)
            _add(item, action.path, action.value.value)
        else:
            assert isinstance(action.value, _Const)
            if _delete(item, action.path, action.value.value):
                removals.append(action.path)
    for path in sorted(removals, key=_path_order, reverse=True):
        _remove(item, path)
    return item


# ---- tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _KeyAttribute:
    name: str
    type: str  # S, N or B


@dataclass(frozen=True)
class _Schema:
    hash: _KeyAttribute
    range: _KeyAttribute | None
    attributes: tuple[_KeyAttribute, ...] = field(init=False)
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        attributes = (self.hash,) if self.range is None else (self.hash, self.range)
        object.__setattr__(self, "attributes", attributes)
        object.__setattr__(self, "names", tuple(attribute.name for attribute in attributes))

    def key_schema(self) -> list[dict[str, str]]:
        kinds = ("HASH", "RANGE")
        return [
            {"AttributeName": attr.name, "KeyType": kind} for attr, kind in zip(self.attributes, kinds, strict=False)
        ]

    def values(self, item: Mapping[str, AttributeValue]) -> Key | None:
        """The item's key values in sort order, None when it lacks one (or has one of another type)."""
        values = []
        for attribute in self.attributes:
            value = item.get(attribute.name)
            if value is None or attribute.type not in value:
                return None
            values.append(_sort_value(value))
        return tuple(values)


def _schema(elements: Any, types: Mapping[str, str], what: str) -> _Schema:
    if not isinstance(elements, list | tuple) or not 1 <= len(elements) <= 2:
        raise _invalid(f"1 validation error detected: {what} must have 1 or 2 elements")
    kinds = [element.get("KeyType") for element in elements]
    if kinds[0] != "HASH" or (len(kinds) == 2 and kinds[1] != "RANGE"):
        raise _invalid(f"Invalid {what}: The first KeySchemaElement is not a HASH key type")
    attributes = []
    for element in elements:
        name = element.get("AttributeName")
        if name not in types:
            raise _invalid(
                "One or more parameter values were invalid: Some index key attributes are not defined in "
                f"AttributeDefinitions. Keys: [{name}], AttributeDefinitions: [{', '.join(types)}]"
            )
        attributes.append(_KeyAttribute(name, types[name]))
    return _Schema(attributes[0], attributes[1] if len(attributes) == 2 else None)


class _Index:
    """A global secondary index: entries (index key, table key) in sort order; sparse, as DynamoDB's:
    an item is in it only while it has the index's key attributes."""

    def __init__(self, definition: Mapping[str, Any], types: Mapping[str, str], table_schema: _Schema) -> None:
        self.name: str = definition["IndexName"]
        self.schema = _schema(definition["KeySchema"], types, "KeySchema")
        self.projection: dict[str, Any] = dict(definition.get("Projection") or {"ProjectionType": "ALL"})
        self.projection_type: str = self.projection.get("ProjectionType", "ALL")
        if self.projection_type not in ("ALL", "KEYS_ONLY", "INCLUDE"):
            raise _invalid(f"Unknown ProjectionType: {self.projection_type}")
        kept = {*self.schema.names, *table_schema.names, *self.projection.get("NonKeyAttributes", ())}
        self.kept: frozenset[str] | None = None if self.projection_type == "ALL" else frozenset(kept)
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

    def view(self, item: Item) -> Item:
        """The item as the index holds it (its projection)."""
        return item if self.kept is None else {name: value for name, value in item.items() if name in self.kept}

    def describe(self, table: _Table) -> dict[str, Any]:
        sizes = [table.sizes[entry[len(self.schema.attributes) :]] for entry in self.entries]
        return {
            "IndexName": self.name,
            "KeySchema": self.schema.key_schema(),
            "Projection": self.projection,
            "IndexStatus": "ACTIVE",
            "ItemCount": len(self.entries),
            "IndexSizeBytes": sum(sizes),
            "IndexArn": f"{table.arn}/index/{self.name}",
        }


def _first(entry: Key) -> Any:
    return entry[0]


class _Table:
    """A table made from a CreateTable request: items by key (with their sizes), the keys in sort
    order, and the global secondary indexes kept in step with every write."""

    def __init__(self, request: Mapping[str, Any]) -> None:
        self.name: str = request["TableName"]
        definitions = request.get("AttributeDefinitions") or []
        self.types: dict[str, str] = {}
        for definition in definitions:
            if definition.get("AttributeType") not in _SCALAR_KEY_TYPES:
                raise _invalid(
                    f"1 validation error detected: Value '{definition.get('AttributeType')}' at "
                    "'attributeDefinitions.member.attributeType' failed to satisfy constraint: "
                    "Member must satisfy enum value set: [B, N, S]"
                )
            self.types[definition["AttributeName"]] = definition["AttributeType"]
        self.schema = _schema(request.get("KeySchema"), self.types, "KeySchema")
        if request.get("LocalSecondaryIndexes"):
            raise NotImplementedError("FakeDynamoDB does not support local secondary indexes")
        self.indexes: dict[str, _Index] = {}
        for definition in request.get("GlobalSecondaryIndexes") or []:
            index = _Index(definition, self.types, self.schema)
            if index.name in self.indexes:
                raise _invalid(f"One or more parameter values were invalid: Duplicate index name: {index.name}")
            self.indexes[index.name] = index
        self.index_key_names = frozenset(name for index in self.indexes.values() for name in index.schema.names)
        used = {*self.schema.names, *self.index_key_names}
        if set(self.types) - used:
            raise _invalid(
                "One or more parameter values were invalid: Some AttributeDefinitions are not used. "
                f"AttributeDefinitions: [{', '.join(self.types)}], keys used: [{', '.join(sorted(used))}]"
            )
        self.billing_mode: str = request.get("BillingMode") or "PROVISIONED"
        throughput = request.get("ProvisionedThroughput")
        if self.billing_mode == "PAY_PER_REQUEST" and throughput:
            raise _invalid(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits "
                "can be specified when BillingMode is PAY_PER_REQUEST"
            )
        if self.billing_mode == "PROVISIONED" and not throughput:
            raise _invalid(
                "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both "
                "be specified when BillingMode is PROVISIONED"
            )
        self.throughput = dict(throughput or {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0})
        self.arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{self.name}"
        self.created = datetime.now(UTC)
        self.ttl: dict[str, Any] = {"TimeToLiveStatus": "DISABLED"}
        self.items: dict[Key, Item] = {}
        self.sizes: dict[Key, int] = {}
        self.order: list[Key] = []

    # -- keys and items --

    def key(self, raw: Any) -> tuple[Item, Key]:
        """A Key parameter, checked against the schema."""
        if not isinstance(raw, Mapping) or set(raw) != set(self.schema.names):
            raise _invalid(_KEY_MISMATCH)
        item = {name: _load(raw[name]) for name in self.schema.names}
        for position, attribute in enumerate(self.schema.attributes):
            if _tag(item[attribute.name]) != attribute.type:
                raise _invalid(_KEY_MISMATCH)
            self._check_key_value(attribute, item[attribute.name], hashed=position == 0)
        values = self.schema.values(item)
        assert values is not None
        return item, values

    def new_item(self, raw: Any) -> tuple[Item, Key, int]:
        """A PutItem's item, checked: its key, its index keys, its size."""
        item = _load_item(raw)
        for position, attribute in enumerate(self.schema.attributes):
            value = item.get(attribute.name)
            if value is None:
                raise _invalid(
                    f"One or more parameter values were invalid: Missing the key {attribute.name} in the item"
                )
            if _tag(value) != attribute.type:
                raise _invalid(
                    "One or more parameter values were invalid: Type mismatch for key "
                    f"{attribute.name} expected: {attribute.type} actual: {_tag(value)}"
                )
            self._check_key_value(attribute, value, hashed=position == 0)
        self.check_index_keys(item, updated=False)
        size = _item_size(item)
        if size > MAX_ITEM_SIZE:
            raise _invalid("Item size has exceeded the maximum allowed size")
        values = self.schema.values(item)
        assert values is not None
        return item, values, size

    @staticmethod
    def _check_key_value(attribute: _KeyAttribute, value: AttributeValue, *, hashed: bool) -> None:
        raw = value[attribute.type]
        if attribute.type != "N" and not raw:
            kind = "string" if attribute.type == "S" else "binary"
            raise _invalid(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
                f"contain an empty {kind} value. Key: {attribute.name}"
            )
        size = len(raw.encode("utf-8", "surrogatepass")) if attribute.type == "S" else len(raw)
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
        """An index key attribute, when present, must have the declared type and not be empty."""
        for index in self.indexes.values():
            for attribute in index.schema.attributes:
                value = item.get(attribute.name)
                if value is None:
                    continue
                tag = _tag(value)
                if tag != attribute.type:
                    if updated:
                        raise _invalid(
                            "The update expression attempted to update the secondary index key to unsupported type"
                        )
                    raise _invalid(
                        "One or more parameter values were invalid: Type mismatch for Index Key "
                        f"{attribute.name} Expected: {attribute.type} Actual: {tag} IndexName: {index.name}"
                    )
                if tag != "N" and not value[tag]:
                    kind = "string" if tag == "S" else "binary"
                    raise _invalid(
                        "One or more parameter values are not valid. A value specified for a secondary index key is "
                        "not supported. The AttributeValue for a key attribute cannot contain an empty "
                        f"{kind} value. IndexName: {index.name}, IndexKey: {attribute.name}"
                    )

    def check_update(self, actions: tuple[_Action, ...] | None) -> None:
        """What an UpdateExpression may not touch: the table's key, the inside of an index key."""
        index_keys = self.index_key_names
        for action in actions or ():
            if action.path[0] in self.schema.names:
                raise _invalid(
                    f"One or more parameter values were invalid: Cannot update attribute {action.path[0]}. "
                    "This attribute is part of the key"
                )
            paths = [action.path, *(() if action.value is None else _operand_paths(action.value))]
            for path in paths:
                if path[0] in index_keys and len(path) > 1:
                    raise _invalid(
                        "Key attributes must be scalars; list random access '[]' and map lookup '.' are not "
                        f"allowed: IndexKey: {path[0]}"
                    )

    def updated(self, key: Item, old: Item | None, actions: tuple[_Action, ...] | None) -> tuple[Item | None, int]:
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

    def target(self, index_name: Any) -> tuple[_Schema, list[Key], _Index | None]:
        """The schema and the ordered entries a Query or Scan reads: the table's or an index's."""
        if index_name is None:
            return self.schema, self.order, None
        index = self.indexes.get(index_name)
        if index is None:
            raise _invalid(f"The table does not have the specified index: {index_name}")
        return index.schema, index.entries, index

    def table_key(self, entry: Key, index: _Index | None) -> Key:
        return entry if index is None else entry[len(index.schema.attributes) :]

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
            if values is None or any(_tag(loaded[a.name]) != a.type for a in schema.attributes):
                raise _invalid(_BAD_START_KEY)
            entry += values
        return entry

    def last_key(self, item: Item, index: _Index | None) -> Item:
        names = self.schema.names if index is None else (*index.schema.names, *self.schema.names)
        return {name: _copy(item[name]) for name in dict.fromkeys(names)}

    def describe(self) -> dict[str, Any]:
        description: dict[str, Any] = {
            "AttributeDefinitions": [
                {"AttributeName": name, "AttributeType": kind} for name, kind in self.types.items()
            ],
            "TableName": self.name,
            "KeySchema": self.schema.key_schema(),
            "TableStatus": "ACTIVE",
            "CreationDateTime": self.created,
            "ProvisionedThroughput": {**self.throughput, "NumberOfDecreasesToday": 0},
            "TableSizeBytes": sum(self.sizes.values()),
            "ItemCount": len(self.items),
            "TableArn": self.arn,
            "TableId": f"{zlib.crc32(self.arn.encode()):08x}-0000-4000-8000-000000000000",
            "BillingModeSummary": {"BillingMode": self.billing_mode},
        }
        if self.indexes:
            description["GlobalSecondaryIndexes"] = [index.describe(self) for index in self.indexes.values()]
        return description


# ---- reading pages --------------------------------------------------------------------------------


@dataclass
class _Reader:
    """One page of a Query or Scan: Limit counts the items read (before the filter), and a page ends
    after 1 MB; when it ends early, LastEvaluatedKey names the last item read, even if none follow."""

    table: _Table
    index: _Index | None
    filter: _Condition | None
    projection: _Tree | None
    count_only: bool
    limit: int | None

    def page(self, entries: Iterator[Key]) -> dict[str, Any]:
        items: list[Item] = []
        count = scanned = size = 0
        for entry in entries:
            key = self.table.table_key(entry, self.index)
            item = self.table.items[key]
            scanned += 1
            size += self.table.sizes[key]
            if self.filter is None or _evaluate(self.filter, item):
                count += 1
                if not self.count_only:
                    items.append(self.view(item))
            if (self.limit is not None and scanned >= self.limit) or size >= MAX_PAGE_SIZE:
                answer = self.answer(items, count, scanned)
                answer["LastEvaluatedKey"] = self.table.last_key(item, self.index)
                return answer
        return self.answer(items, count, scanned)

    def view(self, item: Item) -> Item:
        """What a page shows of an item: what the index holds of it, projected."""
        held = item if self.index is None else self.index.view(item)
        return _copy_item(held) if self.projection is None else _project(held, self.projection)

    def answer(self, items: list[Item], count: int, scanned: int) -> dict[str, Any]:
        answer: dict[str, Any] = {"Count": count, "ScannedCount": scanned}
        if not self.count_only:
            answer = {"Items": items, **answer}
        return answer


def _selection(request: Mapping[str, Any], index: _Index | None, projection: tuple[Path, ...] | None) -> bool:
    """Checks Select against ProjectionExpression and the index; True when only counting."""
    select = request.get("Select")
    if select is None:
        return False
    if select == "COUNT" and projection is not None:
        raise _invalid("Cannot specify the ProjectionExpression when choosing to get only the COUNT")
    if select == "ALL_ATTRIBUTES" and projection is not None:
        raise _invalid("Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES")
    if select == "SPECIFIC_ATTRIBUTES" and projection is None:
        raise _invalid("Select type SPECIFIC_ATTRIBUTES requires a ProjectionExpression")
    if select == "ALL_PROJECTED_ATTRIBUTES" and index is None:
        raise _invalid("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    if select == "ALL_ATTRIBUTES" and index is not None and index.kept is not None:
        raise _invalid(
            f"One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global "
            f"secondary index {index.name} because its projection type is not ALL"
        )
    if select not in ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT"):
        raise _invalid(
            f"1 validation error detected: Value '{select}' at 'select' failed to satisfy constraint: Member must "
            "satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
        )
    return bool(select == "COUNT")


def _segments(request: Mapping[str, Any]) -> tuple[int, int]:
    """A parallel Scan's (Segment, TotalSegments); (0, 1) for a whole scan. Segments split the
    table by partition key."""
    segment, total = request.get("Segment"), request.get("TotalSegments")
    if segment is None and total is None:
        return 0, 1
    if segment is None or total is None:
        missing = "Segment" if segment is None else "TotalSegments"
        raise _invalid(f"The {missing} parameter is required but was not present in the request")
    if not 0 <= int(segment) < int(total):
        raise _invalid(
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            f"Segment: {segment} is not less than TotalSegments: {total}"
        )
    return int(segment), int(total)


@dataclass(frozen=True)
class _KeyMatch:
    """A KeyConditionExpression: the partition, and a test of the sort key (if there is one)."""

    partition: Any
    sort_test: Callable[[Any], bool] | None


def _key_part(node: _Condition) -> tuple[str, str, list[AttributeValue]]:
    """(attribute, operator, constants) of one part of a KeyConditionExpression."""
    kind = "KeyConditionExpression"
    if isinstance(node, _Compare) and node.op != "<>":
        path, value, op = node.left, node.right, node.op
        if isinstance(path, _Const) and isinstance(value, _PathOp):
            path, value = value, path
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if isinstance(path, _PathOp) and isinstance(value, _Const) and len(path.path) == 1:
            return str(path.path[0]), op, [value.value]
    elif isinstance(node, _Between):
        subject, low, high = node.subject, node.low, node.high
        if (
            isinstance(subject, _PathOp)
            and len(subject.path) == 1
            and isinstance(low, _Const)
            and isinstance(high, _Const)
        ):
            return str(subject.path[0]), "BETWEEN", [low.value, high.value]
    elif isinstance(node, _Function) and node.function == "begins_with":
        subject, prefix = node.args
        if isinstance(subject, _PathOp) and isinstance(prefix, _Const) and len(subject.path) == 1:
            return str(subject.path[0]), "begins_with", [prefix.value]
    names = {_Or: "OR", _Not: "NOT", _In: "IN"}
    if type(node) in names:
        raise _invalid(f"Invalid operator used in {kind}: {names[type(node)]}")
    if isinstance(node, _Compare):
        raise _invalid(f"Invalid operator used in {kind}: {node.op}")
    if isinstance(node, _Function):
        raise _invalid(f"Invalid operator used in {kind}: {node.function}")
    raise _invalid("Query key condition not supported")


def _sort_test(op: str, bounds: Sequence[Any]) -> Callable[[Any], bool]:
    """A sort key condition as a test of the sort key's value."""
    if op == "begins_with":
        prefix = bounds[0]
        return lambda value: bool(value.startswith(prefix))
    if op == "BETWEEN":
        low, high = bounds
        return lambda value: bool(low <= value <= high)
    compare = operator.eq if op == "=" else _ORDERING[op]
    bound = bounds[0]
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
    partition: Any = None
    sort_test: Callable[[Any], bool] | None = None
    seen: set[str] = set()
    for part in parts:
        name, op, constants = _key_part(part)
        if name not in schema.names:
            raise _invalid("Query key condition not supported")
        if name in seen:
            raise _invalid("KeyConditionExpressions must only contain one condition per key")
        seen.add(name)
        attribute = schema.hash if name == schema.hash.name else schema.range
        assert attribute is not None
        if any(_tag(constant) != attribute.type for constant in constants):
            raise _invalid(
                "One or more parameter values were invalid: Condition parameter type does not match schema type"
            )
        bounds = [_sort_value(constant) for constant in constants]
        if attribute is schema.hash:
            if op != "=":
                raise _invalid("Query key condition not supported")
            partition = bounds[0]
        elif op == "begins_with" and attribute.type == "N":
            raise _invalid(
                "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
                "operator or function: begins_with, operand type: N"
            )
        else:
            sort_test = _sort_test(op, bounds)
    if schema.hash.name not in seen:
        raise _invalid(f"Query condition missed key schema element: {schema.hash.name}")
    return _KeyMatch(partition, sort_test)


# ---- transactions ---------------------------------------------------------------------------------


@dataclass
class _Part:
    """One item of a TransactWriteItems."""

    verb: str  # Put, Update, Delete or ConditionCheck
    request: Mapping[str, Any]
    table: _Table
    expressions: _Expressions
    return_old: bool
    key_item: Item = field(default_factory=dict)
    key: Key = ()
    new: Item | None = None
    size: int = 0


def _transact_items(request: Mapping[str, Any]) -> Sequence[Any]:
    entries: Sequence[Any] = request["TransactItems"]
    if not 1 <= len(entries) <= MAX_TRANSACT_ITEMS:
        raise _invalid(
            "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_TRANSACT_ITEMS}"
        )
    return entries


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


def _condition_failed(old: Item | None, return_old: bool) -> DynamoDBError:
    fields = {"Item": _copy_item(old)} if return_old and old is not None else {}
    return DynamoDBError("ConditionalCheckFailedException", _CONDITION_FAILED, **fields)


def _fingerprint(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=lambda raw: raw.hex() if isinstance(raw, bytes) else repr(raw))


# ---- the client -----------------------------------------------------------------------------------


class _Waiter:
    """Tables are ACTIVE (or gone) as soon as the call returns: nothing to wait for."""

    def wait(self, **_: Any) -> None:
        return None


class FakeDynamoDB:
    """The low-level DynamoDB client, in memory. ``validate_params=False`` skips botocore's full
    parameter validation (types, lengths), keeping only unknown and missing parameters, for speed."""

    def __init__(self, *, validate_params: bool = True) -> None:
        self.calls: Counter[str] = Counter()
        self._validate_params = validate_params
        self._lock = threading.RLock()
        self._tables: dict[str, _Table] = {}
        self._injected: dict[str, deque[DynamoDBError]] = {}
        self._tokens: dict[str, tuple[str, float]] = {}

    # -- for tests --

    @property
    def exceptions(self) -> Any:
        """``client.exceptions``: botocore's exception classes for DynamoDB."""
        return _botocore().exceptions

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def inject_error(
        self, operation: str, code: str, message: str | None = None, *, times: int = 1, **fields: Any
    ) -> None:
        """The next ``times`` calls of ``operation`` (e.g. ``"transact_write_items"``) fail with ``code``
        (e.g. ``ThrottlingException``, ``TransactionConflictException``) and change nothing."""
        error = DynamoDBError(code, message or f"{code} injected by FakeDynamoDB", **fields)
        with self._lock:
            self._injected.setdefault(xform_name(operation), deque()).extend([error] * times)

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

    def expire_ttl(self, now: float | None = None) -> int:
        """Delete the items whose time-to-live attribute is before ``now`` (epoch seconds), as
        DynamoDB eventually does; answers how many."""
        moment = Decimal(str(time.time() if now is None else now))
        deleted = 0
        with self._lock:
            for table in self._tables.values():
                name = table.ttl.get("AttributeName")
                if table.ttl.get("TimeToLiveStatus") != "ENABLED" or not name:
                    continue
                for key in list(table.order):
                    value = table.items[key].get(name)
                    if value is not None and "N" in value and _number(value["N"]) < moment:
                        table.write(key, None)
                        deleted += 1
        return deleted

    def get_waiter(self, waiter_name: str) -> _Waiter:
        return _Waiter()

    # -- plumbing --

    def _call(
        self, operation: str, params: Mapping[str, Any], handler: Callable[[Mapping[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        _check_params(operation, params, full=self._validate_params)
        name = xform_name(operation)
        with self._lock:
            self.calls[name] += 1
            try:
                injected = self._injected.get(name)
                if injected:
                    raise injected.popleft()
                answer = handler(params)
            except DynamoDBError as error:
                raise _client_error(error, operation) from None
        answer["ResponseMetadata"] = _metadata(200)
        return answer

    def _table(self, name: Any) -> _Table:
        table = self._tables.get(name)
        if table is None:
            raise _not_found()
        return table

    # -- tables --

    def create_table(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateTable", params, self._create_table)

    def _create_table(self, request: Mapping[str, Any]) -> dict[str, Any]:
        if request["TableName"] in self._tables:
            raise DynamoDBError("ResourceInUseException", f"Table already exists: {request['TableName']}")
        table = _Table(request)
        self._tables[table.name] = table
        return {"TableDescription": table.describe()}

    def delete_table(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteTable", params, self._delete_table)

    def _delete_table(self, request: Mapping[str, Any]) -> dict[str, Any]:
        table = self._tables.get(request["TableName"])
        if table is None:
            raise _not_found(f"Requested resource not found: Table: {request['TableName']} not found")
        del self._tables[table.name]
        return {"TableDescription": {**table.describe(), "TableStatus": "DELETING"}}

    def describe_table(self, **params: Any) -> dict[str, Any]:
        return self._call("DescribeTable", params, self._describe_table)

    def _describe_table(self, request: Mapping[str, Any]) -> dict[str, Any]:
        table = self._tables.get(request["TableName"])
        if table is None:
            raise _not_found(f"Requested resource not found: Table: {request['TableName']} not found")
        return {"Table": table.describe()}

    def list_tables(self, **params: Any) -> dict[str, Any]:
        return self._call("ListTables", params, lambda _: {"TableNames": sorted(self._tables)})

    def update_time_to_live(self, **params: Any) -> dict[str, Any]:
        return self._call("UpdateTimeToLive", params, self._update_time_to_live)

    def _update_time_to_live(self, request: Mapping[str, Any]) -> dict[str, Any]:
        table = self._table(request["TableName"])
        specification = dict(request["TimeToLiveSpecification"])
        enabled = bool(specification.get("Enabled"))
        if enabled == (table.ttl["TimeToLiveStatus"] == "ENABLED"):
            raise _invalid(f"TimeToLive is already {'enabled' if enabled else 'disabled'}")
        table.ttl = {"TimeToLiveStatus": "ENABLED" if enabled else "DISABLED"}
        if enabled:
            table.ttl["AttributeName"] = specification.get("AttributeName")
        return {"TimeToLiveSpecification": specification}

    def describe_time_to_live(self, **params: Any) -> dict[str, Any]:
        return self._call(
            "DescribeTimeToLive",
            params,
            lambda request: {"TimeToLiveDescription": dict(self._table(request["TableName"]).ttl)},
        )

    # -- single items --

    def get_item(self, **params: Any) -> dict[str, Any]:
        return self._call("GetItem", params, self._get_item)

    def _get_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        _reject_legacy(request, "AttributesToGet")
        expressions = _Expressions(request, "ProjectionExpression")
        table = self._table(request["TableName"])
        _, key = table.key(request["Key"])
        item = table.items.get(key)
        if item is None:
            return {}
        if expressions.projection is not None:
            return {"Item": _project(item, _tree(expressions.projection))}
        return {"Item": _copy_item(item)}

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self._call("PutItem", params, self._put_item)

    def _put_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        _reject_legacy(request, "Expected", "ConditionalOperator")
        expressions = _Expressions(request, "ConditionExpression")
        table = self._table(request["TableName"])
        returns = request.get("ReturnValues", "NONE")
        if returns not in ("NONE", "ALL_OLD"):
            raise _invalid("Return values set to invalid value")
        return_old = _return_old(request, "")
        item, key, size = table.new_item(request["Item"])
        old = table.items.get(key)
        if expressions.condition is not None and not _evaluate(expressions.condition, old or {}):
            raise _condition_failed(old, return_old)
        table.write(key, item, size)
        return {"Attributes": _copy_item(old)} if returns == "ALL_OLD" and old is not None else {}

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self._call("UpdateItem", params, self._update_item)

    def _update_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        _reject_legacy(request, "AttributeUpdates", "Expected", "ConditionalOperator")
        expressions = _Expressions(request, "UpdateExpression", "ConditionExpression")
        table = self._table(request["TableName"])
        returns = request.get("ReturnValues", "NONE")
        if returns not in ("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"):
            raise _invalid("Return values set to invalid value")
        return_old = _return_old(request, "")
        table.check_update(expressions.update)
        key_item, key = table.key(request["Key"])
        old = table.items.get(key)
        if expressions.condition is not None and not _evaluate(expressions.condition, old or {}):
            raise _condition_failed(old, return_old)
        new, size = table.updated(key_item, old, expressions.update)
        if new is not None:
            table.write(key, new, size)
        chosen = {"ALL_OLD": old, "ALL_NEW": new, "UPDATED_OLD": old, "UPDATED_NEW": new}.get(returns)
        if chosen is None:
            return {}
        if returns.startswith("UPDATED"):
            paths = [action.path for action in expressions.update or ()]
            attributes = _project(chosen, _tree(paths)) if paths else {}
        else:
            attributes = _copy_item(chosen)
        return {"Attributes": attributes} if attributes else {}

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteItem", params, self._delete_item)

    def _delete_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        _reject_legacy(request, "Expected", "ConditionalOperator")
        expressions = _Expressions(request, "ConditionExpression")
        table = self._table(request["TableName"])
        returns = request.get("ReturnValues", "NONE")
        if returns not in ("NONE", "ALL_OLD"):
            raise _invalid("Return values set to invalid value")
        return_old = _return_old(request, "")
        _, key = table.key(request["Key"])
        old = table.items.get(key)
        if expressions.condition is not None and not _evaluate(expressions.condition, old or {}):
            raise _condition_failed(old, return_old)
        table.write(key, None)
        return {"Attributes": _copy_item(old)} if returns == "ALL_OLD" and old is not None else {}

    # -- queries and scans --

    def query(self, **params: Any) -> dict[str, Any]:
        return self._call("Query", params, self._query)

    def _query(self, request: Mapping[str, Any]) -> dict[str, Any]:
        _reject_legacy(request, "KeyConditions", "QueryFilter", "AttributesToGet", "ConditionalOperator")
        expressions = _Expressions(request, "KeyConditionExpression", "FilterExpression", "ProjectionExpression")
        if expressions.key_condition is None:
            raise _invalid(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
            )
        table = self._table(request["TableName"])
        schema, entries, index = table.target(request.get("IndexName"))
        if index is not None and request.get("ConsistentRead"):
            raise _invalid("Consistent reads are not supported on global secondary indexes")
        match = _key_match(expressions.key_condition, schema)
        if expressions.filter is not None:
            for path in _condition_paths(expressions.filter):
                if path[0] in schema.names:
                    raise _invalid(
                        "Filter Expression can only contain non-primary key attributes: "
                        f"Primary key attribute: {path[0]}"
                    )
        count_only = _selection(request, index, expressions.projection)
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
        reader = _Reader(
            table,
            index,
            expressions.filter,
            None if expressions.projection is None else _tree(expressions.projection),
            count_only,
            request.get("Limit"),
        )
        return reader.page(selected)

    def scan(self, **params: Any) -> dict[str, Any]:
        return self._call("Scan", params, self._scan)

    def _scan(self, request: Mapping[str, Any]) -> dict[str, Any]:
        _reject_legacy(request, "ScanFilter", "AttributesToGet", "ConditionalOperator")
        expressions = _Expressions(request, "FilterExpression", "ProjectionExpression")
        table = self._table(request["TableName"])
        _, entries, index = table.target(request.get("IndexName"))
        if index is not None and request.get("ConsistentRead"):
            raise _invalid("Consistent reads are not supported on global secondary indexes")
        count_only = _selection(request, index, expressions.projection)
        segment, total = _segments(request)
        start = 0
        if request.get("ExclusiveStartKey") is not None:
            start = bisect.bisect_right(entries, table.start_entry(request["ExclusiveStartKey"], index))
        selected = (
            entries[position]
            for position in range(start, len(entries))
            if total == 1 or zlib.crc32(repr(entries[position][0]).encode()) % total == segment
        )
        reader = _Reader(
            table,
            index,
            expressions.filter,
            None if expressions.projection is None else _tree(expressions.projection),
            count_only,
            request.get("Limit"),
        )
        return reader.page(selected)

    # -- batches --

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        return self._call("BatchGetItem", params, self._batch_get_item)

    def _batch_get_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        wanted = request["RequestItems"]
        if sum(len(table_request.get("Keys") or ()) for table_request in wanted.values()) > MAX_BATCH_GET:
            raise _invalid("Too many items requested for the BatchGetItem call")
        reads: list[tuple[str, _Table, list[Key], _Tree | None]] = []
        for name, table_request in wanted.items():
            _reject_legacy(table_request, "AttributesToGet")
            expressions = _Expressions(table_request, "ProjectionExpression")
            table = self._table(name)
            keys = [table.key(raw)[1] for raw in table_request["Keys"]]
            if len(set(keys)) != len(keys):
                raise _invalid("Provided list of item keys contains duplicates")
            tree = None if expressions.projection is None else _tree(expressions.projection)
            reads.append((name, table, keys, tree))
        responses: dict[str, list[Item]] = {}
        for name, table, keys, tree in reads:
            found = [table.items[key] for key in keys if key in table.items]
            responses[name] = [_copy_item(item) if tree is None else _project(item, tree) for item in found]
        return {"Responses": responses, "UnprocessedKeys": {}}

    def batch_write_item(self, **params: Any) -> dict[str, Any]:
        return self._call("BatchWriteItem", params, self._batch_write_item)

    def _batch_write_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        wanted = request["RequestItems"]
        if sum(len(writes) for writes in wanted.values()) > MAX_BATCH_WRITE:
            raise _invalid("Too many items requested for the BatchWriteItem call")
        writes: list[tuple[_Table, Key, Item | None, int]] = []
        for name, table_writes in wanted.items():
            table = self._table(name)
            keys: set[Key] = set()
            for write in table_writes:
                if len(write) != 1 or not set(write) <= {"PutRequest", "DeleteRequest"}:
                    raise _invalid(_MORE_THAN_ONE_TYPE)
                if "PutRequest" in write:
                    new, key, size = table.new_item(write["PutRequest"]["Item"])
                    writes.append((table, key, new, size))
                else:
                    _, key = table.key(write["DeleteRequest"]["Key"])
                    writes.append((table, key, None, 0))
                if key in keys:
                    raise _invalid("Provided list of item keys contains duplicates")
                keys.add(key)
        for table, key, written, size in writes:
            table.write(key, written, size)
        return {"UnprocessedItems": {}}

    # -- transactions --

    def transact_get_items(self, **params: Any) -> dict[str, Any]:
        return self._call("TransactGetItems", params, self._transact_get_items)

    def _transact_get_items(self, request: Mapping[str, Any]) -> dict[str, Any]:
        entries = _transact_items(request)
        reads: list[tuple[_Table, Key, _Tree | None]] = []
        for entry in entries:
            get = entry["Get"]
            expressions = _Expressions(get, "ProjectionExpression")
            table = self._table(get["TableName"])
            _, key = table.key(get["Key"])
            reads.append((table, key, None if expressions.projection is None else _tree(expressions.projection)))
        if len({(id(table), key) for table, key, _ in reads}) != len(reads):
            raise _invalid("Transaction request cannot include multiple operations on one item")
        responses: list[dict[str, Any]] = []
        for table, key, tree in reads:
            item = table.items.get(key)
            if item is None:
                responses.append({})
            else:
                responses.append({"Item": _copy_item(item) if tree is None else _project(item, tree)})
        return {"Responses": responses}

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        return self._call("TransactWriteItems", params, self._transact_write_items)

    def _transact_write_items(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """All or nothing. Malformed requests (syntax, placeholders, two actions on one item) are a
        ValidationException; an item DynamoDB cannot take, a failed condition or an update that does
        not fit the item cancel the transaction, with one reason per item ("None" when fine)."""
        parts = self._transaction_parts(request)
        token = request.get("ClientRequestToken")
        fingerprint = "" if token is None else _fingerprint(request["TransactItems"])
        if token is not None and self._already_done(token, fingerprint):
            return {}
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
            if part.verb == "Delete":
                part.table.write(part.key, None)
            elif part.new is not None:
                part.table.write(part.key, part.new, part.size)
        if token is not None:
            self._tokens[token] = (fingerprint, time.monotonic() + IDEMPOTENCY_SECONDS)
        return {}

    def _already_done(self, token: str, fingerprint: str) -> bool:
        """Whether a transaction with this ClientRequestToken succeeded in the last ten minutes
        (then it succeeds again without writing); the same token with another request is an error."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise _invalid(
                "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_TOKEN_LENGTH}"
            )
        remembered = self._tokens.get(token)
        if remembered is None or remembered[1] <= time.monotonic():
            return False
        if remembered[0] != fingerprint:
            raise DynamoDBError(
                "IdempotentParameterMismatchException",
                "The request uses the same client token as a previous, but non-identical request.",
            )
        return True

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
            try:
                part.new, part.size = part.table.updated(part.key_item, old, part.expressions.update)
            except DynamoDBError as error:
                return {"Code": "ValidationError", "Message": error.message}
        return {"Code": "None"}

    def _transaction_parts(self, request: Mapping[str, Any]) -> list[_Part]:
        entries = _transact_items(request)
        fields = {
            "Put": ("ConditionExpression",),
            "Update": ("UpdateExpression", "ConditionExpression"),
            "Delete": ("ConditionExpression",),
            "ConditionCheck": ("ConditionExpression",),
        }
        parts: list[_Part] = []
        for position, entry in enumerate(entries):
            verbs = [verb for verb in fields if verb in entry]
            if len(verbs) != 1 or len(entry) != 1:
                raise _invalid("TransactItems can only contain one of Check, Put, Update or Delete")
            verb = verbs[0]
            action = entry[verb]
            _reject_legacy(action, "Expected", "AttributeUpdates", "ConditionalOperator")
            expressions = _Expressions(action, *fields[verb])
            if verb == "ConditionCheck" and expressions.condition is None:
                raise _invalid("The ConditionExpression of a ConditionCheck must be specified")
            return_old = _return_old(action, f"transactItems.{position + 1}.member.{verb[0].lower()}{verb[1:]}.")
            table = self._table(action["TableName"])
            if verb == "Update":
                table.check_update(expressions.update)
            parts.append(_Part(verb, action, table, expressions, return_old))
        return parts
