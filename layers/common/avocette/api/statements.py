"""GET /accounts/{accountNumber}/invoices/{invoiceNumber}/statement: where to read a bill (DESIGN §3)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from avocette.api.common import CamelModel

__all__ = ["StatementResponse"]


class StatementResponse(CamelModel):
    url: str = Field(description="A presigned GET of the bill's PDF: open it in the browser before expiresAt.")
    expires_at: datetime = Field(description="When the URL stops working: 5 minutes after it was made.")
