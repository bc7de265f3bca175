"""GET /statement-links/{token}: a signed, expiring link to a bill that Invoice Cloud may be given in
the CPV2 request when ``IC_STATEMENT_LINKS`` is on (DESIGN §6g). No JWT: the token authenticates the
call and is checked before anything is read; a good one is redirected (302) to a presigned URL of the
bill's PDF, valid for 5 minutes. A plain handler, like the postback: nothing else to load."""

# First: the collector waits while the function loads and serves its first request (avocette.coldstart).
from avocette import coldstart

coldstart.pause_collector()
coldstart.reseed_random_after_restore()  # SnapStart: each restored environment its own

import json
from typing import Any

from avocette import SERVICE_NAME, errors, http
from avocette.service import statements
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
metrics = Metrics()

# Longer than any token the service makes (two identifiers of 64 characters and an expiry, signed).
MAX_TOKEN_LENGTH = 512

# What this route answers besides 302: the errors the use case raises.
RAISES: tuple[type[errors.AppError], ...] = (
    errors.InvalidStatementLinkError,
    errors.StatementNotFoundError,
    errors.StatementLinkExpiredError,
    errors.StoreUnavailableError,
)

# The route as the OpenAPI document describes it (this function has no resolver to describe it).
OPENAPI_PATHS: dict[str, Any] = {
    "/statement-links/{token}": {
        "get": {
            "summary": "A bill, through a signed link given to Invoice Cloud (IC_STATEMENT_LINKS)",
            "operationId": "open_statement_link",
            "security": [],
            "parameters": [
                {
                    "name": "token",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "maxLength": MAX_TOKEN_LENGTH},
                }
            ],
            "responses": {
                "302": {
                    "description": "To a presigned URL of the bill's PDF, valid for 5 minutes (Location).",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                },
                **{str(status): answer for status, answer in http.openapi_error_responses(RAISES).items()},
            },
        }
    }
}


def handle_open_statement_link(event: dict[str, Any]) -> dict[str, Any]:
    token = str((event.get("pathParameters") or {}).get("token", ""))
    try:
        if len(token) > MAX_TOKEN_LENGTH:
            raise errors.InvalidStatementLinkError()
        statement = statements.open_statement_link(token, rules=statements.StatementLinkRules.from_environment())
    except errors.AppError as error:
        return http.error_answer(error)
    except Exception as exc:
        http.log_unexpected(exc)
        return http.error_answer(errors.AppError(), logged=True)
    answer = http.answer(302, json.dumps({"url": statement.url}, separators=(",", ":")))
    # The presigned URL carries a credential: it goes nowhere but to the browser that asked.
    answer["headers"].update({"Location": statement.url, "Referrer-Policy": "no-referrer"})
    return answer


@coldstart.resumed_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_open_statement_link(event)
