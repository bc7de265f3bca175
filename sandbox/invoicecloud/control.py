"""The control API under ``/_sim/`` (and the index page): what tests and the sandbox use to look and steer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from werkzeug.wrappers import Request, Response

from sandbox.invoicecloud import pages
from sandbox.invoicecloud.amounts import money, parse_amount
from sandbox.invoicecloud.clock import rfc3339
from sandbox.invoicecloud.config import ControlError
from sandbox.invoicecloud.core import SimulatorCore
from sandbox.invoicecloud.hosted import APPROVING_CARD, DECLINING_ACCOUNT_SUFFIX
from sandbox.invoicecloud.postbacks import delivery_deadline
from sandbox.invoicecloud.responses import control_error, html_response, json_response, jsonable, read_json
from sandbox.invoicecloud.sessions import Attempt, MethodKind, PaymentMethod, Session, method_kind

__all__ = ["STATIC_DIR", "ControlApi"]

STATIC_DIR: Final = Path(__file__).parent / "static"


class ControlApi(SimulatorCore):
    def _handle_index(self, request: Request) -> Response:
        with self._lock:
            now = self._now()
            rows = [
                pages.IndexRow(s.session_id, s.state(now), rfc3339(s.created_at), s.biller_reference)
                for s in reversed(self._sessions.values())
            ][:50]
        return html_response(pages.index_page(self.biller_name, rows))

    def _handle_css(self, request: Request) -> Response:
        response = Response((STATIC_DIR / "ic.css").read_bytes(), mimetype="text/css")
        response.headers["Cache-Control"] = "no-cache"
        return response

    def _handle_list_sessions(self, request: Request) -> Response:
        with self._lock:
            now = self._now()
            sessions = [
                {
                    "sessionId": s.session_id,
                    "state": s.state(now),
                    "createdAt": rfc3339(s.created_at),
                    "billerReference": s.biller_reference,
                }
                for s in reversed(self._sessions.values())
            ]
        return json_response({"sessions": sessions})

    def _handle_show_session(self, request: Request, session_id: str) -> Response:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return control_error(ControlError(404, "session_not_found", f"No session {session_id}"))
            return json_response(self._session_json(session))

    def _session_json(self, session: Session) -> dict[str, Any]:
        removed = [line.invoice_number for line in session.lines if line.key in session.removed]
        return {
            "sessionId": session.session_id,
            "request": jsonable(session.request),
            "state": session.state(self._now()),
            "createdAt": rfc3339(session.created_at),
            "expiresAt": rfc3339(session.expires_at),
            "removedInvoices": removed,
            # Every requested invoice with what the payer would pay on it now (chosen part payments).
            "invoices": [
                {
                    "accountNumber": line.account_number,
                    "invoiceNumber": line.invoice_number,
                    "balanceDue": money(line.balance_due),
                    "minimumAmountDue": money(line.minimum_due) if line.minimum_due is not None else None,
                    "allowPartialPayments": line.allow_partial,
                    "amount": money(session.amount_for(line)),
                    "removed": line.key in session.removed,
                }
                for line in session.lines
            ],
            "attempts": [attempt.to_json() for attempt in session.attempts],
            "postbacks": [record.to_json() for record in session.postbacks],
        }

    def _handle_complete_session(self, request: Request, session_id: str) -> Response:
        """Do what the hosted pages do, then wait for this attempt's deliveries to finish."""
        try:
            completion = _parse_complete_body(request)
            with self._lock:
                session = self._sessions.get(session_id)
                if session is None:
                    raise ControlError(404, "session_not_found", f"No session {session_id}")
                attempt = self._complete(session, completion)
                deadline = delivery_deadline(attempt, self._config)
        except ControlError as error:
            return control_error(error)
        attempt.done.wait(deadline)
        with self._lock:
            body = {
                "state": session.state(self._now()),
                "attempt": attempt.to_json(),
                "postbacks": [record.to_json() for record in attempt.postbacks],
            }
        return json_response(body)

    def _complete(self, session: Session, completion: _Completion) -> Attempt:
        """Check everything first, then change the session: a refused call leaves it as it was."""
        refusal = self._may_pay(session, ignore_expiry=completion.ignore_expiry)
        if refusal is not None:
            raise ControlError(409, "session_not_open", f"The session is {refusal}")
        kind = completion.kind
        if not session.allows(kind):
            raise ControlError(400, "method_not_allowed", f"The request does not allow {kind} payments")
        numbers = {line.invoice_number for line in session.lines}
        unknown = sorted(set(completion.remove) - numbers)
        if unknown:
            raise ControlError(400, "unknown_invoice", f"Not in this session: {', '.join(unknown)}")
        keys = [line.key for line in session.lines if line.invoice_number in completion.remove]
        chosen = self._chosen_amounts(session, completion.amounts, removing=keys)
        if keys:
            refusal = self._remove_lines(session, keys)
            if refusal is not None:
                raise ControlError(400, "remove_refused", refusal)
        session.amounts.update(chosen)
        approved = completion.outcome == "approve"
        if kind == "CARD":
            method = PaymentMethod("CARD", "Visa", APPROVING_CARD[-4:] if approved else "0002")
        else:
            method = PaymentMethod("ACH", "", "6789" if approved else DECLINING_ACCOUNT_SUFFIX)
        return self._record_attempt(session, method, approved=approved)

    def _chosen_amounts(
        self, session: Session, amounts: Mapping[str, Any], *, removing: Sequence[str]
    ) -> dict[str, Decimal]:
        """The part payments of ``"amounts"``, by line key, checked as the invoices page checks them.

        An invoice number names every line with that number (one per account, at most), as in
        ``removeInvoices``.
        """
        paying = [line for line in session.selected_lines() if line.key not in removing]
        enforce = bool(self._config["enforceMinimumAmount"])
        chosen: dict[str, Decimal] = {}
        for number, value in amounts.items():
            lines = [line for line in paying if line.invoice_number == number]
            if not lines:
                raise ControlError(400, "unknown_invoice", f"Not among the invoices being paid: {number}")
            amount = parse_amount(value)
            for line in lines:
                if not line.part_payable:
                    message = f"Invoice {number} does not allow partial payments (or has nothing to pay)"
                    raise ControlError(400, "partial_not_allowed", message)
                if amount is None:
                    message = f'Invoice {number}: {value!r} is not an amount like "12.34" (two decimals at most)'
                    raise ControlError(400, "invalid_amount", message)
                problem = line.amount_problem(amount, enforce_minimum=enforce)
                if problem is not None:
                    raise ControlError(400, "invalid_amount", f"Invoice {number}: {problem}")
                chosen[line.key] = amount
        return chosen

    def _handle_config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                return json_response(self.update_config(read_json(request)))
            except ControlError as error:
                return control_error(error)
        return json_response(self.config())

    def _handle_reset(self, request: Request) -> Response:
        self.reset()
        return json_response({"reset": True})

    def _handle_customers(self, request: Request) -> Response:
        with self._lock:
            customers = [entry.to_json() for entry in self._customers.values()]
        return json_response({"customers": customers})


