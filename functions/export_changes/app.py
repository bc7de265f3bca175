"""Scheduled daily: the biller's customer change log of the biller's yesterday (DESIGN §6g). An event
may name another day that is over (``{"day": "YYYY-MM-DD"}``), to make or remake its file by hand."""

# First: the collector waits while the function loads (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

from datetime import date
from typing import Any

from avocette import SERVICE_NAME
from avocette.service import changes
from avocette.settings.changes import get_changes_settings
from avocette.settings.portal import get_biller_time_zone
from avocette.settings.resources import get_exports_bucket
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(patch_modules=["botocore"])  # only what this function calls: AWS, no HTTP client
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    day = event.get("day") if isinstance(event, dict) else None
    return changes.export_changes(
        date.fromisoformat(day) if isinstance(day, str) else None,
        settings=get_changes_settings(),
        time_zone=get_biller_time_zone(),
        bucket=get_exports_bucket(),
    ).as_dict()


# Loaded: what it made lives as long as the process (avocette.coldstart).
coldstart.resume_collector()
