"""Recording the DynamoDB requests the store sends, and reducing them to a corpus of "shapes".

The in-memory fake (tests/fakes/dynamodb.py) implements what the store sends and no more; this module
says what that is. With ``DYNAMODB_RECORD=path``, every request made through the store's client
(``avocette.store.table.dynamodb()``) during a pytest run is appended to ``path`` as a JSON line: the
test it came from, the operation, its parameters as sent, and how DynamoDB (moto, in the tests)
answered ("ok" or the error code). ``python -m tests.fakes.recording corpus RAW OUT`` keeps whole test
sequences until every shape has a few examples; the differential test (tests/unit/test_fake_dynamodb_replay.py)
replays them on moto and on the fake. ``make dynamodb-corpus`` does both steps (tests/fakes/README.md).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

from botocore.exceptions import ClientError

__all__ = [
    "CORPUS_PATH",
    "Recorder",
    "begin",
    "load_corpus",
    "shape_of",
]

CORPUS_PATH: Final = Path(__file__).resolve().parent.parent / "data" / "dynamodb_requests.jsonl"
ENVIRONMENT_VARIABLE: Final = "DYNAMODB_RECORD"


# ---- recording ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Parameters as JSON: bytes (a B value) as {"__bytes__": base64}, the only non-JSON type the
    low-level client is given."""
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(key): _plain(member) for key, member in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(member) for member in value]
    return value


def unplain(value: Any) -> Any:
    """The parameters of a recorded line as the client takes them (the inverse of :func:`_plain`)."""
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {key: unplain(member) for key, member in value.items()}
    if isinstance(value, list):
        return [unplain(member) for member in value]
    return value


def _origin() -> str:
    """The module that made the request: the nearest caller in the layer (``avocette.*``) when there
    is one, else the first caller outside botocore (a test's own read, through the store's client)."""
    frame: FrameType | None = sys._getframe(2)
    first = ""
    helper = ""
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module == "avocette.store.table":  # query_items, transact: for the module that called them
            helper = module
        elif module.startswith("avocette."):
            return module
        if not first and not module.startswith(("botocore", "boto3", __name__)):
            first = module
        frame = frame.f_back
    return helper or first


class Recorder:
    """Appends one JSON line per request to ``path``, tagged with the test running it. Requests from
    the threads a test starts are tagged with that test; a line is written when the request is
    answered (the order in which moto, serialized by tests/conftest.py, applied them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None
        self.test = ""
        self._sequence = 0

    def start(self, test: str) -> None:
        with self._lock:
            self.test = test
            self._sequence = 0

    def write(self, operation: str, params: Mapping[str, Any], outcome: str, origin: str) -> None:
        with self._lock:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self.path.open("a", encoding="utf-8")
            line = {
                "test": self.test,
                "seq": self._sequence,
                "op": operation,
                "params": _plain(params),
                "outcome": outcome,
                "origin": origin,
            }
            self._sequence += 1
            self._handle.write(json.dumps(line, sort_keys=True) + "\n")
            self._handle.flush()

    def wrap(self, client: Any) -> Any:
        """Record every call of ``client`` (a boto3 DynamoDB client): at ``_make_api_call``, botocore's
        one entry point for an operation, so that the tests' own wrappers of the client's methods
        (tests/security/test_faults.py) are seen through and their injected faults never recorded."""

        def recorded(operation_name: str, api_params: dict[str, Any]) -> Any:
            origin = _origin()
            params = json.loads(json.dumps(_plain(api_params)))  # as sent, before anything may change it
            outcome = "ok"
            try:
                # The class's method as it is now: tests/integration/test_call_counts.py patches it.
                return type(client)._make_api_call(client, operation_name, api_params)
            except ClientError as error:
                outcome = str(error.response.get("Error", {}).get("Code", "ClientError"))
                raise
            except Exception as error:
                outcome = type(error).__name__
                raise
            finally:
                self.write(operation_name, params, outcome, origin)

        client._make_api_call = recorded
        return client


class _RecordingBoto3:
    """Stands for the ``boto3`` module in avocette/store/table.py: the clients it makes for DynamoDB
    are recorded; everything else is boto3's own."""

    def __init__(self, boto3: Any, recorder: Recorder) -> None:
        self._boto3 = boto3
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._boto3, name)

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made = self._boto3.client(service_name, *args, **kwargs)
        if service_name == "dynamodb" and hasattr(made, "_make_api_call"):  # not a fake
            self._recorder.wrap(made)
        return made


_INSTALLED: dict[str, Recorder] = {}  # "recorder": the one recorder of the process, once installed


