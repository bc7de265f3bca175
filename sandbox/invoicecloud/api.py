"""The CPV2 API, ``POST /cloudpaymentsapi/v2``: authentication, strict validation, injected faults;
and the biller status check, ``GET /api/v1/biller/status``, behind the same API key."""

from __future__ import annotations

import hmac
import logging
import uuid
from datetime import timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.invoicecloud.core import SimulatorCore
from sandbox.invoicecloud.responses import JSON_MIMETYPE, cpv2_response, gateway_error
from sandbox.invoicecloud.sessions import Session, billing_from_request, invoice_lines
from sandbox.invoicecloud.validation import RequestValidationError, parse_cpv2_json, validate_cpv2_request

__all__ = ["Cpv2Api"]

logger = logging.getLogger(__name__)


class Cpv2Api(SimulatorCore):
    def _handle_cpv2(self, request: Request) -> Response:
        fault = self._injected_fault("api")
        if fault is not None:
            return self._cpv2_fault_response(fault)
        if not self._is_api_key(request):
            return _denied()
        if request.mimetype != JSON_MIMETYPE:
            message = f"The request entity's media type '{request.mimetype}' is not supported for this resource."
            return cpv2_response(message, status=415)
        with self._lock:
            statement_link_field = self._config["statementLinkField"]
        try:
            body = parse_cpv2_json(request.get_data())
            validate_cpv2_request(body, statement_link_field=statement_link_field)
        except RequestValidationError as error:
            return cpv2_response(str(error), status=400)
        session = self._open_session(body)
        url = f"{self.base_url.rstrip('/')}/cloudpayments/{session.session_id}"
        return cpv2_response("SUCCESS", {"CloudPaymentURL": url})

    def _handle_biller_status(self, request: Request) -> Response:
        """What Invoice Cloud answers the check of whether our biller is live: its status as plain text.

        No injected faults here: they are counted, and a health check polling this would use up a
        fault a test set for CPV2.
        """
        if not self._is_api_key(request):
            return _denied()
        with self._lock:
            status = str(self._config["billerStatus"])
        return Response(status, mimetype="text/plain")

    def _is_api_key(self, request: Request) -> bool:
        """HTTP Basic with the API key as the user and no password. werkzeug reads ``base64(key)``
        (no colon) and ``base64(key + ":")`` alike, so both are accepted: clients differ in which they send."""
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return False
        user_ok = hmac.compare_digest((auth.username or "").encode(), self._api_key.encode())
        return user_ok and not auth.password

    def _open_session(self, body: dict[str, Any]) -> Session:
        now = self._now()
        with self._lock:
            minutes = float(self._config["sessionMinutes"])
            session = Session(
                session_id=uuid.uuid4().hex,
                request=body,
                created_at=now,
                expires_at=now + timedelta(minutes=minutes),
                lines=invoice_lines(body, statement_link_field=self._config["statementLinkField"]),
                billing=billing_from_request(body),
            )
            self._sessions[session.session_id] = session
        # Named by BillerReference, never by session id: the id opens the payer's payment page.
        logger.info("CPV2 session for %s opened with %d invoices", session.biller_reference or "-", len(session.lines))
        return session

    def _cpv2_fault_response(self, fault: str) -> Response:
        if fault == "timeout":
            self._fault_timeout("api")
            return gateway_error(504)
        if fault == "malformed":
            return Response('{"Message": "SUCCESS", "Data": {"CloudPaymentURL": ', mimetype=JSON_MIMETYPE)
        if fault == "reject":
            return cpv2_response("Biller is not configured for Cloud Payments")
        if fault == "500":
            return cpv2_response("An error has occurred.", status=500)
        return gateway_error(int(fault))


def _denied() -> Response:
    response = cpv2_response("Authorization has been denied for this request.", status=401)
    response.headers["WWW-Authenticate"] = 'Basic realm="Invoice Cloud"'
    return response
