"""``python -m tools portal``: publish the demo portal to a trial stack (``CreateDemoUserPool=true``).

The portal is ``sandbox/portal`` as it is, plus the ``config.json`` that the stack's outputs make: the
API's address and the hosted sign-in (Cognito's, with the authorization code and PKCE) in place of
the sandbox's ``/dev/token``. The files go to the stack's portal bucket (``PortalBucketName``), which
only its CloudFront distribution reads; files the portal no longer has are removed, and CloudFront's
copies are invalidated, so that the next page load gets the new ones.

Which stack: ``--env dev`` reads its name and region from ``samconfig.toml`` (as ``make deploy`` does);
``--stack NAME`` names one in the environment's region. A stack without the demo portal (``prod``)
has nothing to publish: the command says so and succeeds, so that ``make deploy`` can always end
with it.
"""

from __future__ import annotations

import json
import mimetypes
import sys
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from stackdef.portal import PORTAL_CONTENT_TYPES, PORTAL_DIR
from stackdef.template import ROOT

__all__ = [
    "CONFIG_NAME",
    "Published",
    "Site",
    "portal_config",
    "publish",
    "run",
    "samconfig_stack",
    "site_files",
    "stack_outputs",
]

CONFIG_NAME = "config.json"  # the sandbox's own stays in the repository; a stack gets one made for it
SAMCONFIG = ROOT / "samconfig.toml"
# Every file is checked again by the browser (ETag), after CloudFront's own copies are invalidated.
CACHE_CONTROL = "no-cache"
SCOPES = ("openid", "email")


class PortalError(Exception):
    """What stops a publish, said in one line with what to do."""


@dataclass(frozen=True)
class Site:
    """Where a trial stack's portal lives and what it talks to, from the stack's outputs."""

    bucket: str
    distribution_id: str
    portal_url: str
    api_url: str
    sign_in_url: str
    client_id: str
    biller_time_zone: str = "America/New_York"  # the stack's BillerTimeZone: every time the portal shows

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, str], parameters: Mapping[str, str] | None = None) -> Site | None:
        """None for a stack without the demo portal (no ``PortalBucketName`` output)."""
        if not outputs.get("PortalBucketName"):
            return None
        wanted = {
            "bucket": "PortalBucketName",
            "distribution_id": "PortalDistributionId",
            "portal_url": "PortalUrl",
            "api_url": "ApiUrl",
            "sign_in_url": "DemoSignInUrl",
            "client_id": "DemoUserPoolClientId",
        }
        missing = [output for output in wanted.values() if not outputs.get(output)]
        if missing:
            raise PortalError(f"the stack's outputs lack {', '.join(missing)}: deploy the current template.yaml first")
        zone = (parameters or {}).get("BillerTimeZone") or cls.biller_time_zone
        return cls(**{field: outputs[output] for field, output in wanted.items()}, biller_time_zone=zone)


@dataclass(frozen=True)
class Published:
    uploaded: tuple[str, ...]
    removed: tuple[str, ...]
    invalidation_id: str


def portal_config(site: Site) -> dict[str, Any]:
    """The deployed portal's ``config.json`` (read by ``sandbox/portal/js/config.js``)."""
    return {
        "apiBaseUrl": site.api_url.rstrip("/"),
        "billerTimeZone": site.biller_time_zone,
        "signIn": {
            "kind": "cognito",
            "authority": site.sign_in_url.rstrip("/"),
            "clientId": site.client_id,
            # The app client's callback and sign-out URL (template.yaml): the portal's own address.
            "redirectUri": site.portal_url,
            "scopes": list(SCOPES),
        },
    }


def site_files(portal_dir: Path = PORTAL_DIR) -> dict[str, Path]:
    """The portal's files by bucket key, but the sandbox's ``config.json``."""
    files = {
        path.relative_to(portal_dir).as_posix(): path
        for path in sorted(portal_dir.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }
    files.pop(CONFIG_NAME, None)
    return files


def _content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return PORTAL_CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def publish(site: Site, *, portal_dir: Path = PORTAL_DIR, session: Any = None) -> Published:
    """Upload the portal and its config to ``site.bucket``, remove what it no longer has, and
    invalidate the distribution. ``index.html`` goes last, so that it never names a file not there yet."""
    session = session or boto3.session.Session()
    s3 = session.client("s3")
    files = site_files(portal_dir)
    config = json.dumps(portal_config(site), indent=2).encode()
    uploads: list[tuple[str, bytes]] = [(key, path.read_bytes()) for key, path in files.items() if key != "index.html"]
    uploads.append((CONFIG_NAME, config))
    if "index.html" in files:
        uploads.append(("index.html", files["index.html"].read_bytes()))
    for key, body in uploads:
        s3.put_object(
            Bucket=site.bucket, Key=key, Body=body, ContentType=_content_type(key), CacheControl=CACHE_CONTROL
        )
    keep = {key for key, _ in uploads}
    stale = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=site.bucket)
        for item in page.get("Contents", [])
        if item["Key"] not in keep
    ]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(
            Bucket=site.bucket, Delete={"Objects": [{"Key": key} for key in stale[start : start + 1000]], "Quiet": True}
        )
    invalidation = session.client("cloudfront").create_invalidation(
        DistributionId=site.distribution_id,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"publish-{time.time_ns()}"},
    )
    return Published(
        uploaded=tuple(key for key, _ in uploads),
        removed=tuple(stale),
        invalidation_id=str(invalidation["Invalidation"]["Id"]),
    )


def samconfig_stack(env: str, path: Path = SAMCONFIG) -> tuple[str, str | None]:
    """The stack name and region ``make deploy ENV=<env>`` deploys to."""
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    try:
        deploy = config[env]["deploy"]["parameters"]
    except KeyError:
        raise PortalError(f"samconfig.toml has no environment {env!r}") from None
    return str(deploy["stack_name"]), deploy.get("region")


def stack_outputs(stack_name: str, session: Any = None) -> dict[str, str]:
    return stack_values(stack_name, session)[0]


def stack_values(stack_name: str, session: Any = None) -> tuple[dict[str, str], dict[str, str]]:
    """The stack's outputs and parameters."""
    session = session or boto3.session.Session()
    (stack,) = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    parameters = {item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])}
    return outputs, parameters


def run(*, env: str | None, stack: str | None, region: str | None = None) -> int:
    try:
        if env:
            stack, configured_region = samconfig_stack(env)
            region = region or configured_region
        if not stack:
            raise PortalError("name the stack: --env dev (from samconfig.toml) or --stack <name>")
        session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
        site = Site.from_outputs(*stack_values(stack, session))
        if site is None:
            print(f"{stack} has no demo portal (CreateDemoUserPool is false): nothing to publish")
            return 0
        published = publish(site, session=session)
    except PortalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    removed = f", {len(published.removed)} removed" if published.removed else ""
    print(f"published {len(published.uploaded)} files to s3://{site.bucket}{removed}")
    print(f"CloudFront invalidation {published.invalidation_id} (a minute or two); then open {site.portal_url}")
    return 0
