"""GET /accounts/{accountNumber}/invoices/{invoiceNumber}/statement: one of the caller's bills, as a
presigned URL of its PDF valid for 5 minutes (DESIGN §3, §6g). Read-only: the caller's link, the
invoice, and whether its PDF is there."""

# First: the collector waits while the function loads and serves its first request (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time,
# through the tracer's wrapper, whose globals cannot resolve string annotations.
from typing import Annotated

from avocette import SERVICE_NAME, errors, web
from avocette.api.statements import StatementResponse
from avocette.service import statements
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(patch_modules=["botocore"])  # only what this function calls: AWS, no HTTP client
metrics = Metrics()
app = web.create_app()


@app.get(
    "/accounts/<accountNumber>/invoices/<invoiceNumber>/statement",
    summary="The PDF of one of your bills",
    responses=web.responses(errors.StatementNotFoundError),
)
@tracer.capture_method
def handle_get_statement(
    account_number: Annotated[
        str, Path(alias="accountNumber", min_length=1, max_length=64, description="One of your linked accounts.")
    ],
    invoice_number: Annotated[
        str, Path(alias="invoiceNumber", min_length=1, max_length=64, description="An open invoice of that account.")
    ],
) -> StatementResponse:
    return statements.get_statement(
        web.current_caller(app).sub,
        account_number,
        invoice_number,
        rules=statements.StatementRules.from_environment(),
    )


@coldstart.resumed_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
