"""Invoice Cloud's side of the balance refresh's format: reading the biller's answer.

The answer's shape lives in a format file of the layer (``avocette/formats/<name>.json``, named by the
sandbox's ``IC_REFRESH_FORMAT``): the backend writes through it, and the simulator reads through the same
file here, written apart from the backend's writer, so that a new format file changes both and a test
of the two together finds where they part. The template is the answer with ``$field`` where a value
goes and one list holding the template of an invoice (see ``avocette.invoicecloud.refresh_format``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from avocette.formats import FormatNotFoundError, load_format
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from sandbox.invoicecloud.config import ControlError

__all__ = ["DEFAULT_REFRESH_FORMAT", "AnswerError", "RefreshAnswerFormat", "RefreshedAccount", "RefreshedInvoice"]

DEFAULT_REFRESH_FORMAT: Final = "invoicecloud-refresh-v1"
_MAX_ANSWER_BYTES: Final = 1024 * 1024
_MAX_AMOUNT: Final = Decimal("100000000.00")


class AnswerError(ValueError):
    """The biller's answer does not read as the format says (the text says where, never a value)."""


@dataclass(frozen=True)
class RefreshedInvoice:
    invoice_number: str
    due_date: date | None
    balance_due: Decimal


@dataclass(frozen=True)
class RefreshedAccount:
    account_number: str | None  # when the format carries it
    invoices: tuple[RefreshedInvoice, ...]


@dataclass(frozen=True)
class RefreshAnswerFormat:
    name: str
    syntax: str
    media_type: str
    date_format: str
    body: Mapping[str, Any]

    @classmethod
    def load(cls, name: str) -> RefreshAnswerFormat:
        try:
            spec = load_format(name)
        except FormatNotFoundError as exc:
            raise ControlError(400, "unknown_format", str(exc)) from None
        return cls.from_spec(spec)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> RefreshAnswerFormat:
        return cls(
            name=str(spec["format"]),
            syntax=str(spec["syntax"]),
            media_type=str(spec["mediaType"]),
            date_format=str(spec.get("dateFormat", "%m/%d/%Y")),
            body=spec["body"],
        )

    # ---- reading ------------------------------------------------------------------------------

    def read(self, data: bytes) -> RefreshedAccount:
        """The account and its invoices as the answer states them; :class:`AnswerError` when it does not
        read as the format says."""
        if len(data) > _MAX_ANSWER_BYTES:
            raise AnswerError("the answer is larger than 1 MB")
        account: dict[str, Any] = {}
        invoices: list[dict[str, Any]] = []
        if self.syntax == "json":
            try:
                document = json.loads(data.decode("utf-8"), parse_float=Decimal)
            except (UnicodeDecodeError, ValueError):
                raise AnswerError("the answer is not JSON") from None
            self._json(self.body, document, "body", account, invoices)
        else:
            try:
                root = ElementTree.fromstring(data)
            except (ElementTree.ParseError, DefusedXmlException):
                raise AnswerError("the answer is not XML") from None
            ((name, template),) = self.body.items()
            if root.tag != name:
                raise AnswerError(f"the root element is not {name}")
            self._xml(template, root, name, account, invoices)
        return RefreshedAccount(
            account_number=_text(account.get("accountNumber")),
            invoices=tuple(self._invoice(values, index) for index, values in enumerate(invoices)),
        )

    def _json(
        self, template: Any, node: Any, where: str, values: dict[str, Any], invoices: list[dict[str, Any]]
    ) -> None:
        if isinstance(template, str) and template.startswith("$"):
            values[template[1:]] = node
        elif isinstance(template, dict):
            if not isinstance(node, dict):
                raise AnswerError(f"{where} is not an object")
            for key, inner in template.items():
                if key in node:
                    self._json(inner, node[key], f"{where}.{key}", values, invoices)
        elif isinstance(template, list):
            if not isinstance(node, list):
                raise AnswerError(f"{where} is not a list")
            for index, item in enumerate(node):
                found: dict[str, Any] = {}
                self._json(template[0], item, f"{where}[{index}]", found, [])
                invoices.append(found)

    def _xml(
        self, template: Any, element: Any, where: str, values: dict[str, Any], invoices: list[dict[str, Any]]
    ) -> None:
        if isinstance(template, str) and template.startswith("$"):
            values[template[1:]] = element.text or ""
        elif isinstance(template, dict):
            for key, inner in template.items():
                children = [child for child in element if child.tag == key]
                if isinstance(inner, list):
                    for index, child in enumerate(children):
                        found: dict[str, Any] = {}
                        self._xml(inner[0], child, f"{where}.{key}[{index}]", found, [])
                        invoices.append(found)
                elif children:
                    self._xml(inner, children[0], f"{where}.{key}", values, invoices)

    def _invoice(self, values: Mapping[str, Any], index: int) -> RefreshedInvoice:
        number = _text(values.get("invoiceNumber"))
        if not number:
            raise AnswerError(f"invoice {index} has no invoice number")
        return RefreshedInvoice(
            invoice_number=number,
            due_date=self._date(values.get("dueDate"), index),
            balance_due=_amount(values.get("balanceDue"), index),
        )

    def _date(self, value: Any, index: int) -> date | None:
        if value in (None, ""):
            return None
        try:
            return datetime.strptime(str(value), self.date_format).date()
        except ValueError:
            raise AnswerError(f"invoice {index}: the due date is not in the form {self.date_format}") from None


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip()


def _amount(value: Any, index: int) -> Decimal:
    """An amount as text (``"84.20"``) or a JSON number, two decimals at most, 0 to 100,000,000."""
    if value is None or isinstance(value, bool):
        raise AnswerError(f"invoice {index} has no balance due")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise AnswerError(f"invoice {index}: the balance due is not an amount") from None
    if not amount.is_finite() or not 0 <= amount <= _MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        raise AnswerError(f"invoice {index}: the balance due is not an amount of 0 to 100,000,000.00")
    return amount.quantize(Decimal("0.01"))
