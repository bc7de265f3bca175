"""POST /postback/{paymentId}/{token}: Invoice Cloud's payment result (DESIGN §3, §6c). No JWT: the
token in the path authenticates the call, and is checked before the body is decoded or anything
is read. This is what Invoice Cloud waits on, so it is a plain handler: no web framework to load
on a cold start, one use case to call, its answers from the error tree (``avocette.http``)."""

# First: the collector waits while the function loads and serves its first request (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

from typing import Any

from avocette import SERVICE_NAME, errors, http
from avocette.service import postbacks
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
metrics = Metrics()

# What this route answers besides 200: the errors the use case raises, and the body limit.
RAISES: tuple[type[errors.AppError], ...] = (
    errors.InvalidPostbackError,
    errors.InvalidTokenError,
    errors.PaymentNotFoundError,
    errors.PayloadTooLargeError,
    errors.StoreUnavailableError,
)

# The route as the OpenAPI document describes it (this function has no resolver to describe it).
OPENAPI_PATHS: dict[str, Any] = {
    "/postback/{paymentId}/{token}": {
        "post": {
            "summary": "Invoice Cloud postback (form-encoded body, or query string)",
            "operationId": "invoice_cloud_postback",
            "security": [],
            "parameters": [
                {"name": "paymentId", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}},
                {"name": "token", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 200}},
            ],
            "requestBody": {
                "required": False,
                "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {
                    "description": "Applied, duplicate or recorded for review: do not retry.",
                    "content": {"text/plain": {"schema": {"type": "string", "const": "OK"}}},
                },
                **{str(status): answer for status, answer in http.openapi_error_responses(RAISES).items()},
            },
        }
    }
}


def handle_postback(event: dict[str, Any]) -> dict[str, Any]:
    parameters = event.get("pathParameters") or {}
    payment_id, token = str(parameters.get("paymentId", "")), str(parameters.get("token", ""))
    body = http.event_body(event)
    try:
        if body is not None and len(body) > http.MAX_BODY_BYTES:
            raise errors.PayloadTooLargeError()
        postbacks.receive_postback(
            rules=postbacks.PostbackRules.from_environment(),
            payment_id=payment_id,
            token=token,
            source_ip=((event.get("requestContext") or {}).get("http") or {}).get("sourceIp"),
            body=body if body is not None else b"\xff",  # undecodable base64: not a readable body
            query=event.get("queryStringParameters") or {},
        )
    except errors.AppError as error:
        return http.error_answer(error)
    except Exception as exc:
        http.log_unexpected(exc)
        return http.error_answer(errors.AppError(), logged=True)
    return http.answer(200, "OK", content_type="text/plain")


@coldstart.resumed_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_postback(event)
