"""Postbacks: the form fields one payment attempt causes, and sending them from a background thread.

The shape of the postbacks (one per payment, per invoice or per account; which InvoiceNumber; the
amount's format) and the delivery faults (delay, duplicates, reordering, dropping, retries) follow
the config, because nobody has documented which of them Invoice Cloud does (DESIGN.md §4a).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import requests

from sandbox.invoicecloud.amounts import format_postback_amount, money
from sandbox.invoicecloud.clock import payment_date, rfc3339
from sandbox.invoicecloud.sessions import Attempt, DeliveryRecord, PaidLine, Session

__all__ = [
    "POSTBACK_TIMEOUT_SECONDS",
    "REMOTE_IP",
    "PostbackSender",
    "build_postbacks",
    "delivery_deadline",
    "plan_deliveries",
]

logger = logging.getLogger(__name__)

REMOTE_IP: Final = "127.0.0.1"
POSTBACK_TIMEOUT_SECONDS: Final = 10.0


def build_postbacks(
    *, biller_guid: str, session: Session, attempt: Attempt, config: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The form fields of every postback one attempt causes, in logical order (fee on the first)."""
    groups = _postback_groups(attempt.paid, config["postbackMode"])
    billing = session.billing
    postbacks = []
    for position, group in enumerate(groups):
        amount = sum((item.amount for item in group), Decimal(0))
        fee = attempt.fee if position == 0 else Decimal(0)
        paid = amount + fee if config["feeInAmount"] else amount
        postbacks.append(
            {
                "BillerGUID": biller_guid,
                "PaymentDate": payment_date(attempt.at),
                "InvoiceNumber": _postback_invoice_number(session, group, config),
                "Approved": "True" if attempt.approved else "False",
                "CustomerName": billing.name,
                "CustomerAddress": billing.address,
                "CustomerCity": billing.city,
                "CustomerState": billing.state,
                "CustomerZip": billing.zip,
                "PaymentGUID": attempt.payment_guid,
                "PaymentAmount": format_postback_amount(paid, config["amountFormat"]),
                "PaymentDescription": "Online payment: " + ", ".join(item.line.invoice_number for item in group),
                "PaymentTypeID": attempt.payment_type_id,
                "CardType": attempt.method.card_type,
                "PaymentMessage": attempt.payment_message,
                "BillerReference": session.biller_reference,
                "ConvenienceFee": money(fee),
                "RemoteIP": REMOTE_IP,
            }
        )
    return postbacks


def _postback_groups(paid: Sequence[PaidLine], mode: str) -> list[tuple[PaidLine, ...]]:
    if mode == "perInvoice":
        return [(item,) for item in paid]
    if mode == "perAccount":
        by_account: dict[int, list[PaidLine]] = {}
        for item in paid:
            by_account.setdefault(item.line.customer_index, []).append(item)
        return [tuple(group) for group in by_account.values()]
    return [tuple(paid)]


def _postback_invoice_number(session: Session, group: Sequence[PaidLine], config: Mapping[str, Any]) -> str:
    """InvoiceNumber: "blank" and "first" look at the invoices paid in the postback's group;
    "firstRequested" at the request, as a sender that copies it from the request would: the first
    invoice requested (of the group's account, per account), even one the payer removed."""
    when_several = config["invoiceNumberWhenSeveral"]
    if when_several == "firstRequested" and config["postbackMode"] != "perInvoice":
        account = group[0].line.customer_index if config["postbackMode"] == "perAccount" else None
        return session.requested_lines(account)[0].invoice_number
    if len(group) == 1 or when_several == "first":
        return group[0].line.invoice_number
    return ""


def plan_deliveries(postbacks: Sequence[dict[str, str]], config: Mapping[str, Any]) -> list[DeliveryRecord]:
    """Apply the ordering and duplication faults: the records in the order they will be sent."""
    ordered = list(reversed(postbacks)) if config["reorderPostbacks"] else list(postbacks)
    copies = 1 + int(config["duplicatePostbacks"])
    return [DeliveryRecord(fields=dict(fields)) for fields in ordered for _ in range(copies)]


def delivery_deadline(attempt: Attempt, config: Mapping[str, Any]) -> float:
    """The longest a delivery thread can take, so a waiting control call cannot hang forever."""
    tries = 1 + int(config["postbackRetries"])
    per_try = POSTBACK_TIMEOUT_SECONDS + float(config["postbackRetryDelaySeconds"])
    return float(config["postbackDelaySeconds"]) + len(attempt.postbacks) * tries * per_try + 5.0


class PostbackSender:
    """Sends an attempt's planned postbacks in a background thread, recording every try.

    ``lock`` is the simulator's: a delivery record is only changed under it, since the control
    API reads the records while they are being sent.
    """

    def __init__(self, lock: threading.RLock, clock: Callable[[], datetime]) -> None:
        self._lock = lock
        self._clock = clock

    def start(self, session: Session, attempt: Attempt, config: Mapping[str, Any]) -> None:
        """Start delivering; ``attempt.done`` is set when there is nothing (more) to send."""
        if not attempt.postbacks or config["dropPostbacks"]:
            attempt.done.set()
            return
        thread = threading.Thread(
            target=self._deliver,
            args=(session, attempt, session.postback_url, config),
            name="ic-postbacks",  # never the session id: it opens the payer's page
            daemon=True,
        )
        thread.start()

    def _deliver(self, session: Session, attempt: Attempt, url: str, config: Mapping[str, Any]) -> None:
        """Background delivery of one attempt's postbacks, one after another, like a real sender."""
        try:
            if session.discarded.wait(float(config["postbackDelaySeconds"])):
                return
            with requests.Session() as http:
                http.trust_env = False  # 127.0.0.1 must never go through a proxy from the environment
                for record in attempt.postbacks:
                    self._deliver_one(http, session, record, url, config)
        finally:
            attempt.done.set()

    def _deliver_one(
        self, http: requests.Session, session: Session, record: DeliveryRecord, url: str, config: Mapping[str, Any]
    ) -> None:
        tries = 1 + int(config["postbackRetries"])
        for number in range(tries):
            if session.discarded.is_set():
                return
            status, error = _post_form(http, url, record.fields)
            with self._lock:
                record.attempts.append({"status": status, "error": error, "at": rfc3339(self._clock())})
                record.delivered = status is not None and 200 <= status < 300
            if record.delivered:
                return
            if number + 1 < tries and session.discarded.wait(float(config["postbackRetryDelaySeconds"])):
                return
        logger.warning("Postback for %s given up after %d tries", session.biller_reference or "-", tries)


def _post_form(http: requests.Session, url: str, fields: Mapping[str, str]) -> tuple[int | None, str | None]:
    """POST one postback; the error text names the failure but never the URL (it carries the token)."""
    try:
        response = http.post(url, data=dict(fields), timeout=POSTBACK_TIMEOUT_SECONDS, allow_redirects=False)
    except requests.Timeout:
        return None, f"Timeout: no answer within {POSTBACK_TIMEOUT_SECONDS:.0f} s"
    except requests.ConnectionError:
        return None, "ConnectionError: could not connect"
    except requests.RequestException as error:
        return None, type(error).__name__
    return response.status_code, None
