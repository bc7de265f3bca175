"""Scheduled: payments whose session and grace have passed, still open, become EXPIRED (DESIGN §6c)."""

# First: the collector waits while the function loads (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

from typing import Any

from avocette import SERVICE_NAME
from avocette.service import expiry
from avocette.settings.ledger import get_ledger_settings
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(patch_modules=["botocore"])  # only what this function calls: AWS, no HTTP client
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return expiry.expire_payments(ledger=get_ledger_settings()).as_dict()


# Loaded: what it made lives as long as the process (avocette.coldstart).
coldstart.resume_collector()
