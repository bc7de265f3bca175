"""CloudManagement web services (ViewCustomerRecord and UpdateCustomerRecord, form-encoded in, XML out),
and the customer portal page where a payer finishes registering (``/portal/``)."""

from __future__ import annotations

import dataclasses
import hmac
import re
from collections.abc import Mapping

from werkzeug.wrappers import Request, Response

from sandbox.invoicecloud import pages
from sandbox.invoicecloud.core import SimulatorCore
from sandbox.invoicecloud.customers import (
    CREDENTIAL_FIELDS,
    MASKED_FIELDS,
    UPDATABLE_FIELDS,
    WEB_SERVICES_NAMESPACE,
    CustomerEntry,
    CustomerRecord,
    customer_record_xml,
    update_answer_xml,
)
from sandbox.invoicecloud.responses import FORM_MIMETYPE, gateway_error, html_response, soap_fault, xml_response

__all__ = ["CloudManagement"]


_NOT_REGISTERED = (
    "We could not register that account: check the account number and the registration value printed on "
    "your bill. If Invoice Cloud has no registration value for your account yet, contact the biller."
)


def _comparable(value: str) -> str:
    """A registration value as typed and as on file compare without case, spaces or hyphens."""
    return re.sub(r"[\s-]+", "", value).upper()


class CloudManagement(SimulatorCore):
    def _handle_customer_portal(self, request: Request) -> Response:
        """GET: the registration form. POST: register the account if its registration value matches the
        one Invoice Cloud has on file (the biller sent it with UpdateCustomerRecord)."""
        if request.method == "GET":
            return html_response(pages.customer_portal_page(self.biller_name))
        account = request.form.get("account_number", "").strip()
        offered = request.form.get("registration_value", "")
        login = request.form.get("login_email", "").strip()
        if not account or not offered.strip() or "@" not in login or " " in login:
            message = "Enter the account number, the registration value and an email address for your login."
            page = pages.customer_portal_page(
                self.biller_name, account_number=account, login_email=login, message=message
            )
            return html_response(page, 400)
        with self._lock:
            entry = self._customers.get(account)
            on_file = entry.record.registration_value if entry else ""
            if entry is None or not on_file or not hmac.compare_digest(_comparable(on_file), _comparable(offered)):
                page = pages.customer_portal_page(
                    self.biller_name, account_number=account, login_email=login, message=_NOT_REGISTERED
                )
                return html_response(page, 400)
            entry.record.registered = True
            entry.record.login_name = login
            entry.record.registration_date = self._now().astimezone(self.time_zone).strftime("%m/%d/%Y")
        page = pages.customer_portal_page(self.biller_name, account_number=account, login_email=login, registered=True)
        return html_response(page)

    def _handle_view_customer(self, request: Request) -> Response:
        form, refusal = self._cloud_management_form(request)
        if refusal is not None:
            return refusal
        account = form.get("AccountNumber", "").strip()
        if not account:
            return soap_fault("Missing parameter: AccountNumber.")
        with self._lock:
            entry = self._customers.get(account)
            record = dataclasses.replace(entry.record) if entry else None
        if record is None:
            return soap_fault(f"Customer record not found for account {account}")
        return xml_response(customer_record_xml(record))

    def _handle_update_customer(self, request: Request) -> Response:
        form, refusal = self._cloud_management_form(request)
        if refusal is not None:
            return refusal
        account = form.get("AccountNumber", "").strip()
        if not account:
            return soap_fault("Missing parameter: AccountNumber.")
        sent = {
            name: ("***" if name in MASKED_FIELDS else value)
            for name, value in form.items()
            if name not in CREDENTIAL_FIELDS
        }
        with self._lock:
            entry = self._customers.setdefault(account, CustomerEntry(CustomerRecord(account, registered=False)))
            for name, attribute in UPDATABLE_FIELDS.items():
                value = form.get(name, "").strip()
                if value:
                    setattr(entry.record, attribute, value)
            entry.updates.append(sent)
        return xml_response(update_answer_xml())

    def _cloud_management_form(self, request: Request) -> tuple[Mapping[str, str], Response | None]:
        """Faults first (they stand for the service being down), then the body format, then the keys."""
        fault = self._injected_fault("customerApi")
        if fault is not None:
            return {}, self._customer_fault_response(fault)
        if request.mimetype != FORM_MIMETYPE:
            return {}, soap_fault(f"Request format is invalid: {request.mimetype or 'no content type'}.")
        form = request.form.to_dict()
        guid_ok = hmac.compare_digest(form.get("BillerGUID", "").encode(), self._biller_guid.encode())
        key_ok = hmac.compare_digest(form.get("WebServiceKey", "").encode(), self._web_service_key.encode())
        if not (guid_ok and key_ok):
            return {}, soap_fault("Invalid BillerGUID or WebServiceKey")
        return form, None

    def _customer_fault_response(self, fault: str) -> Response:
        if fault == "timeout":
            self._fault_timeout("customerApi")
            return gateway_error(504)
        if fault == "malformed":
            return xml_response(
                f'<?xml version="1.0" encoding="utf-8"?>\n<CustomerRecord xmlns="{WEB_SERVICES_NAMESPACE}"><Regis'
            )
        if fault == "reject":
            return soap_fault("Invalid BillerGUID or WebServiceKey")
        if fault == "500":
            return soap_fault("Server was unable to process request. ---> Simulated failure.")
        return gateway_error(int(fault))
