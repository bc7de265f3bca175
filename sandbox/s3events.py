"""S3 event notifications for the sandbox's buckets (DESIGN §8): a file put into a bucket triggers
the function template.yaml subscribes to it, as S3 would.

moto's server stores objects but invokes nothing. This WSGI middleware sits in front of it: after a
successful PutObject (or a completed multipart upload) whose key matches a function's S3 event
(bucket, prefix, suffix), it invokes that function with an ``ObjectCreated:Put`` event on a
background thread — S3 notifies asynchronously, and the uploader does not wait for the function.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from sandbox.functions import FunctionError, FunctionPool

__all__ = ["S3Notifications", "S3Trigger", "object_created_event"]

log = logging.getLogger("sandbox.s3events")


@dataclass(frozen=True)
class S3Trigger:
    bucket: str
    prefix: str
    suffix: str
    function: FunctionPool

    def matches(self, bucket: str, key: str) -> bool:
        return bucket == self.bucket and key.startswith(self.prefix) and key.endswith(self.suffix)


def object_created_event(bucket: str, key: str, size: int = 0, version_id: str | None = None) -> dict[str, Any]:
    """An S3 ObjectCreated:Put notification, as Lambda receives it: the key URL-encoded as a form value
    (``+`` for a space, ``%25`` for a percent sign, ``/`` kept), which the functions decode once with
    ``unquote_plus``."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "sequencer": uuid.uuid4().hex[:16].upper()}
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "eventName": "ObjectCreated:Put",
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper()},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": obj,
                },
            }
        ]
    }


class S3Notifications:
    """WSGI middleware: ``app`` is moto's server; ``triggers`` the template's S3 events, resolved."""

    def __init__(self, app: Callable[..., Iterable[bytes]], triggers: Sequence[S3Trigger] = ()) -> None:
        self.app = app
        self.triggers = list(triggers)
        self._threads: list[threading.Thread] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        created = self._object_written(environ)
        status: list[str] = []
        headers: list[tuple[str, str]] = []

        def remember(code: str, response_headers: list[tuple[str, str]], *rest: Any) -> Any:
            status.append(code)
            headers.extend(response_headers)
            return start_response(code, response_headers, *rest)

        body = list(self.app(environ, remember))
        if created is not None and status and status[0].startswith("200"):
            bucket, key = created
            version = {name.lower(): value for name, value in headers}.get("x-amz-version-id")
            self._notify(bucket, key, int(environ.get("CONTENT_LENGTH") or 0), version)
        return body

    @staticmethod
    def _object_written(environ: Mapping[str, Any]) -> tuple[str, str] | None:
        """(bucket, key) of a PutObject or CompleteMultipartUpload in path style, else ``None``."""
        method = environ.get("REQUEST_METHOD")
        query = environ.get("QUERY_STRING", "")
        # PATH_INFO is the path already decoded once, its UTF-8 bytes carried as latin-1 (PEP 3333):
        # decoding it again would turn a key's own %2e into "." and name another object.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", errors="replace")
        bucket, _, key = path.lstrip("/").partition("/")
        if not bucket or not key:
            return None
        copying = "x-amz-copy-source" in {name.lower().replace("http_", "").replace("_", "-") for name in environ}
        if method == "PUT" and not query and not copying:
            return bucket, key
        if method == "POST" and "uploadId=" in query:
            return bucket, key
        return None

    def _notify(self, bucket: str, key: str, size: int, version_id: str | None) -> None:
        for trigger in self.triggers:
            if trigger.matches(bucket, key):
                thread = threading.Thread(
                    target=self._invoke,
                    args=(trigger, object_created_event(bucket, key, size, version_id)),
                    name=f"s3-event-{trigger.function.spec.logical_id}",
                    daemon=True,
                )
                self._threads = [alive for alive in self._threads if alive.is_alive()]
                self._threads.append(thread)
                thread.start()

    @staticmethod
    def _invoke(trigger: S3Trigger, event: dict[str, Any]) -> None:
        try:
            trigger.function.invoke(event)
        except FunctionError as error:  # the function logged its failure; S3 would retry, the sandbox reports
            log.error("%s failed on an S3 event: %s: %s", error.function, error.error_type, error.message)
        except Exception:
            log.exception("%s could not be invoked on an S3 event", trigger.function.spec.logical_id)

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for the functions notified so far (tests, and the sandbox when it stops)."""
        for thread in list(self._threads):
            thread.join(timeout=timeout)
