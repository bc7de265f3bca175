"""POST /registrations and GET /registrations: prove and link utility accounts (DESIGN §6b)."""

# First: the collector waits while the function loads and serves its first request (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time,
# through the tracer's wrapper, whose globals cannot resolve string annotations.
from typing import Annotated

from avocette import SERVICE_NAME, errors, web
from avocette.api.registrations import RegistrationRequest, RegistrationResponse, RegistrationsView
from avocette.service import registration
from avocette.settings.portal import get_biller_time_zone
from avocette.settings.registration import get_registration_hash_key
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(patch_modules=["botocore"])  # AWS; Invoice Cloud's calls are traced by its client
metrics = Metrics()
app = web.create_app()


@app.post(
    "/registrations",
    summary="Prove and link utility accounts",
    responses=web.responses(errors.EmailUnverifiedError, errors.TooManyAttemptsError),
)
@tracer.capture_method
def handle_register_accounts(request: RegistrationRequest) -> RegistrationResponse:
    rules = registration.RegistrationRules.from_environment()
    return registration.register_accounts(web.current_caller(app), request, rules=rules)


@app.get("/registrations", summary="Your linked accounts", responses=web.responses())
@tracer.capture_method
def handle_list_registrations() -> RegistrationsView:
    rules = registration.RegistrationRules.from_environment()
    return registration.list_registrations(web.current_caller(app).sub, rules=rules)


@app.delete(
    "/registrations/<accountNumber>",
    summary="Unlink one of your accounts (other users' links to it stay)",
    responses=web.responses(errors.AccountNotFoundError, ok={204: "Your link to the account is gone."}),
)
@tracer.capture_method
def handle_unlink_account(
    account_number: Annotated[str, Path(alias="accountNumber", min_length=1, max_length=64)],
) -> Response[None]:
    registration.unlink_account(
        web.current_caller(app).sub,
        account_number,
        time_zone=get_biller_time_zone(),
        hash_key=get_registration_hash_key,
    )
    return Response(status_code=204, body=None)


@coldstart.resumed_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
