"""Invoice Cloud customer records (CloudManagement web service, DESIGN §4): the form we send and
the XML we read back, parsed with defusedxml."""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException, ElementTree
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CustomerRecordStatus",
    "MalformedAnswerError",
    "NewCustomerRecord",
    "fault_means_missing",
    "parse_customer_record",
    "parse_fault",
    "parse_update_answer",
]


class MalformedAnswerError(ValueError):
    """The answer is not the XML the operation returns."""


class NewCustomerRecord(BaseModel):
    """What ``UpdateCustomerRecord`` is sent to create a missing record, from billing data.

    ``PIN`` and ``BlockPaymentsCC``/``BlockPaymentsEFT`` are deliberately not fields: we never set
    them, and an existing record is never updated (DESIGN §6b)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    account_number: str = Field(alias="AccountNumber", min_length=1)
    customer_name: str = Field("", alias="CustomerName")
    address1: str = Field("", alias="Address1")
    address2: str = Field("", alias="Address2")
    city: str = Field("", alias="City")
    state: str = Field("", alias="State")
    zip: str = Field("", alias="Zip")
    phone: str = Field("", alias="Phone")
    email_address: str = Field("", alias="EmailAddress")
    registration_value: str = Field("", alias="RegistrationValue", repr=False)

    def to_form(self) -> dict[str, str]:
        """The form fields, empty ones left out."""
        return {name: value for name, value in self.model_dump(by_alias=True).items() if value}


class CustomerRecordStatus(BaseModel):
    """What ``ViewCustomerRecord`` says of an account (the login name is PII and is not kept)."""

    model_config = ConfigDict(frozen=True)

    account_number: str
    registered: bool
    registration_date: str | None = None
    auto_pay: bool | None = None
    paper_invoices: bool | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _root(xml: bytes | str) -> Element:
    try:
        root: Element = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise MalformedAnswerError("the answer is not XML") from exc
    except DefusedXmlException as exc:  # entities, DTDs: refused, never expanded
        raise MalformedAnswerError("the answer uses forbidden XML constructs") from exc
    return root


def _children(element: Element) -> dict[str, str]:
    return {_local(child.tag): (child.text or "").strip() for child in element}


def _boolean(text: str | None) -> bool | None:
    if text is None or not text.strip():
        return None
    return {"true": True, "false": False, "1": True, "0": False}.get(text.strip().lower())


def parse_customer_record(xml: bytes | str) -> CustomerRecordStatus:
    root = _root(xml)
    fields = _children(root)
    registered = _boolean(fields.get("Registered"))
    if not fields.get("AccountNumber") or registered is None:
        raise MalformedAnswerError("the customer record lacks AccountNumber or Registered")
    return CustomerRecordStatus(
        account_number=fields["AccountNumber"],
        registered=registered,
        registration_date=fields.get("RegistrationDate") or None,
        auto_pay=_boolean(fields.get("AutoPay")),
        paper_invoices=_boolean(fields.get("PaperInvoices")),
    )


def parse_fault(xml: bytes | str) -> str | None:
    """The ``faultstring`` of a SOAP fault, or None when the answer is no fault."""
    try:
        root = _root(xml)
    except MalformedAnswerError:
        return None
    for element in root.iter():
        if _local(element.tag) == "faultstring":
            return " ".join((element.text or "").split())
    return None


def parse_update_answer(xml: bytes | str) -> bool:
    """``<boolean>true</boolean>``: whether the record was saved."""
    root = _root(xml)
    value = _boolean(root.text)
    if _local(root.tag) != "boolean" or value is None:
        raise MalformedAnswerError("the answer is not a boolean")
    return value


def fault_means_missing(fault: str, pattern: str) -> bool:
    """Whether a fault says the account has no record (its wording is a setting, DESIGN §4a)."""
    return bool(re.search(pattern, fault))
