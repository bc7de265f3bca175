"""POST /registrations and GET /registrations: prove and link utility accounts (DESIGN §6b)."""

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time,
# through the tracer's wrapper, whose globals cannot resolve string annotations.
from avocette import SERVICE_NAME, web
from avocette.domain.registration import RegistrationRequest, RegistrationResponse, RegistrationsView
from avocette.service import registration
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer()
metrics = Metrics()
app = web.create_app()


@app.post("/registrations", summary="Prove and link utility accounts")
@tracer.capture_method
def handle_register_accounts(request: RegistrationRequest) -> RegistrationResponse:
    return registration.register_accounts(web.current_caller(app), request)


@app.get("/registrations", summary="Your linked accounts")
@tracer.capture_method
def handle_list_registrations() -> RegistrationsView:
    return registration.list_registrations(web.current_caller(app).sub)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
