"""The Invoice Cloud simulator: CPV2 API, hosted payment pages, postbacks, CloudManagement, payment
files, the balance refresh, control API.

One WSGI app, all state in memory behind one re-entrant lock (see ``core``). The simulator is
strict where the real service is only documented loosely (see ``validation.py``) and configurable
where its behaviour is unknown (DESIGN.md §4a, ``avocette/settings``), so that the tests can run our client
against every plausible answer. Each area is a mixin in its own module: ``api`` (CPV2),
``hosted`` (the payer's pages), ``control`` (``/_sim/``), ``cloud_management`` (customer records),
``payment_files`` (the daily payment file, ``/_sim/payment-files``), ``refresh`` (pulling an account's
balances from the biller, and the customer portal's page of them).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.invoicecloud.api import Cpv2Api
from sandbox.invoicecloud.balances import CopiedInvoice, RefreshTarget
from sandbox.invoicecloud.clock import AdjustableClock
from sandbox.invoicecloud.cloud_management import CloudManagement
from sandbox.invoicecloud.config import DEFAULT_CONFIG
from sandbox.invoicecloud.control import ControlApi
from sandbox.invoicecloud.customers import CLOUD_MANAGEMENT_PATH, CustomerEntry, CustomerRecord
from sandbox.invoicecloud.hosted import HostedPages
from sandbox.invoicecloud.payment_file_format import PaymentFileSink
from sandbox.invoicecloud.payment_files import PaymentFiles
from sandbox.invoicecloud.refresh import BalanceRefresh
from sandbox.invoicecloud.responses import SimulatorRequest, json_response

__all__ = [
    "DEFAULT_CONFIG",
    "AdjustableClock",
    "CopiedInvoice",
    "CustomerRecord",
    "InvoiceCloudSimulator",
    "PaymentFileSink",
    "RefreshTarget",
]

logger = logging.getLogger(__name__)

_URL_MAP: Final = Map(
    [
        Rule("/", endpoint="index", methods=["GET"]),
        Rule("/static/ic.css", endpoint="css", methods=["GET"]),
        Rule("/cloudpaymentsapi/v2", endpoint="cpv2", methods=["POST"]),
        Rule("/api/v1/biller/status", endpoint="biller_status", methods=["GET"]),
        Rule("/cloudpayments/<session_id>", endpoint="hosted_start", methods=["GET"]),
        Rule("/cloudpayments/<session_id>/<step>", endpoint="hosted_step", methods=["GET", "POST"]),
        Rule("/portal/", endpoint="customer_portal", methods=["GET", "POST"]),
        Rule("/portal/accounts/<path:account_number>", endpoint="customer_account", methods=["GET"]),
        Rule(f"{CLOUD_MANAGEMENT_PATH}/ViewCustomerRecord", endpoint="view_customer", methods=["POST"]),
        Rule(f"{CLOUD_MANAGEMENT_PATH}/UpdateCustomerRecord", endpoint="update_customer", methods=["POST"]),
        Rule("/_sim/sessions", endpoint="list_sessions", methods=["GET"]),
        Rule("/_sim/sessions/<session_id>", endpoint="show_session", methods=["GET"]),
        Rule("/_sim/sessions/<session_id>/complete", endpoint="complete_session", methods=["POST"]),
        Rule("/_sim/config", endpoint="config", methods=["GET", "POST"]),
        Rule("/_sim/reset", endpoint="reset", methods=["POST"]),
        Rule("/_sim/customers", endpoint="customers", methods=["GET"]),
        Rule("/_sim/payment-files", endpoint="write_payment_file", methods=["POST"]),
        Rule("/_sim/payment-files/<path:key>", endpoint="read_payment_file", methods=["GET"]),
        Rule("/_sim/refresh/<path:account_number>", endpoint="refresh", methods=["GET", "POST"]),
        Rule("/_sim/portal-payments", endpoint="portal_payment", methods=["POST"]),
    ]
)


class InvoiceCloudSimulator(Cpv2Api, HostedPages, ControlApi, CloudManagement, PaymentFiles, BalanceRefresh):
    """A WSGI app playing Invoice Cloud for one biller; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str,
        biller_guid: str,
        web_service_key: str,
        biller_name: str = "Avocette Utilities",
        customer_records: Iterable[CustomerRecord] = (),
        clock: Callable[[], datetime] | None = None,
        payment_file_sink: PaymentFileSink | None = None,
        invoice_load: Mapping[str, Sequence[CopiedInvoice]] | None = None,
        invoice_load_as_of: datetime | None = None,
        refresh_target: RefreshTarget | None = None,
    ) -> None:
        """``clock`` answers "now" for everything the simulator does (default: real UTC time, whole
        seconds); the sandbox passes one it can move forward, e.g. :class:`AdjustableClock`.

        ``payment_file_sink(key, data)`` stores each payment file written and answers ``(bucket, key)``
        (the sandbox puts it into the bucket the backend reconciles from). Either way the simulator
        keeps the last file of each key, served at ``GET /_sim/payment-files/<key>``.

        ``invoice_load`` is the biller's last invoice load, by account (as of ``invoice_load_as_of``): what
        Invoice Cloud's customer portal shows until a balance refresh; ``refresh_target`` is how to reach
        the biller's balance refresh (none: ``POST /_sim/refresh/...`` answers 409)."""
        super().__init__(
            api_key=api_key,
            biller_guid=biller_guid,
            web_service_key=web_service_key,
            biller_name=biller_name,
            customer_records=customer_records,
            clock=clock,
            payment_file_sink=payment_file_sink,
            invoice_load=invoice_load,
            invoice_load_as_of=invoice_load_as_of,
            refresh_target=refresh_target,
        )
        self._handlers: dict[str, Callable[..., Response]] = {
            "index": self._handle_index,
            "css": self._handle_css,
            "cpv2": self._handle_cpv2,
            "biller_status": self._handle_biller_status,
            "hosted_start": self._handle_hosted,
            "hosted_step": self._handle_hosted,
            "customer_portal": self._handle_customer_portal,
            "view_customer": self._handle_view_customer,
            "update_customer": self._handle_update_customer,
            "list_sessions": self._handle_list_sessions,
            "show_session": self._handle_show_session,
            "complete_session": self._handle_complete_session,
            "config": self._handle_config,
            "reset": self._handle_reset,
            "customers": self._handle_customers,
            "write_payment_file": self._handle_write_payment_file,
            "read_payment_file": self._handle_read_payment_file,
            "refresh": self._handle_refresh,
            "portal_payment": self._handle_portal_payment,
            "customer_account": self._handle_customer_account,
        }

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def biller_guid(self) -> str:
        return self._biller_guid

    @property
    def web_service_key(self) -> str:
        return self._web_service_key

    def put_customer_record(self, record: CustomerRecord) -> None:
        """Add or replace a customer record, until the next reset (for tests)."""
        with self._lock:
            self._customers[record.account_number] = CustomerEntry(dataclasses.replace(record))

    def customer_records(self) -> dict[str, dict[str, Any]]:
        """What ``GET /_sim/customers`` shows, by account number."""
        with self._lock:
            return {number: entry.to_json() for number, entry in self._customers.items()}

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = SimulatorRequest(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = _URL_MAP.bind_to_environ(request.environ)
        try:
            endpoint, arguments = adapter.match()
            return self._handlers[endpoint](request, **arguments)
        except HTTPException as error:
            return error.get_response(request.environ)
        except Exception:
            # The path is not logged: under /cloudpayments/ it holds the session id.
            logger.exception("Simulator failed on %s %s", request.method, request.path.split("/")[1])
            return json_response({"error": "simulator_error", "message": "The simulator failed"}, 500)
