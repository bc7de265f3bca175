"""GET /accounts: the caller's linked accounts, open invoices and what is payable (read-only)."""

# First: the collector waits while the function loads and serves its first request (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time,
# through the tracer's wrapper, whose globals cannot resolve string annotations.
from avocette import SERVICE_NAME, errors, web
from avocette.api.accounts import AccountsResponse
from avocette.service import accounts
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(patch_modules=["botocore"])  # only what this function calls: AWS, no HTTP client
app = web.create_app()


@app.get(
    "/accounts",
    summary="Your linked accounts and what you owe",
    responses=web.responses(errors.RegistrationRequiredError),
)
@tracer.capture_method
def handle_list_accounts() -> AccountsResponse:
    return accounts.list_accounts(web.current_caller(app).sub)


@coldstart.resumed_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
