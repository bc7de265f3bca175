"""CloudManagement customer records: what ViewCustomerRecord reports and UpdateCustomerRecord changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final
from xml.sax.saxutils import escape as xml_escape

__all__ = [
    "CLOUD_MANAGEMENT_PATH",
    "CREDENTIAL_FIELDS",
    "MASKED_FIELDS",
    "UPDATABLE_FIELDS",
    "WEB_SERVICES_NAMESPACE",
    "CustomerEntry",
    "CustomerRecord",
    "customer_record_xml",
    "update_answer_xml",
]

WEB_SERVICES_NAMESPACE: Final = "https://www.invoicecloud.com/portal/webservices/"
CLOUD_MANAGEMENT_PATH: Final = "/portal/webservices/CloudManagement.asmx"
CREDENTIAL_FIELDS: Final = frozenset({"BillerGUID", "WebServiceKey"})
MASKED_FIELDS: Final = frozenset({"RegistrationValue", "PIN"})


@dataclass
class CustomerRecord:
    """One CloudManagement customer record, as ViewCustomerRecord reports it."""

    account_number: str
    registered: bool
    registration_date: str | None = None  # MM/DD/YYYY
    login_name: str | None = None
    auto_pay: bool = False
    paper_invoices: bool = True
    customer_name: str = ""
    email_address: str = ""
    address1: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    registration_value: str = ""


# UpdateCustomerRecord form field -> CustomerRecord attribute; other fields are recorded, not kept.
UPDATABLE_FIELDS: Final = {
    "CustomerName": "customer_name",
    "Address1": "address1",
    "City": "city",
    "State": "state",
    "Zip": "zip",
    "EmailAddress": "email_address",
    "RegistrationValue": "registration_value",
}


@dataclass
class CustomerEntry:
    record: CustomerRecord
    updates: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "accountNumber": record.account_number,
            "registered": record.registered,
            "registrationDate": record.registration_date,
            "loginName": record.login_name,
            "autoPay": record.auto_pay,
            "paperInvoices": record.paper_invoices,
            "customerName": record.customer_name,
            "emailAddress": record.email_address,
            "address1": record.address1,
            "city": record.city,
            "state": record.state,
            "zip": record.zip,
            "registrationValue": "***" if record.registration_value else "",
            "updates": [{"fields": dict(update)} for update in self.updates],
        }


def customer_record_xml(record: CustomerRecord) -> str:
    def element(name: str, value: str | bool | None) -> str:
        text = str(value).lower() if isinstance(value, bool) else xml_escape(value or "")
        return f"  <{name}>{text}</{name}>\n"

    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<CustomerRecord xmlns="{WEB_SERVICES_NAMESPACE}">\n'
        + element("AccountNumber", record.account_number)
        + element("Registered", record.registered)
        + element("RegistrationDate", record.registration_date)
        + element("LoginName", record.login_name)
        + element("AutoPay", record.auto_pay)
        + element("PaperInvoices", record.paper_invoices)
        + "</CustomerRecord>"
    )


def update_answer_xml() -> str:
    return f'<?xml version="1.0" encoding="utf-8"?>\n<boolean xmlns="{WEB_SERVICES_NAMESPACE}">true</boolean>'
