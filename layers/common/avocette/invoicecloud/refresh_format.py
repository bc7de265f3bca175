"""The answer to Invoice Cloud's balance refresh, in a format that is data (DESIGN §3, §4a).

Invoice Cloud's request and answer are not public, so the answer's shape lives in a format file of
``avocette/formats`` named by ``IC_REFRESH_FORMAT``: its syntax (JSON or XML), media type, date and
amount styles, and a template of the body. The template is the body itself with ``$field`` where a
value goes: an object (JSON) or elements (XML) in the template's order, and one list holding the
template of an invoice, repeated for each. A field without a value is left out. Switching to Invoice
Cloud's real shape is a new format file, not new code (docs/refresh.md).

Fields: ``$accountNumber``, ``$asOf``, ``$totalDue``, ``$invoiceCount`` anywhere; inside the invoice
template also ``$invoiceNumber``, ``$invoiceDate``, ``$dueDate``, ``$balanceDue``, ``$billedAmount``,
``$minimumAmountDue``, ``$allowPartialPayments``, ``$paidInFull``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal
from xml.sax.saxutils import escape as xml_escape

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from avocette import money
from avocette.domain.refresh import AccountBalances, InvoiceBalance
from avocette.formats import FormatNotFoundError, load_format

__all__ = ["ACCOUNT_FIELDS", "INVOICE_FIELDS", "FormatError", "RefreshFormat", "get_refresh_format"]

FieldKind = Literal["text", "timestamp", "date", "amount", "boolean", "integer"]

ACCOUNT_FIELDS: dict[str, FieldKind] = {
    "accountNumber": "text",
    "asOf": "timestamp",
    "totalDue": "amount",
    "invoiceCount": "integer",
}
INVOICE_FIELDS: dict[str, FieldKind] = {
    "invoiceNumber": "text",
    "invoiceDate": "date",
    "dueDate": "date",
    "balanceDue": "amount",
    "billedAmount": "amount",
    "minimumAmountDue": "amount",
    "allowPartialPayments": "boolean",
    "paidInFull": "boolean",
}
# Fields that always have a value: a JSON schema of the answer requires them.
_ALWAYS = frozenset(
    {"accountNumber", "asOf", "totalDue", "invoiceCount", "invoiceNumber", "balanceDue", "billedAmount"}
    | {"allowPartialPayments", "paidInFull"}
)
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_AMOUNT_PATTERN = r"^-?\d+\.\d{2}$"

# A value of the answer: text, a JSON number written as given (an amount), a boolean, or nothing.
Value = str | bool | int | None


class FormatError(ValueError):
    """The format file itself is unusable (a deployment problem: IC_REFRESH_FORMAT names a bad file)."""


class _Amount(str):
    """An amount's decimal text, written as a JSON number when the format says ``"amounts": "number"``."""

    __slots__ = ()


def _walk(template: Any, path: str = "body") -> Iterator[tuple[str, Any]]:
    """Every node of a template with where it is, depth first."""
    yield path, template
    if isinstance(template, dict):
        for key, value in template.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(template, list):
        for index, value in enumerate(template):
            yield from _walk(value, f"{path}[{index}]")


