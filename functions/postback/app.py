"""POST /postback/{paymentId}: Invoice Cloud's payment result (DESIGN §3, §6c). No JWT: the token
in the query string authenticates the call, and is checked before anything is read."""

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time,
# through the tracer's wrapper, whose globals cannot resolve string annotations.
from typing import Annotated

from avocette import SERVICE_NAME, web
from avocette.service import postbacks
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
tracer = Tracer()
metrics = Metrics()
app = web.create_app()


@app.post(
    "/postback/<paymentId>",
    summary="Invoice Cloud postback (form-encoded body, or query string)",
    responses={200: {"description": "Applied, duplicate or recorded for review: do not retry."}},
    security=[],
)
@tracer.capture_method
def handle_postback(payment_id: Annotated[str, Path(alias="paymentId", max_length=64)]) -> Response[str]:
    event = app.current_event
    postbacks.receive_postback(
        payment_id=payment_id,
        token=(event.query_string_parameters or {}).get("token"),
        source_ip=event.request_context.http.source_ip,
        body=event.decoded_body or "",
        query=event.query_string_parameters or {},
    )
    return Response(status_code=200, content_type=content_types.TEXT_PLAIN, body="OK")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
