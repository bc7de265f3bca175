"""S3 ObjectCreated on invoicecloud/*.csv: reconcile Invoice Cloud's daily payment file with what we
recorded, write the report beside it (DESIGN §6d). A rejected file is reported, not raised (dropping
it again would not help); a failed run raises so that Lambda retries the event: every write is
conditional, so the retry is safe."""

# First: the collector waits while the function loads (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

from typing import Any
from urllib.parse import unquote_plus

from avocette import SERVICE_NAME
from avocette.service import reconcile
from avocette.service.reconcile_rows import ReconcileRules
from avocette.service.rowstream.report import ImportStatus
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(patch_modules=["botocore"])  # only what this function calls: AWS, no HTTP client
metrics = Metrics()

S3_REQUEST_ID = 'Records[0].responseElements."x-amz-request-id"'


class ReconciliationFailedError(Exception):
    """A run FAILED (DynamoDB or S3 kept failing): raised so that Lambda retries the event."""


@tracer.capture_method
def handle_record(record: dict[str, Any]) -> dict[str, Any] | None:
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])
    if key.endswith(".report.json"):
        return None
    report = reconcile.reconcile_s3_object(
        bucket, key, rules=ReconcileRules.from_environment(), version_id=record["s3"]["object"].get("versionId")
    )
    return {"key": report.key, "status": report.status.value, "rows": report.rows, **report.counts.model_dump()}


@logger.inject_lambda_context(correlation_id_path=S3_REQUEST_ID)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    files = [summary for record in event.get("Records", []) if (summary := handle_record(record)) is not None]
    failed = [summary["key"] for summary in files if summary["status"] == ImportStatus.FAILED]
    if failed:
        raise ReconciliationFailedError(f"reconciliation failed for {', '.join(failed)}; the event will be retried")
    return {"files": files}


# Loaded: what it made lives as long as the process (avocette.coldstart).
coldstart.resume_collector()