class RefreshFormat(BaseModel):
    """A format file of the balance refresh's answer (see the module's docstring)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    format: str
    describes: str = ""
    syntax: Literal["json", "xml"]
    media_type: str = Field(alias="mediaType", pattern=r"^[a-z]+/[a-z0-9.+-]+$")
    date_format: str = Field("%m/%d/%Y", alias="dateFormat")
    timestamp_format: str = Field("%Y-%m-%dT%H:%M:%SZ", alias="timestampFormat")
    amounts: Literal["text", "number"] = "text"
    body: dict[str, Any]

    @field_validator("date_format")
    @classmethod
    def _date_reads_back(cls, pattern: str) -> str:
        return _reads_back(pattern, whole=False)

    @field_validator("timestamp_format")
    @classmethod
    def _timestamp_reads_back(cls, pattern: str) -> str:
        return _reads_back(pattern, whole=True)

    @model_validator(mode="after")
    def _template_is_usable(self) -> RefreshFormat:
        lists = [(path, node) for path, node in _walk(self.body) if isinstance(node, list)]
        if len(lists) != 1:
            raise ValueError("the body must hold exactly one list: the template of an invoice")
        list_path, invoice_list = lists[0]
        if len(invoice_list) != 1 or not isinstance(invoice_list[0], dict) or not invoice_list[0]:
            raise ValueError(f"{list_path} must hold one object, the template of an invoice")
        inside = {path for path, _ in _walk(invoice_list[0], f"{list_path}[0]")}
        for path, node in _walk(self.body):
            _check_node(path, node, xml=self.syntax == "xml", fields={**ACCOUNT_FIELDS, **INVOICE_FIELDS}
                        if path in inside else ACCOUNT_FIELDS)  # fmt: skip
        if self.syntax == "xml" and (len(self.body) != 1 or isinstance(next(iter(self.body.values())), list)):
            raise ValueError("an XML body has one root element, which cannot repeat")
        return self

    # ---- values -------------------------------------------------------------------------------

    def _value(self, kind: FieldKind, value: Any) -> Value:
        if value is None:
            return None
        if kind == "amount":
            return _Amount(money.cents_to_text(value))
        if kind == "date":
            return str(value.strftime(self.date_format))
        if kind == "timestamp":
            return str(value.strftime(self.timestamp_format))
        if kind in ("boolean", "integer"):
            return bool(value) if kind == "boolean" else int(value)
        return str(value)

    def _account_values(self, balances: AccountBalances) -> dict[str, Value]:
        raw: dict[str, Any] = {
            "accountNumber": balances.account_number,
            "asOf": balances.as_of,
            "totalDue": balances.total_due_cents,
            "invoiceCount": len(balances.invoices),
        }
        return {name: self._value(kind, raw[name]) for name, kind in ACCOUNT_FIELDS.items()}

    def _invoice_values(self, invoice: InvoiceBalance) -> dict[str, Value]:
        raw: dict[str, Any] = {
            "invoiceNumber": invoice.invoice_number,
            "invoiceDate": invoice.invoice_date,
            "dueDate": invoice.due_date,
            "balanceDue": invoice.balance_due_cents,
            "billedAmount": invoice.billed_cents,
            "minimumAmountDue": invoice.minimum_amount_due_cents,
            "allowPartialPayments": invoice.allow_partial_payments,
            "paidInFull": invoice.paid_in_full,
        }
        return {name: self._value(kind, raw[name]) for name, kind in INVOICE_FIELDS.items()}

    def _fill(self, template: Any, values: Mapping[str, Value], invoices: list[dict[str, Value]]) -> Any:
        """The template with its fields filled; the list repeated per invoice. ``None`` for a field
        without a value (the caller leaves it out)."""
        if isinstance(template, str):
            return values.get(template[1:]) if template.startswith("$") else template
        if isinstance(template, list):
            return [self._fill(template[0], {**values, **invoice}, []) for invoice in invoices]
        if isinstance(template, dict):
            filled = {key: self._fill(node, values, invoices) for key, node in template.items()}
            kept = {key: value for key, value in filled.items() if value is not None}
            return kept or None  # an object of fields without values is left out too
        return template

    # ---- the answer ---------------------------------------------------------------------------

    def render(self, balances: AccountBalances) -> bytes:
        """The answer's bytes (UTF-8) for ``balances``."""
        invoices = [self._invoice_values(invoice) for invoice in balances.invoices]
        document = self._fill(self.body, self._account_values(balances), invoices) or {}
        if self.syntax == "json":
            return self._json(document).encode("utf-8")
        ((root, content),) = document.items()
        return ('<?xml version="1.0" encoding="utf-8"?>\n' + _xml(root, content)).encode("utf-8")

    def _json(self, node: Any) -> str:
        if isinstance(node, dict):
            return "{" + ",".join(f"{json.dumps(key)}:{self._json(value)}" for key, value in node.items()) + "}"
        if isinstance(node, list):
            return "[" + ",".join(self._json(item) for item in node) + "]"
        if isinstance(node, _Amount) and self.amounts == "number":
            return str(node)  # the exact decimal text, never through a float
        return json.dumps(node if not isinstance(node, _Amount) else str(node))

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"

    # ---- the OpenAPI document -----------------------------------------------------------------

    def json_schema(self) -> dict[str, Any]:
        """The answer's schema (for the OpenAPI document): JSON's shape, or XML's text."""
        if self.syntax == "xml":
            return {"type": "string", "description": f"XML ({self.format})"}
        return self._schema(self.body)

    def _schema(self, node: Any) -> dict[str, Any]:
        if isinstance(node, dict):
            properties = {key: self._schema(value) for key, value in node.items()}
            required = [key for key, value in node.items() if not _optional(value)]
            return {"type": "object", "properties": properties, "required": required}
        if isinstance(node, list):
            return {"type": "array", "items": self._schema(node[0])}
        if isinstance(node, str) and node.startswith("$"):
            kind = {**ACCOUNT_FIELDS, **INVOICE_FIELDS}[node[1:]]
            if kind == "amount":
                if self.amounts == "number":
                    return {"type": "number"}
                return {"type": "string", "pattern": _AMOUNT_PATTERN}
            return {"boolean": {"type": "boolean"}, "integer": {"type": "integer"}}.get(kind, {"type": "string"})
        if isinstance(node, bool):
            return {"type": "boolean", "const": node}
        if isinstance(node, int):
            return {"type": "integer", "const": node}
        return {"type": "string", "const": node}


