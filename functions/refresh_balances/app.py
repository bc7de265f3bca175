"""GET /invoicecloud/accounts/{accountNumber}: Invoice Cloud's balance refresh (DESIGN §3). No JWT: the
caller is authenticated as IC_REFRESH_AUTH says before anything is read. Invoice Cloud waits on it
while a payer looks at its pages, so it is a plain handler, like the postback's: no web framework to
load on a cold start, one use case to call, its answers from the error tree (``avocette.http``)."""

# First: the collector waits while the function loads and serves its first request (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

from typing import Any

from avocette import SERVICE_NAME, errors, http
from avocette.service import refresh
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
metrics = Metrics()

# What this route answers besides 200: the errors the use case raises.
RAISES: tuple[type[errors.AppError], ...] = (
    errors.RefreshUnauthorizedError,
    errors.RefreshAccountNotFoundError,
    errors.StoreUnavailableError,
)

# The answer's shape comes from a format file (IC_REFRESH_FORMAT); the document shows the default one.
_DEFAULT_FORMAT = refresh.default_answer_format()

# The route as the OpenAPI document describes it (this function has no resolver to describe it).
OPENAPI_PATHS: dict[str, Any] = {
    "/invoicecloud/accounts/{accountNumber}": {
        "get": {
            "summary": "Invoice Cloud's balance refresh: an account's open invoices and what is due now",
            "description": (
                "For Invoice Cloud only, without the portal's token: the credential IC_REFRESH_AUTH names "
                "(basic: HTTP Basic; header: a key in IC_REFRESH_HEADER; hmac: X-IC-Timestamp, X-IC-Nonce "
                "and X-IC-Signature) is checked before anything is read, and every refusal is the same 401. "
                "Balances are the payable amounts (billed less the payments the bill does not show yet), "
                f"without our payment sessions' holds. The answer is in IC_REFRESH_FORMAT; shown here: "
                f"{_DEFAULT_FORMAT.format}."
            ),
            "operationId": "invoice_cloud_balance_refresh",
            "security": [],
            "parameters": [
                {"name": "accountNumber", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The account's open invoices, those paid in full at 0.00.",
                    "content": {_DEFAULT_FORMAT.media_type: {"schema": _DEFAULT_FORMAT.json_schema()}},
                },
                **{str(status): answer for status, answer in http.openapi_error_responses(RAISES).items()},
            },
        }
    }
}


def handle_refresh(event: dict[str, Any]) -> dict[str, Any]:
    parameters = event.get("pathParameters") or {}
    request = refresh.RefreshRequest(
        account_number=str(parameters.get("accountNumber", "")),
        headers={str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()},
        source_ip=((event.get("requestContext") or {}).get("http") or {}).get("sourceIp"),
    )
    try:
        answer = refresh.answer_refresh(request, rules=refresh.RefreshRules.from_environment())
    except errors.RefreshUnauthorizedError as error:
        refused = http.error_answer(error)
        refused["headers"]["WWW-Authenticate"] = error.challenge
        return refused
    except errors.AppError as error:
        if error.status >= 500:
            refresh.count_failure()
        return http.error_answer(error)
    except Exception as exc:
        http.log_unexpected(exc)
        refresh.count_failure()
        return http.error_answer(errors.AppError(), logged=True)
    return http.answer(200, answer.body.decode("utf-8"), content_type=answer.content_type)


@coldstart.resumed_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_refresh(event)
