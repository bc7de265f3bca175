"""S3: the client, the objects the imports read and the reports they write beside them, and the
mapping of S3 faults to typed errors (as :mod:`avocette.store.table` does for DynamoDB).

An object's text is streamed a chunk at a time, never read whole: a billing file may hold 100,000
rows. Objects are payer data: nothing here logs them, and no error carries their contents.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Generator, Iterator
from functools import lru_cache
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

__all__ = [
    "READ_CHUNK",
    "REPORT_SUFFIX",
    "ObjectNotFoundError",
    "StorageUnavailableError",
    "TextObject",
    "get_bytes",
    "open_text",
    "put_bytes",
    "put_report",
    "report_key",
    "s3",
    "storage_errors",
]

READ_CHUNK = 64 * 1024
REPORT_SUFFIX = ".report.json"

# Codes that mean "try again later", after botocore's own retries have been spent; so does any 5xx.
_TRANSIENT = frozenset(
    {
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
    }
)
_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "NotFound", "404"})


class StorageUnavailableError(Exception):
    """S3 kept failing (throttling, internal errors, network), or could not be reached: try again later."""


class ObjectNotFoundError(LookupError):
    """The bucket, the key or the version asked for does not exist."""


@lru_cache(maxsize=1)
def s3() -> Any:
    """One client per process, made on first use (never at import time). Its read timeout is per
    read of the socket, not per object: a streamed object takes as long as it takes."""
    return boto3.client(
        "s3",
        config=Config(
            retries={"mode": "standard", "max_attempts": 4},
            connect_timeout=2,
            read_timeout=10,
        ),
    )


def _translated(exc: Exception) -> Exception | None:
    """The typed error for an S3 fault, or ``None`` for one that passes through as it is."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _NOT_FOUND:
            return ObjectNotFoundError("the S3 object does not exist")
        if code in _TRANSIENT or (isinstance(status, int) and status >= 500):
            return StorageUnavailableError("S3 is unavailable")
        return None
    if isinstance(exc, BotoCoreError):
        return StorageUnavailableError("S3 could not be reached")
    return None


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Turn S3's transient faults into :class:`StorageUnavailableError` and a missing object into
    :class:`ObjectNotFoundError`; other faults (access denied, a bad request) pass through."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        translated = _translated(exc)
        if translated is None:
            raise
        raise translated from exc


def _request(bucket: str, key: str, version_id: str | None) -> dict[str, str]:
    return {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}


# ---- reading ------------------------------------------------------------------------------------


class _BodyReader(io.RawIOBase):
    """An S3 ``StreamingBody`` as a raw stream, read a chunk at a time (never all of it)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._body.read(min(len(buffer), READ_CHUNK))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        self._body.close()
        super().close()


class TextObject(Iterator[str]):
    """An object's text, line by line, with line ends kept (``newline=""``: the csv module reads
    them, so a quoted cell may hold a line break). Nothing is fetched until the first line is asked
    for: a file rejected by its key is never read. Close it (or use it as a context manager) to let
    go of the connection when it is not read to the end.

    ``version_id`` is the version asked for until the object is fetched, then the version S3 read
    (``None`` in a bucket without versioning). A text that is not in ``encoding`` raises
    ``UnicodeDecodeError`` from the line where it goes wrong; S3 faults raise the typed errors."""

    def __init__(self, client: Any, bucket: str, key: str, *, encoding: str, version_id: str | None) -> None:
        self.bucket = bucket
        self.key = key
        self.encoding = encoding
        self.version_id = version_id
        self._client = client
        self._lines = self._read()

    def _read(self) -> Generator[str, None, None]:
        answer = self._client.get_object(**_request(self.bucket, self.key, self.version_id))
        self.version_id = answer.get("VersionId") or self.version_id
        raw = io.BufferedReader(_BodyReader(answer["Body"]), buffer_size=READ_CHUNK)
        with io.TextIOWrapper(raw, encoding=self.encoding, newline="") as text:
            yield from text

    def __iter__(self) -> TextObject:
        return self

    def __next__(self) -> str:
        try:
            return next(self._lines)
        except (ClientError, BotoCoreError) as exc:
            translated = _translated(exc)
            if translated is None:
                raise
            raise translated from exc

    def close(self) -> None:
        self._lines.close()

    def __enter__(self) -> TextObject:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def open_text(bucket: str, key: str, *, encoding: str, version_id: str | None = None, client: Any = None) -> TextObject:
    """``s3://bucket/key`` (at ``version_id`` when given) as text in ``encoding`` (``utf-8-sig``
    reads past a byte order mark), streamed; see :class:`TextObject`. ``client`` stands in for
    :func:`s3` (tests); the client is made here, in the caller's thread, not at the first read."""
    return TextObject(client or s3(), bucket, key, encoding=encoding, version_id=version_id)


def get_bytes(bucket: str, key: str, *, version_id: str | None = None) -> bytes:
    """The whole object, for the small ones (a report, a settings file): never a billing file."""
    with storage_errors():
        body = s3().get_object(**_request(bucket, key, version_id))["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
    return data


# ---- writing ------------------------------------------------------------------------------------


def put_bytes(
    bucket: str, key: str, data: bytes, *, content_type: str, server_side_encryption: str | None = None
) -> str | None:
    """Write an object; answers its version id (``None`` without versioning). Without
    ``server_side_encryption`` (e.g. ``"AES256"``) the bucket's default encryption applies."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": data, "ContentType": content_type}
    if server_side_encryption:
        request["ServerSideEncryption"] = server_side_encryption
    with storage_errors():
        answer = s3().put_object(**request)
    version: str | None = answer.get("VersionId")
    return version


def report_key(key: str) -> str:
    """Where the report of ``key`` goes: beside it (the S3 trigger's ``.csv`` suffix skips it)."""
    return f"{key}{REPORT_SUFFIX}"


def put_report(bucket: str, key: str, report_json: str) -> str:
    """Write an import's JSON report beside ``key``, at :func:`report_key`; answers that key."""
    target = report_key(key)
    put_bytes(bucket, target, report_json.encode(), content_type="application/json")
    return target