def _reads_back(pattern: str, *, whole: bool) -> str:
    """A strftime pattern whose text reads back as the same day (the same moment, for ``whole``): Invoice
    Cloud must be able to read what we write."""
    sample = datetime(2026, 11, 25, 19, 11, 7)
    try:
        read = datetime.strptime(sample.strftime(pattern), pattern).replace(tzinfo=None)
    except ValueError:
        read = None
    if read is None or (read != sample if whole else read.date() != sample.date()):
        raise ValueError(f"{pattern!r} is not a strftime format that reads back")
    return pattern


def _check_node(path: str, node: Any, *, xml: bool, fields: Mapping[str, FieldKind]) -> None:
    """One node of a template: an object (non-empty; with element names in XML), a list, a ``$field`` known
    where it stands, or a literal."""
    if isinstance(node, dict):
        if not node and path != "body":
            raise ValueError(f"{path} is empty")
        bad = [key for key in node if xml and not _XML_NAME.match(key)]
        if bad:
            raise ValueError(f"{path}: {bad[0]!r} is not an XML element name")
    elif isinstance(node, str) and node.startswith("$"):
        if node[1:] not in fields:
            raise ValueError(f"{path}: {node} is not a field here")
    elif not isinstance(node, list | str | bool | int):
        raise ValueError(f"{path} must be an object, a list, a $field or a literal")


def _optional(template: Any) -> bool:
    """A node the answer may leave out: a field that can lack a value, or an object made only of them."""
    if isinstance(template, str):
        return template.startswith("$") and template[1:] not in _ALWAYS
    if isinstance(template, dict):
        return all(_optional(value) for value in template.values())
    return False


def _xml(name: str, content: Any) -> str:
    """An element; a list repeats it, an object nests elements, a value is escaped text."""
    if isinstance(content, list):
        return "".join(_xml(name, item) for item in content)
    if isinstance(content, dict):
        return f"<{name}>" + "".join(_xml(key, value) for key, value in content.items()) + f"</{name}>"
    text = ("true" if content else "false") if isinstance(content, bool) else str(content)
    return f"<{name}>{xml_escape(text)}</{name}>"


@lru_cache(maxsize=4)
def get_refresh_format(name: str) -> RefreshFormat:
    """The format file ``name`` (IC_REFRESH_FORMAT), checked; :class:`FormatError` when unusable."""
    try:
        return RefreshFormat.model_validate(load_format(name))
    except FormatNotFoundError as exc:
        raise FormatError(str(exc)) from None
    except ValidationError as exc:
        raise FormatError(f"the format {name!r} is not valid: {exc.errors()[0]['msg']}") from None
