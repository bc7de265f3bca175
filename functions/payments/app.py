"""GET /payments and GET /payments/{paymentId}: the caller's payments, read-only (DESIGN §3)."""

# First: the collector waits while the function loads and serves its first request (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time,
# through the tracer's wrapper, whose globals cannot resolve string annotations.
from typing import Annotated

from avocette import SERVICE_NAME, errors, web
from avocette.api.payments import PaymentListResponse, PaymentView
from avocette.service import payments
from avocette.settings.ledger import get_ledger_settings
from avocette.settings.portal import get_portal_settings
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(patch_modules=["botocore"])  # only what this function calls: AWS, no HTTP client
app = web.create_app()


@app.get("/payments", summary="List your payments, newest first", responses=web.responses(errors.InvalidCursorError))
@tracer.capture_method
def handle_list_payments(
    limit: Annotated[int, Query(ge=1, le=50, description="Page size, 1 to 50.")] = 20,
    cursor: Annotated[str | None, Query(max_length=2048, description="nextCursor of the previous page.")] = None,
) -> PaymentListResponse:
    caller = web.current_caller(app)
    return payments.list_payment_views(
        caller.sub, limit=limit, cursor=cursor, portal=get_portal_settings(), ledger=get_ledger_settings()
    )


@app.get("/payments/<paymentId>", summary="One of your payments", responses=web.responses(errors.PaymentNotFoundError))
@tracer.capture_method
def handle_get_payment(payment_id: Annotated[str, Path(alias="paymentId", max_length=64)]) -> PaymentView:
    caller = web.current_caller(app)
    return payments.get_payment_view(caller.sub, payment_id, portal=get_portal_settings(), ledger=get_ledger_settings())


@coldstart.resumed_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
