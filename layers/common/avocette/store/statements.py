"""The bills' PDFs in S3 (DESIGN §6g): whether one is there, and a presigned URL that lets a browser
read it for a few minutes. The functions that do this may only ``s3:GetObject`` under ``statements/``
(which also allows HeadObject); nothing here lists, writes or reads an object's bytes.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from avocette.domain.statements import STATEMENTS_PREFIX
from avocette.store.files import ObjectNotFoundError, storage_errors

__all__ = ["presigned_url", "statement_exists"]

# Without s3:ListBucket, S3 answers a HeadObject of a missing key 403, not 404 (the role must not
# learn which keys exist): that means "no such statement" here too.
_FORBIDDEN = frozenset({"403", "AccessDenied", "Forbidden"})


@lru_cache(maxsize=1)
def _client() -> Any:
    """SigV4 (what presigned GETs need in every region), made on first use, never at import."""
    return boto3.client(
        "s3",
        config=Config(
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=2,
            read_timeout=5,
        ),
    )


def _check(key: str) -> None:
    if not key.startswith(STATEMENTS_PREFIX):
        raise ValueError("a statement's key is under statements/")


def statement_exists(bucket: str, key: str) -> bool:
    """Whether the object is there (HeadObject); :class:`~avocette.store.files.StorageUnavailableError`
    when S3 keeps failing."""
    _check(key)
    try:
        with storage_errors():
            _client().head_object(Bucket=bucket, Key=key)
    except ObjectNotFoundError:
        return False
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in _FORBIDDEN:
            return False
        raise
    return True


def presigned_url(bucket: str, key: str, *, download_name: str, lifetime: timedelta) -> str:
    """A GET of the object, signed for ``lifetime``, that answers it as a PDF shown in the browser
    (whatever content type it was stored with) under ``download_name``. Signing is local: no call."""
    _check(key)
    return str(
        _client().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ResponseContentType": "application/pdf",
                "ResponseContentDisposition": f'inline; filename="{download_name}"',
            },
            ExpiresIn=int(lifetime.total_seconds()),
        )
    )
