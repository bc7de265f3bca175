"""The sandbox's stand-in for ``sam deploy``: tables, secrets and the functions' environment, made
from template.yaml's own definitions against whatever AWS endpoint boto3 is pointed at (moto's
server in the sandbox, moto's in-process mock in the tests)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import boto3

from stackdef.names import StackNames
from stackdef.template import (
    create_table_request,
    evaluate_conditions,
    function_environment,
    function_specs,
    load_template,
    resolve,
)

__all__ = [
    "StackNames",
    "StackSecrets",
    "environment",
    "function_environments",
    "provision",
    "template_variable_names",
]


@dataclass(frozen=True)
class StackSecrets:
    """Secret values, made fresh for each sandbox run (and each test)."""

    ic_api_key: str = field(default_factory=lambda: "ic-" + secrets.token_urlsafe(24))
    biller_guid: str = field(default_factory=lambda: "3f1c2a4e-0000-4000-8000-" + secrets.token_hex(6))
    web_service_key: str = field(default_factory=lambda: "ws-" + secrets.token_urlsafe(24))
    postback_keys: dict[str, Any] = field(
        default_factory=lambda: {
            "current": "2",
            "keys": {"1": secrets.token_urlsafe(32), "2": secrets.token_urlsafe(32)},
        }
    )
    registration_hash_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    # What Invoice Cloud presents to the balance refresh (IC_REFRESH_SECRET_ARN), as the stack generates it.
    refresh_credential: dict[str, str] = field(
        default_factory=lambda: {"username": "invoicecloud", "secret": secrets.token_urlsafe(36)}
    )
    statement_link_keys: dict[str, Any] = field(
        default_factory=lambda: {"current": "1", "keys": {"1": secrets.token_urlsafe(32)}}
    )

    def all_values(self) -> list[str]:
        """Every secret string, for tests that prove none reaches a log line."""
        return [
            self.ic_api_key,
            self.web_service_key,
            self.registration_hash_key,
            *self.postback_keys["keys"].values(),
            self.refresh_credential["secret"],
            *self.statement_link_keys["keys"].values(),
        ]


def provision(names: StackNames, values: StackSecrets, *, sender_email: str) -> dict[str, str]:
    """Create the tables, secrets, billing bucket and SES sender; answer the template's logical ids
    with their names/ARNs."""
    dynamodb = boto3.client("dynamodb")
    template = load_template()
    for logical_id, table_name, ttl_attribute in (
        ("AppTable", names.app_table, "ttl"),
        ("IdempotencyTable", names.idempotency_table, "expiration"),
    ):
        dynamodb.create_table(**create_table_request(logical_id, table_name, template))
        dynamodb.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
        )
    secretsmanager = boto3.client("secretsmanager")
    ic_secret = {"apiKey": values.ic_api_key, "billerGuid": values.biller_guid, "webServiceKey": values.web_service_key}
    arns = {
        "InvoiceCloudSecret": secretsmanager.create_secret(
            Name=names.ic_secret_name, SecretString=json.dumps(ic_secret)
        ),
        "PostbackKeysSecret": secretsmanager.create_secret(
            Name=names.postback_keys_secret_name, SecretString=json.dumps(values.postback_keys)
        ),
        "RegistrationHashKeySecret": secretsmanager.create_secret(
            Name=names.registration_hash_secret_name, SecretString=values.registration_hash_key
        ),
        "InvoiceCloudRefreshSecret": secretsmanager.create_secret(
            Name=names.refresh_secret_name, SecretString=json.dumps(values.refresh_credential)
        ),
        "StatementLinkKeysSecret": secretsmanager.create_secret(
            Name=names.statement_link_keys_secret_name, SecretString=json.dumps(values.statement_link_keys)
        ),
    }
    s3 = boto3.client("s3")
    for bucket in (names.billing_bucket, names.inbound_bucket, names.exports_bucket):
        s3.create_bucket(Bucket=bucket)
    boto3.client("ses").verify_email_identity(EmailAddress=sender_email)
    return {
        "AppTable": names.app_table,
        "BillingBucket": names.billing_bucket,
        "InboundBucket": names.inbound_bucket,
        "ExportsBucket": names.exports_bucket,
        "IdempotencyTable": names.idempotency_table,
        **{logical_id: answer["ARN"] for logical_id, answer in arns.items()},
    }


def function_environments(resources: dict[str, str], parameters: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each function's environment, by logical id, as Lambda gives it: Globals' variables and the
    function's own over them, resolved with sandbox resources and parameter values (a parameter not
    given takes its template default)."""
    template = load_template()
    refs: dict[str, Any] = {name: spec["Default"] for name, spec in template["Parameters"].items() if "Default" in spec}
    refs.update(parameters)
    conditions = evaluate_conditions(refs, template)
    refs.update(resources)
    return {
        spec.logical_id: {
            name: _as_text(value)
            for name, value in resolve(function_environment(spec, template), refs, conditions).items()
        }
        for spec in function_specs(template)
    }


def environment(resources: dict[str, str], parameters: dict[str, str]) -> dict[str, str]:
    """Every function's variables at once, for code that runs several functions' code in one process
    (tests calling handlers and services directly, the sandbox's own demo data), so two functions may
    not give one variable two values. The sandbox's workers each get only their own
    (:func:`function_environments`)."""
    variables: dict[str, str] = {}
    owners: dict[str, str] = {}
    for logical_id, own in function_environments(resources, parameters).items():
        for name, value in own.items():
            if name in variables and variables[name] != value:
                raise ValueError(f"{logical_id} sets {name} to another value than {owners[name]}")
            variables[name] = value
            owners.setdefault(name, logical_id)
    return variables


def template_variable_names() -> set[str]:
    """Every variable name any function's environment sets (Globals' and the functions' own)."""
    template = load_template()
    return {name for spec in function_specs(template) for name in function_environment(spec, template)}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)