def begin(test: str) -> None:
    """At the start of each test's setup (tests/conftest.py), when DYNAMODB_RECORD names a file: the
    requests that follow, from its fixtures of any scope, its body and the threads they start, are
    tagged with ``test``. The first call installs the recorder in the store's module and forgets any
    client made before, so that none is used unrecorded."""
    target = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not target:
        return
    if "recorder" not in _INSTALLED:
        from avocette.store import table

        recorder = _INSTALLED["recorder"] = Recorder(Path(target))
        # The module's global: dynamodb() looks it up each time it makes the client.
        vars(table)["boto3"] = _RecordingBoto3(vars(table)["boto3"], recorder)
        table.dynamodb.cache_clear()
    _INSTALLED["recorder"].start(test)


# ---- shapes ---------------------------------------------------------------------------------------

# The operations that read and write items: what the corpus keeps and the fake implements. The others
# the store's client sent were a test's own bookkeeping (tests/security/test_faults.py lists and
# describes the tables to empty them), never the store's.
DATA_OPERATIONS: Final = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
     "TransactWriteItems", "TransactGetItems"}
)  # fmt: skip
_EXPRESSIONS: Final = (
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
    "ConditionExpression",
    "UpdateExpression",
)
# Parameters whose value is part of the shape (they choose a behaviour); every other parameter's value
# is abstracted to its presence, or to the types of the attribute values it holds.
_CHOOSING: Final = (
    "TableName",
    "IndexName",
    "ReturnValues",
    "ReturnValuesOnConditionCheckFailure",
    "Select",
    "ConsistentRead",
    "ScanIndexForward",
)


def _types(value: Any, found: set[str]) -> set[str]:
    """Every attribute value type in a wire value, nested ones too (``M``, ``S`` ...)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, raw),) = value.items()
            if tag in ("M", "L", "S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS"):
                found.add(tag)
                members = raw.values() if tag == "M" else raw if tag == "L" else ()
                for member in members:
                    _types(member, found)
                return found
        for member in value.values():
            _types(member, found)
    elif isinstance(value, list):  # a parameter's list (Keys, TransactItems), not an L value
        for member in value:
            _types(member, found)
    return found


def _action_shape(label: str, params: Mapping[str, Any]) -> dict[str, Any]:
    shape: dict[str, Any] = {"op": label, "params": sorted(params)}
    for name in _EXPRESSIONS:
        if name in params:
            shape[name] = params[name]
    for name in _CHOOSING:
        if name in params:
            shape[name] = params[name]
    if "ExpressionAttributeNames" in params:
        shape["ExpressionAttributeNames"] = sorted(params["ExpressionAttributeNames"])
    if "ExpressionAttributeValues" in params:
        shape["ExpressionAttributeValues"] = {
            name: sorted(_types(value, set())) for name, value in sorted(params["ExpressionAttributeValues"].items())
        }
    for name in ("Item", "Key", "Keys", "ExclusiveStartKey"):
        if name in params:
            shape[f"{name} types"] = sorted(_types(params[name], set()))
    return shape


def part_shapes(operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, shape) of each part of a request: the request itself, or each item of a transaction
    (``TransactWriteItems.Update``) or each table of a batch. A shape is the JSON of the operation,
    its parameter names, its expressions and placeholder names, the values of the parameters that
    choose a behaviour, and the types of its attribute values (never the values)."""
    parts: list[tuple[str, Mapping[str, Any]]] = []
    if operation in ("TransactWriteItems", "TransactGetItems"):
        for entry in params.get("TransactItems", []):
            for verb, action in entry.items():
                parts.append((f"{operation}.{verb}", action))
    elif operation == "BatchGetItem":
        parts = [(operation, {"TableName": name, **wanted}) for name, wanted in params["RequestItems"].items()]
    elif operation == "BatchWriteItem":
        for name, writes in params["RequestItems"].items():
            for write in writes:
                for verb, action in write.items():
                    parts.append((f"{operation}.{verb}", {"TableName": name, **action}))
    else:
        parts = [(operation, params)]
    extra = (
        sorted(set(params) - {"TransactItems", "RequestItems"}) if operation.startswith(("Transact", "Batch")) else []
    )
    shapes = []
    for label, action in parts:
        shape = _action_shape(label, action)
        if extra:
            shape["request params"] = extra  # e.g. a transaction's ClientRequestToken
        shapes.append((label, json.dumps(shape, sort_keys=True)))
    return shapes


