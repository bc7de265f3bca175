"""Pieces the API models share: camelCase on the wire, optional fields left out, identifiers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from avocette.domain.common import IDENTIFIER

__all__ = ["ACCOUNT_NUMBER", "INVOICE_NUMBER", "CamelModel", "optional"]

ACCOUNT_NUMBER = Annotated[
    str, IDENTIFIER, Field(description="The utility account number, as printed on the bill.", examples=["ACCT-1001"])
]
INVOICE_NUMBER = Annotated[
    str, IDENTIFIER, Field(description="The invoice number, unique within its account.", examples=["INV-1001-1"])
]


class CamelModel(BaseModel):
    """An API model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


def _is_none(value: object) -> bool:
    return value is None


def optional(description: str | None = None) -> Any:
    """A field the contract marks optional (``"amountPaid"?``): left out of the answer when empty."""
    return Field(None, exclude_if=_is_none, description=description)
