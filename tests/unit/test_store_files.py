"""S3 through avocette.store.files, against moto: streamed text with its version, reports beside a key,
bytes, and S3's faults as typed errors."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from avocette.store import files
from botocore.exceptions import ClientError, EndpointConnectionError

BUCKET = "files-tests"


@pytest.fixture
def bucket(aws: None) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def test_one_client_per_process_made_on_first_use(aws: None) -> None:
    files.s3.cache_clear()
    assert files.s3.cache_info().currsize == 0
    assert files.s3() is files.s3()
    config = files.s3().meta.config
    assert (config.connect_timeout, config.retries["mode"]) == (2, "standard")


def test_text_is_streamed_line_by_line_at_the_version_asked_for(bucket: Any) -> None:
    first = bucket.put_object(Bucket=BUCKET, Key="in/a.csv", Body='\ufeffa,b\r\n1,"x\ny"\r\n'.encode())["VersionId"]
    bucket.put_object(Bucket=BUCKET, Key="in/a.csv", Body=b"newer\r\n")

    text = files.open_text(BUCKET, "in/a.csv", encoding="utf-8-sig", version_id=first)
    assert text.version_id == first
    with text:
        lines = list(text)
    assert lines == ["a,b\r\n", '1,"x\n', 'y"\r\n']  # the BOM is gone, line ends kept for the csv module
    assert text.version_id == first

    latest = files.open_text(BUCKET, "in/a.csv", encoding="utf-8")
    assert latest.version_id is None  # not fetched yet
    assert next(latest) == "newer\r\n"
    assert latest.version_id not in (None, first)
    latest.close()


def test_text_in_another_encoding_raises_where_it_goes_wrong(bucket: Any) -> None:
    bucket.put_object(Bucket=BUCKET, Key="in/latin.csv", Body="ok\r\nJos\u00e9\r\n".encode("latin-1"))
    text = files.open_text(BUCKET, "in/latin.csv", encoding="utf-8")
    with pytest.raises(UnicodeDecodeError):
        list(text)


def test_a_missing_object_is_its_own_error(bucket: Any) -> None:
    text = files.open_text(BUCKET, "in/missing.csv", encoding="utf-8")  # nothing fetched yet
    with pytest.raises(files.ObjectNotFoundError):
        next(text)
    with pytest.raises(files.ObjectNotFoundError):
        files.get_bytes(BUCKET, "in/missing.csv")
    with pytest.raises(files.ObjectNotFoundError):
        files.get_bytes("no-such-bucket", "x")


def test_a_report_goes_beside_its_key_as_json(bucket: Any) -> None:
    key = "billing/20261110T060000Z.csv"
    assert files.report_key(key) == "billing/20261110T060000Z.csv.report.json"
    assert files.put_report(BUCKET, key, json.dumps({"status": "IMPORTED"})) == files.report_key(key)
    stored = bucket.get_object(Bucket=BUCKET, Key=files.report_key(key))
    assert stored["ContentType"] == "application/json"
    assert json.loads(stored["Body"].read()) == {"status": "IMPORTED"}


def test_bytes_are_written_and_read_back(bucket: Any) -> None:
    version = files.put_bytes(
        BUCKET, "out/x.bin", b"\x00\x01", content_type="application/octet-stream", server_side_encryption="AES256"
    )
    assert version
    head = bucket.head_object(Bucket=BUCKET, Key="out/x.bin")
    assert (head["ServerSideEncryption"], head["ContentType"]) == ("AES256", "application/octet-stream")
    assert files.get_bytes(BUCKET, "out/x.bin") == b"\x00\x01"
    assert files.get_bytes(BUCKET, "out/x.bin", version_id=version) == b"\x00\x01"


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (_client_error("SlowDown", 503), files.StorageUnavailableError),
        (_client_error("InternalError", 500), files.StorageUnavailableError),
        (_client_error("SomethingNew", 502), files.StorageUnavailableError),
        (EndpointConnectionError(endpoint_url="https://s3"), files.StorageUnavailableError),
        (_client_error("NoSuchKey", 404), files.ObjectNotFoundError),
        (_client_error("NoSuchVersion", 404), files.ObjectNotFoundError),
        (_client_error("AccessDenied", 403), ClientError),
    ],
)
def test_faults_are_typed(fault: Exception, expected: type[Exception]) -> None:
    with pytest.raises(expected):  # noqa: SIM117 - the mapping is what is tested
        with files.storage_errors():
            raise fault

    class Failing:
        def get_object(self, **request: Any) -> Any:
            raise fault

    with pytest.raises(expected):
        next(files.open_text("b", "k", encoding="utf-8", client=Failing()))


def test_a_read_that_fails_midway_is_unavailable() -> None:
    class Body:
        def read(self, amount: int | None = None) -> bytes:
            raise EndpointConnectionError(endpoint_url="https://s3")

        def close(self) -> None:
            pass

    class Client:
        def get_object(self, **request: Any) -> dict[str, Any]:
            return {"Body": Body(), "VersionId": "v9"}

    text = files.open_text("b", "k", encoding="utf-8", client=Client())
    with pytest.raises(files.StorageUnavailableError):
        next(text)
    assert text.version_id == "v9"
