"""S3 ObjectCreated on billing/*.csv: import the biller's file into accounts and invoices, and write
the report beside it (DESIGN §2, §5). A rejected file is reported, not raised: dropping it again
would not help. A failed import raises, so that Lambda retries the event; the writes are conditional,
so the retry is safe."""

# First: the collector waits while the function loads (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

# No `from __future__ import annotations` here: Powertools reads the handler's signature at run time,
# through the tracer's wrapper, whose globals cannot resolve string annotations.
from typing import Any
from urllib.parse import unquote_plus

from avocette import SERVICE_NAME
from avocette.service import billing_import
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(patch_modules=["botocore"])  # only what this function calls: AWS, no HTTP client
metrics = Metrics()

# Powertools has no S3 correlation path: S3's request id of the first record names the upload.
S3_REQUEST_ID = 'Records[0].responseElements."x-amz-request-id"'


class BillingImportFailedError(Exception):
    """An import FAILED (DynamoDB or S3 kept failing): raised so that Lambda retries the event."""


def _summary(report: billing_import.ImportReport) -> dict[str, Any]:
    return {
        "key": report.key,
        "status": report.status.value,
        "rows": report.rows,
        "badRows": report.bad_row_count,
        "invoicesWritten": report.invoices.written,
        "invoicesClosed": report.invoices.closed,
    }


@tracer.capture_method
def handle_record(record: dict[str, Any]) -> dict[str, Any] | None:
    """One S3 record: its key is URL-encoded (``+`` for a space). Reports are never imported."""
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])
    if key.endswith(".report.json"):
        return None
    version_id = record["s3"]["object"].get("versionId")
    rules = billing_import.ImportRules.from_environment()
    return _summary(billing_import.import_s3_object(bucket, key, rules=rules, version_id=version_id))


@logger.inject_lambda_context(correlation_id_path=S3_REQUEST_ID)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    imports = [summary for record in event.get("Records", []) if (summary := handle_record(record)) is not None]
    failed = [summary["key"] for summary in imports if summary["status"] == billing_import.ImportStatus.FAILED]
    if failed:
        raise BillingImportFailedError(f"billing import failed for {', '.join(failed)}; the event will be retried")
    return {"imports": imports}


# Loaded: what it made lives as long as the process (avocette.coldstart).
coldstart.resume_collector()
