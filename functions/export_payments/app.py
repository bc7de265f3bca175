"""Scheduled daily, just after the biller's midnight: the biller's export of yesterday's credits and
reversals (DESIGN §6e), then the tie-out of that day and of the TIEOUT_GRACE_DAYS days before it
(DESIGN §6f). An event may name another day (``{"day": "YYYY-MM-DD"}``, a day of the biller's zone),
to make or remake that day's file and tie-outs by hand."""

# First: the collector waits while the function loads (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

from datetime import date
from typing import Any

from avocette import SERVICE_NAME
from avocette.service import export
from avocette.service.tieout import TieOutRules
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
    return export.close_day(
        date.fromisoformat(day) if isinstance(day, str) else None, rules=TieOutRules.from_environment()
    )


# Loaded: what it made lives as long as the process (avocette.coldstart).
coldstart.resume_collector()
