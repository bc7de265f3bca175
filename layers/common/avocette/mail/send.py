"""Sending email through SES. Addresses and bodies are payer data: they are never logged."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from avocette import SERVICE_NAME

__all__ = ["send_email", "ses"]

logger = Logger(service=SERVICE_NAME, child=True)


@lru_cache(maxsize=1)
def ses() -> Any:
    return boto3.client("ses", config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=5))


def send_email(*, sender: str, to: str, subject: str, body: str, purpose: str) -> bool:
    """Send one plain-text email from ``sender`` (SENDER_EMAIL); False (and a warning naming only ``purpose``)
    when SES refuses or cannot be reached: an email never undoes what was already done."""
    try:
        ses().send_email(
            Source=sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
            },
        )
    except (ClientError, BotoCoreError) as exc:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
        logger.warning("Email not sent", extra={"purpose": purpose, "error_code": code})
        return False
    logger.info("Email sent", extra={"purpose": purpose})
    return True
