"""CloudManagement web services: ViewCustomerRecord and UpdateCustomerRecord, form-encoded in, XML out."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping

from werkzeug.wrappers import Request, Response

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
from sandbox.invoicecloud.responses import FORM_MIMETYPE, gateway_error, soap_fault, xml_response

__all__ = ["CloudManagement"]


class CloudManagement(SimulatorCore):
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
