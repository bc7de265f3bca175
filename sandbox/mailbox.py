"""``GET /dev/mailbox``: the emails the functions asked SES to send, newest first. moto's server runs
in this process, so its SES backend is read directly."""

from __future__ import annotations

import json
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from werkzeug.wrappers import Request, Response

__all__ = ["mailbox_route", "sent_emails"]

REGION = "us-east-1"


def sent_emails() -> list[dict[str, Any]]:
    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    messages = []
    for number, message in enumerate(backend.sent_messages, start=1):
        destinations = getattr(message, "destinations", {}) or {}
        messages.append(
            {
                "id": getattr(message, "id", str(number)),
                "number": number,
                "from": getattr(message, "source", ""),
                "to": list(destinations.get("ToAddresses", [])),
                "subject": getattr(message, "subject", ""),
                "body": getattr(message, "body", ""),
            }
        )
    return messages[::-1]


def mailbox_route(request: Request) -> Response:
    """All emails, or those to ``?to=address``."""
    wanted = (request.args.get("to") or "").strip().lower()
    messages = [m for m in sent_emails() if not wanted or wanted in (address.lower() for address in m["to"])]
    return Response(json.dumps({"messages": messages}), content_type="application/json")