@dataclass(frozen=True)
class _Completion:
    """A ``POST /_sim/sessions/{id}/complete`` body, read."""

    outcome: str
    kind: MethodKind
    remove: list[str]
    amounts: dict[str, Any]  # invoice number -> amount as sent; checked against the invoice later
    ignore_expiry: bool


_COMPLETE_FIELDS: Final = frozenset({"outcome", "method", "removeInvoices", "amounts", "ignoreExpiry"})


def _parse_complete_body(request: Request) -> _Completion:
    body = read_json(request, exact_numbers=True)
    if not isinstance(body, dict):
        raise ControlError(400, "invalid_request", "The body must be a JSON object")
    unknown = sorted(set(body) - _COMPLETE_FIELDS)
    if unknown:
        raise ControlError(400, "invalid_request", f"Unknown fields: {', '.join(unknown)}")
    outcome = body.get("outcome")
    if outcome not in ("approve", "decline"):
        raise ControlError(400, "invalid_request", "outcome must be approve or decline")
    kind = method_kind(body.get("method", "CARD"))
    if kind is None:
        raise ControlError(400, "invalid_request", "method must be CARD or ACH")
    remove = body.get("removeInvoices", [])
    if not isinstance(remove, list) or not all(isinstance(number, str) for number in remove):
        raise ControlError(400, "invalid_request", "removeInvoices must be a list of invoice numbers")
    amounts = body.get("amounts", {})
    if not isinstance(amounts, dict):
        raise ControlError(400, "invalid_request", 'amounts must be an object like {"INV-1": "12.34"}')
    ignore_expiry = body.get("ignoreExpiry", False)
    if not isinstance(ignore_expiry, bool):
        raise ControlError(400, "invalid_request", "ignoreExpiry must be true or false")
    return _Completion(outcome, kind, remove, amounts, ignore_expiry)
