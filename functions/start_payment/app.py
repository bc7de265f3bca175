"""POST /payments: start a payment session on Invoice Cloud's hosted page (DESIGN §6a)."""

# First: the collector waits while the function loads and serves its first request (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time,
# through the tracer's wrapper, whose globals cannot resolve string annotations.
from typing import Annotated

from avocette import SERVICE_NAME, errors, web
from avocette.api.payments import StartPaymentRequest, StartPaymentResponse
from avocette.service import starting
from avocette.settings.payments import get_start_settings
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(patch_modules=["botocore"])  # AWS; Invoice Cloud's calls are traced by its client
metrics = Metrics()
app = web.create_app()

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Optional. The same key with the same invoices returns the same answer for 24 hours.",
    ),
]


def _api_base_url() -> str:
    """PUBLIC_API_BASE_URL when set, else this request's own domain and stage."""
    configured = get_start_settings().public_api_base_url
    if configured:
        return configured
    context = app.current_event.request_context
    stage = context.stage
    return f"https://{context.domain_name}" + ("" if not stage or stage == "$default" else f"/{stage}")


@app.post(
    "/payments",
    summary="Start a payment",
    responses=web.responses(
        errors.RegistrationRequiredError,
        errors.InvoiceNotFoundError,
        errors.InvoiceNotPayableError,
        errors.PaymentInProgressError,
        errors.RequestInProgressError,
        errors.IdempotencyKeyReusedError,
        errors.TooManyAttemptsError,
        errors.InvoiceCloudError,
        errors.InvoiceCloudTimeoutError,
        errors.InvoiceCloudNotConfiguredError,
        ok={
            201: "A new payment session.",
            200: "The same user's open session for the same invoices, offered again.",
        },
    ),
)
@tracer.capture_method
def handle_start_payment(
    request: StartPaymentRequest, idempotency_key: IdempotencyKey = None
) -> Response[StartPaymentResponse]:
    caller = web.current_caller(app)
    outcome = starting.start_payment(
        starting.StartPaymentCommand(
            sub=caller.sub,
            email=caller.email if caller.email_verified else None,
            idempotency_key=idempotency_key,
            invoices=request.invoices,
            postback_base_url=_api_base_url(),
        ),
        lambda_context=app.lambda_context,
        rules=starting.StartRules.from_environment(),
    )
    return Response(
        status_code=201 if outcome.created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=outcome.response,
    )


@coldstart.resumed_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