def shape_of(line: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The part shapes of a recorded line."""
    return part_shapes(str(line["op"]), line["params"])


# ---- the corpus -----------------------------------------------------------------------------------

EXAMPLES_PER_SHAPE: Final = 2
_LONG_PREFIX: Final = 150
_LONG: Final = 48


def _short(text: str) -> str:
    """A long string (a hash, an id, a URL, a local path) cut to its start and a digest of the whole:
    the same text always gives the same result, so equalities between values (and between a map key
    and the #name that names it) hold as recorded, and prefixes (``begins_with``) too."""
    if len(text) <= _LONG:
        return text
    return f"{text[:24]}~{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def _anonymised(value: Any, key: str = "") -> Any:
    if key in _EXPRESSIONS:
        return value
    if isinstance(value, dict):
        return {_short(name): _anonymised(member, name) for name, member in value.items()}
    if isinstance(value, list):
        return [_anonymised(member) for member in value]
    if isinstance(value, str):
        return _short(value)
    return value


def read_lines(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def by_test(lines: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each test's requests, in the order DynamoDB answered them."""
    tests: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        tests[str(line["test"])].append(line)
    for requests in tests.values():
        requests.sort(key=lambda line: int(line["seq"]))
    return dict(tests)


def from_store(line: Mapping[str, Any]) -> bool:
    """Whether the layer sent it (not a test reading or emptying a table through the store's client)."""
    return str(line["origin"]).startswith("avocette.")


def select(lines: list[dict[str, Any]], examples: int = EXAMPLES_PER_SHAPE) -> list[dict[str, Any]]:
    """The corpus: whole sequences of tests (the shortest first), each cut after its last request that
    the corpus needs: up to ``examples`` examples of each shape the store sends, and one at least of
    each way DynamoDB answered it (ok, or an error code), each after the requests that led to it. A
    test's request beyond its first ``_LONG_PREFIX`` is needed only for what nothing else shows."""
    shapes: Counter[str] = Counter()
    outcomes: Counter[tuple[str, str]] = Counter()
    corpus: list[dict[str, Any]] = []
    tests = by_test([line for line in lines if line["op"] in DATA_OPERATIONS])
    for test, requests in sorted(tests.items(), key=lambda pair: (len(pair[1]), pair[0])):
        wanted = [
            position
            for position, line in enumerate(requests)
            if from_store(line)
            and any(
                not outcomes[(shape, line["outcome"])] or (position < _LONG_PREFIX and shapes[shape] < examples)
                for _, shape in shape_of(line)
            )
        ]
        if not wanted:
            continue
        chosen = requests[: wanted[-1] + 1]
        for position, line in enumerate(chosen):
            for _, shape in shape_of(line):
                shapes[shape] += 1
                outcomes[(shape, line["outcome"])] += 1
            corpus.append({**_anonymised(line), "test": test, "seq": position})
    return corpus


def load_corpus(path: Path = CORPUS_PATH) -> dict[str, list[dict[str, Any]]]:
    """The committed corpus, by test, each request's parameters as the client takes them."""
    lines = read_lines(path)
    for line in lines:
        line["params"] = unplain(line["params"])
    return by_test(lines)


def summary(lines: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Distinct shapes by operation label (``TransactWriteItems.Update`` ...)."""
    shapes: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        for label, shape in shape_of(line):
            shapes[label].add(shape)
    return {label: Counter(dict.fromkeys(found, 1)) for label, found in sorted(shapes.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.recording", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    corpus = commands.add_parser("corpus", help="reduce a recording to the corpus")
    corpus.add_argument("recording", type=Path)
    corpus.add_argument("out", type=Path, nargs="?", default=CORPUS_PATH)
    corpus.add_argument("--examples", type=int, default=EXAMPLES_PER_SHAPE)
    shapes = commands.add_parser("shapes", help="the distinct item operation shapes of a recording or corpus")
    shapes.add_argument("recording", type=Path, nargs="?", default=CORPUS_PATH)
    shapes.add_argument("--verbose", action="store_true", help="print every shape")
    arguments = parser.parse_args(argv)
    if arguments.command == "corpus":
        lines = read_lines(arguments.recording)
        selected = select(lines, arguments.examples)
        with arguments.out.open("w", encoding="utf-8") as handle:
            for line in selected:
                handle.write(json.dumps(line, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n")
        every = {
            shape for line in lines if line["op"] in DATA_OPERATIONS and from_store(line) for _, shape in shape_of(line)
        }
        covered = {shape for line in selected if from_store(line) for _, shape in shape_of(line)}
        summary_line = f"{len(selected)} of {len(lines)} requests, {len(covered)} of the store's {len(every)} shapes"
        sys.stdout.write(f"{summary_line} -> {arguments.out}\n")
        return 0 if covered == every else 1
    lines = [line for line in read_lines(arguments.recording) if line["op"] in DATA_OPERATIONS]
    store = summary([line for line in lines if from_store(line)])
    tests_only = {
        label: Counter({shape: 1 for shape in found if shape not in store.get(label, {})})
        for label, found in summary([line for line in lines if not from_store(line)]).items()
    }
    for label in sorted({*store, *tests_only}):
        found = store.get(label, Counter())
        extra = tests_only.get(label, Counter())
        sys.stdout.write(f"{label}: {len(found)}" + (f" (and {len(extra)} sent by tests only)" if extra else "") + "\n")
        if arguments.verbose:
            for shape in sorted(found):
                sys.stdout.write(f"    {shape}\n")
            for shape in sorted(extra):
                sys.stdout.write(f"    (tests only) {shape}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
