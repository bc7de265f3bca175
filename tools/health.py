"""``python -m tools health``: is a stack ready to take payments? One line per check, ``ok`` or
``FAIL``, and exit status 1 when any check failed.

Checks: the three secrets are present and well formed (values are never printed: only key ids,
counts and lengths), the postback key ring's current key, Invoice Cloud reachable with our API key
(``GET {IC_BASE_URL}/api/v1/biller/status`` answering ``Active``), the two tables and three buckets
reachable, and the last run of each job (expiry, the biller's export, reconciliation).

Where the stack is: ``--stack NAME`` reads a deployed stack's outputs and parameters; ``--sandbox``
names the sandbox's resources (``make dev``, on ``SANDBOX_BASE_PORT``); otherwise the functions'
environment variables (``APP_TABLE_NAME``, ``IC_SECRET_ARN``, ...), each overridable by an option.

When nothing answers where the sandbox should be, the command says so at once, in one line with what
to set; an AWS that stops answering fails each check in its line within seconds (short timeouts, two
attempts), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import boto3
import requests
from avocette import clock
from avocette.errors import AppError
from avocette.invoicecloud.client import basic_credential
from avocette.security import KeyRing
from avocette.store import jobs
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stackdef import local

__all__ = [
    "Check",
    "SandboxPortError",
    "Targets",
    "add_arguments",
    "run",
    "run_checks",
    "sandbox_base_port",
    "sandbox_unreachable",
    "targets_from_stack",
]

BILLER_STATUS_PATH = "/api/v1/biller/status"
EXPIRY_JOB = "expire_payments"
EXPORT_JOB = "export_payments"
REPORT_SUFFIX = ".report.json"
PAYMENT_FILE_PREFIX = "invoicecloud/"
_HASH_KEY_MIN_LENGTH = 32
# A check answers within seconds: a short connection timeout and one retry, not botocore's minutes.
_AWS_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})
DEFAULT_SANDBOX_PORT = 3000
_UNREACHABLE = "could not be reached"


@lru_cache(maxsize=8)
def _aws(service: str) -> Any:
    """One client per service in a run (making one takes a second on a busy machine): run_checks
    forgets them when it starts, so that a run never reuses another's endpoint or credentials."""
    return boto3.client(service, config=_AWS_CONFIG)  # type: ignore[call-overload]


# Stack outputs and parameters (template.yaml) -> Targets fields.
_OUTPUTS = {
    "AppTableName": "app_table",
    "IdempotencyTableName": "idempotency_table",
    "InvoiceCloudSecretArn": "ic_secret",
    "PostbackKeysSecretArn": "postback_keys_secret",
    "RegistrationHashKeySecretArn": "hash_key_secret",
    "BillingBucketName": "billing_bucket",
    "InboundBucketName": "inbound_bucket",
    "ExportsBucketName": "exports_bucket",
}
_PARAMETERS = {"InvoiceCloudBaseUrl": "ic_base_url", "InvoiceCloudBasicAuthForm": "ic_basic_auth_form"}
# The functions' environment variables -> Targets fields (the buckets the S3 triggers name have none).
_ENVIRONMENT = {
    "APP_TABLE_NAME": "app_table",
    "IDEMPOTENCY_TABLE_NAME": "idempotency_table",
    "IC_SECRET_ARN": "ic_secret",
    "POSTBACK_KEYS_ARN": "postback_keys_secret",
    "REGISTRATION_HASH_KEY_ARN": "hash_key_secret",
    "EXPORTS_BUCKET_NAME": "exports_bucket",
    "IC_BASE_URL": "ic_base_url",
    "IC_BASIC_AUTH_FORM": "ic_basic_auth_form",
}


@dataclass(frozen=True)
class Targets:
    """What to check; an empty value fails its check with the option that sets it."""

    app_table: str = ""
    idempotency_table: str = ""
    ic_secret: str = ""
    postback_keys_secret: str = ""
    hash_key_secret: str = ""
    billing_bucket: str = ""
    inbound_bucket: str = ""
    exports_bucket: str = ""
    ic_base_url: str = ""
    ic_basic_auth_form: str = "key"
    created_at: datetime | None = None  # the stack's creation: a daily job may not have run yet


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


@dataclass(frozen=True)
class Limits:
    expiry_minutes: int = 15  # the job runs every 5 minutes
    export_hours: int = 26  # daily at 05:30 UTC
    reconcile_hours: int = 26  # Invoice Cloud's file, daily


class _Failed(Exception):
    """A check's failure, with what an operator should read (never a secret's value)."""


def targets_from_stack(outputs: Mapping[str, str], parameters: Mapping[str, str]) -> Targets:
    values: dict[str, Any] = {field: outputs[name] for name, field in _OUTPUTS.items() if outputs.get(name)}
    values.update({field: parameters[name] for name, field in _PARAMETERS.items() if parameters.get(name)})
    return Targets(**values)


def _stack_targets(stack_name: str) -> Targets:
    (stack,) = _aws("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    parameters = {item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])}
    return replace(targets_from_stack(outputs, parameters), created_at=stack.get("CreationTime"))


def _environment_targets(environ: Mapping[str, str]) -> Targets:
    values: dict[str, Any] = {field: environ[name] for name, field in _ENVIRONMENT.items() if environ.get(name)}
    return Targets(**values)


def _sandbox_targets(base_port: int) -> Targets:
    from stackdef.names import StackNames  # noqa: PLC0415 - only when asked for

    names = StackNames()
    return Targets(
        app_table=names.app_table,
        idempotency_table=names.idempotency_table,
        ic_secret=names.ic_secret_name,
        postback_keys_secret=names.postback_keys_secret_name,
        hash_key_secret=names.registration_hash_secret_name,
        billing_bucket=names.billing_bucket,
        inbound_bucket=names.inbound_bucket,
        exports_bucket=names.exports_bucket,
        ic_base_url=f"http://127.0.0.1:{base_port + 1}",
    )


# ---- the checks ---------------------------------------------------------------------------------


def _secret_text(secret_id: str, option: str) -> str:
    if not secret_id:
        raise _Failed(f"not configured (set {option})")
    try:
        answer = _aws("secretsmanager").get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        raise _Failed(f"cannot be read: {exc.response.get('Error', {}).get('Code', 'error')}") from None
    text = answer.get("SecretString")
    if not text:
        raise _Failed("empty")
    return str(text)


def _secret_object(secret_id: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(_secret_text(secret_id, option))
    except json.JSONDecodeError:
        raise _Failed("not valid JSON") from None
    if not isinstance(value, dict):
        raise _Failed("not a JSON object")
    return value


def _invoice_cloud_secret(targets: Targets) -> tuple[str, str]:
    value = _secret_object(targets.ic_secret, "--ic-secret")
    empty = [name for name in ("apiKey", "billerGuid", "webServiceKey") if not str(value.get(name) or "").strip()]
    if empty:
        raise _Failed(f"empty or missing: {', '.join(empty)} (set after deploying: docs/operations.md)")
    return "apiKey, billerGuid and webServiceKey set", str(value["apiKey"])


def _postback_keys(targets: Targets) -> str:
    value = _secret_object(targets.postback_keys_secret, "--postback-keys-secret")
    try:
        ring = KeyRing.from_secret(value)
    except ValueError as exc:
        raise _Failed(f"malformed: {exc} (python -m tools postback-keys rotate makes the first key)") from None
    return f"current key {ring.current}, {len(ring.keys)} key(s) in the ring"


def _hash_key(targets: Targets) -> str:
    length = len(_secret_text(targets.hash_key_secret, "--hash-key-secret"))
    if length < _HASH_KEY_MIN_LENGTH:
        raise _Failed(f"shorter than {_HASH_KEY_MIN_LENGTH} characters")
    return f"set ({length} characters)"


def _invoice_cloud(targets: Targets, api_key: str | None) -> str:
    if not targets.ic_base_url:
        raise _Failed("no Invoice Cloud base URL (set --ic-base-url)")
    if api_key is None:
        raise _Failed("not tried: the Invoice Cloud secret is unusable")
    url = targets.ic_base_url.rstrip("/") + BILLER_STATUS_PATH
    try:
        response = requests.get(
            url,
            headers={"Authorization": basic_credential(api_key, targets.ic_basic_auth_form), "Accept": "text/plain"},
            timeout=(3, 10),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise _Failed(f"{url} could not be reached ({type(exc).__name__})") from None
    if response.status_code in (401, 403):
        raise _Failed(f"{url} refused our API key (HTTP {response.status_code})")
    if response.status_code != 200:
        raise _Failed(f"{url} answered HTTP {response.status_code}")
    status = response.text.strip().strip('"')
    if status != "Active":
        raise _Failed(f"the biller's status is {status[:40]!r}, not 'Active'")
    return f"{targets.ic_base_url} answers Active"


def _table(name: str, option: str) -> str:
    if not name:
        raise _Failed(f"not configured (set {option})")
    table = _aws("dynamodb").describe_table(TableName=name)["Table"]
    status = table.get("TableStatus", "?")
    if status != "ACTIVE":
        raise _Failed(f"{name} is {status}")
    return f"{name} ACTIVE"


def _bucket(name: str, option: str) -> str:
    if not name:
        raise _Failed(f"not configured (set {option})")
    _aws("s3").head_bucket(Bucket=name)
    return f"{name} reachable"


def _age(moment: datetime, now: datetime) -> str:
    minutes = max(0, int((now - moment).total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def _never(targets: Targets, window: timedelta, now: datetime, what: str) -> str:
    """A daily job that never ran: fine on a stack younger than its window, a failure after."""
    if targets.created_at is not None and now - targets.created_at > window:
        raise _Failed(f"{what} never ran, and the stack is {_age(targets.created_at, now).removesuffix(' ago')} old")
    return f"{what} has not run yet"


def _job(targets: Targets, job: str, window: timedelta, now: datetime, *, daily: bool, skip: bool = False) -> str:
    if not targets.app_table:
        raise _Failed("not configured (set --table)")
    if skip:
        raise _Failed(f"not tried: the app table {_UNREACHABLE}")
    run = jobs.last_run(job, table=targets.app_table)
    if run is None:
        if daily:
            return _never(targets, window, now, "it")
        raise _Failed("never ran")
    if now - run.finished_at > window:
        raise _Failed(f"last run {_age(run.finished_at, now)} ({clock.timestamp(run.finished_at)}), over {window}")
    summary = ", ".join(f"{name} {value}" for name, value in sorted(run.summary.items()))
    return f"last run {_age(run.finished_at, now)}" + (f" ({summary})" if summary else "")


def _reconciliation(targets: Targets, window: timedelta, now: datetime) -> str:
    """The newest payment file's report: reconciliation writes one beside every file it reads."""
    if not targets.inbound_bucket:
        raise _Failed("not configured (set --inbound-bucket)")
    s3 = _aws("s3")
    since = (now - timedelta(days=7)).date().isoformat()
    newest: Any = None  # the newest report's listing entry
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=targets.inbound_bucket, Prefix=PAYMENT_FILE_PREFIX, StartAfter=f"{PAYMENT_FILE_PREFIX}{since}"
    ):
        for item in page.get("Contents", []):
            if item["Key"].endswith(REPORT_SUFFIX) and (
                newest is None or item["LastModified"] > newest["LastModified"]
            ):
                newest = item
    if newest is None:
        return _never(targets, window, now, "no payment file of the last 7 days was reconciled; reconciliation")
    report = json.loads(s3.get_object(Bucket=targets.inbound_bucket, Key=newest["Key"])["Body"].read())
    status = str(report.get("status", "?"))
    file_key = newest["Key"].removesuffix(REPORT_SUFFIX)
    finished = newest["LastModified"]
    if status != "IMPORTED":
        raise _Failed(f"{file_key} was {status} ({_age(finished, now)}): read its report")
    if now - finished > window:
        raise _Failed(f"last file {file_key} reconciled {_age(finished, now)}, over {window}")
    return f"last file {file_key} {status} {_age(finished, now)}"


def _attempt(name: str, check: Callable[[], str]) -> Check:
    try:
        return Check(name, True, check())
    except _Failed as exc:
        return Check(name, False, str(exc))
    except ClientError as exc:
        return Check(name, False, f"AWS answered {exc.response.get('Error', {}).get('Code', 'an error')}")
    except BotoCoreError as exc:
        return Check(name, False, f"AWS {_UNREACHABLE} ({type(exc).__name__})")
    except AppError as exc:  # the store's own reads (a job's last run): DynamoDB did not answer
        return Check(name, False, f"AWS {_UNREACHABLE} ({type(exc).__name__})")


def run_checks(targets: Targets, limits: Limits | None = None, now: datetime | None = None) -> list[Check]:
    limits = limits or Limits()
    now = now or clock.utc_now()
    _aws.cache_clear()
    api_key: list[str] = []

    def invoice_cloud_secret() -> str:
        detail, key = _invoice_cloud_secret(targets)
        api_key.append(key)
        return detail

    checks = [
        _attempt("secret invoice-cloud", invoice_cloud_secret),
        _attempt("secret postback-keys", lambda: _postback_keys(targets)),
        _attempt("secret registration-hash-key", lambda: _hash_key(targets)),
        _attempt("invoice-cloud", lambda: _invoice_cloud(targets, api_key[0] if api_key else None)),
        _attempt("table app", lambda: _table(targets.app_table, "--table")),
    ]
    # The jobs' last runs are read through the store's client, whose retries are the functions'
    # (seconds each): when the app table could not be reached, they are not tried.
    app_table_unreachable = _UNREACHABLE in checks[-1].detail
    checks += [
        _attempt("table idempotency", lambda: _table(targets.idempotency_table, "--idempotency-table")),
        _attempt("bucket billing", lambda: _bucket(targets.billing_bucket, "--billing-bucket")),
        _attempt("bucket inbound", lambda: _bucket(targets.inbound_bucket, "--inbound-bucket")),
        _attempt("bucket exports", lambda: _bucket(targets.exports_bucket, "--exports-bucket")),
        _attempt(
            "job expiry",
            lambda: _job(
                targets,
                EXPIRY_JOB,
                timedelta(minutes=limits.expiry_minutes),
                now,
                daily=False,
                skip=app_table_unreachable,
            ),
        ),
        _attempt(
            "job export",
            lambda: _job(
                targets,
                EXPORT_JOB,
                timedelta(hours=limits.export_hours),
                now,
                daily=True,
                skip=app_table_unreachable,
            ),
        ),
        _attempt("job reconciliation", lambda: _reconciliation(targets, timedelta(hours=limits.reconcile_hours), now)),
    ]
    return checks


# ---- the command --------------------------------------------------------------------------------

_OPTIONS = {
    "app_table": ("--table", "the app table's name"),
    "idempotency_table": ("--idempotency-table", "the idempotency table's name"),
    "ic_secret": ("--ic-secret", "the InvoiceCloudSecret ARN or name"),
    "postback_keys_secret": ("--postback-keys-secret", "the PostbackKeysSecret ARN or name"),
    "hash_key_secret": ("--hash-key-secret", "the RegistrationHashKeySecret ARN or name"),
    "billing_bucket": ("--billing-bucket", "the billing bucket's name"),
    "inbound_bucket": ("--inbound-bucket", "the bucket of Invoice Cloud's payment files"),
    "exports_bucket": ("--exports-bucket", "the biller's exports bucket"),
    "ic_base_url": ("--ic-base-url", "Invoice Cloud's base URL (the sandbox: its simulator)"),
    "ic_basic_auth_form": ("--ic-basic-auth-form", "key or key-colon (IC_BASIC_AUTH_FORM)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", help="a deployed stack's name: its outputs and parameters say what to check")
    where.add_argument(
        "--sandbox", action="store_true", help="the sandbox of `make dev` (SANDBOX_BASE_PORT, default 3000)"
    )
    for field in fields(Targets):
        if field.name in _OPTIONS:
            option, text = _OPTIONS[field.name]
            parser.add_argument(option, dest=field.name, help=text)
    parser.add_argument("--expiry-max-age-minutes", type=int, default=Limits.expiry_minutes)
    parser.add_argument("--export-max-age-hours", type=int, default=Limits.export_hours)
    parser.add_argument("--reconcile-max-age-hours", type=int, default=Limits.reconcile_hours)


class SandboxPortError(ValueError):
    """SANDBOX_BASE_PORT is set to something that is not a port."""


def sandbox_base_port() -> int:
    text = os.environ.get("SANDBOX_BASE_PORT", "").strip()
    if not text:  # the sandbox `make dev` runs from here, if any (its .sandbox/env), else the default
        try:
            aws = local.read(check=False).aws
        except local.SandboxNotFoundError:
            return DEFAULT_SANDBOX_PORT
        return (urlsplit(aws).port or DEFAULT_SANDBOX_PORT + 2) - 2
    if not text.isdigit() or not 0 < int(text) < 65534:
        raise SandboxPortError(
            f"SANDBOX_BASE_PORT={text!r} is not a port number: set it to the base port `make dev` printed (e.g. 3000)"
        )
    return int(text)


def sandbox_unreachable(endpoint: str, *, given: bool = False) -> str | None:
    """None when something listens at ``endpoint`` (the sandbox's AWS, moto: the base port + 2), else
    the one line that says so and what to set."""
    parts = urlsplit(endpoint)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=2):
            return None
    except OSError:
        pass
    if given:
        where = "the --endpoint given"
    elif os.environ.get("SANDBOX_BASE_PORT", "").strip():
        where = f"SANDBOX_BASE_PORT={os.environ['SANDBOX_BASE_PORT'].strip()}, AWS on the base port + 2"
    else:
        where = f"SANDBOX_BASE_PORT is not set, so {DEFAULT_SANDBOX_PORT}, AWS on the base port + 2"
    return (
        f"no sandbox answers at {endpoint} ({where}): start one with `make dev`, or set SANDBOX_BASE_PORT "
        "to the base port that `make dev` printed (e.g. SANDBOX_BASE_PORT=4000 python -m tools health --sandbox)"
    )


def run(arguments: argparse.Namespace) -> int:
    if arguments.stack:
        targets = _stack_targets(arguments.stack)
    elif arguments.sandbox:
        targets = _sandbox_targets(sandbox_base_port())
    else:
        targets = _environment_targets(os.environ)
    overrides = {name: getattr(arguments, name) for name in _OPTIONS if getattr(arguments, name, None)}
    targets = replace(targets, **overrides)
    limits = Limits(
        expiry_minutes=arguments.expiry_max_age_minutes,
        export_hours=arguments.export_max_age_hours,
        reconcile_hours=arguments.reconcile_max_age_hours,
    )
    checks = run_checks(targets, limits)
    for check in checks:
        print(check.line())
    failed = [check.name for check in checks if not check.ok]
    if failed:
        print(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
        return 1
    print(f"all {len(checks)} checks passed")
    return 0
