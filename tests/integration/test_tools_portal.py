"""``python -m tools portal`` (``make portal ENV=dev``, the end of ``make deploy``): the demo portal
published to a trial stack, against moto's S3, CloudFront and CloudFormation. What the stack's outputs
say becomes the portal's config.json; every file carries the content type a browser needs; what the
portal no longer has leaves the bucket; CloudFront's copies are invalidated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stackdef.portal import PORTAL_DIR
from tools import portal
from tools.__main__ import main

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def trial_site(session: boto3.session.Session) -> portal.Site:
    """A portal bucket (with a file an older portal had) and a distribution, as a trial stack has."""
    s3 = session.client("s3")
    s3.create_bucket(Bucket="trial-portal")
    s3.put_object(Bucket="trial-portal", Key="js/retired.js", Body=b"// gone")
    distribution = session.client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": "trial",
            "Comment": "demo portal",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "portal",
                        "DomainName": "trial-portal.s3.us-east-1.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {"TargetOriginId": "portal", "ViewerProtocolPolicy": "redirect-to-https"},
        }
    )["Distribution"]
    return portal.Site(
        bucket="trial-portal",
        distribution_id=distribution["Id"],
        portal_url=f"https://{distribution['DomainName']}/",
        api_url="https://abc123.execute-api.us-east-1.amazonaws.com",
        sign_in_url="https://avocette-payments-dev-123456789012.auth.us-east-1.amazoncognito.com",
        client_id="portalclient123",
    )


def stack_outputs(site: portal.Site) -> dict[str, str]:
    return {
        "ApiUrl": site.api_url,
        "PortalUrl": site.portal_url,
        "PortalBucketName": site.bucket,
        "PortalDistributionId": site.distribution_id,
        "DemoSignInUrl": site.sign_in_url,
        "DemoUserPoolClientId": site.client_id,
        "AppTableName": "avocette-payments-dev-AppTable",
    }


def create_stack(session: boto3.session.Session, name: str, outputs: dict[str, str]) -> None:
    """A stack with these outputs (moto creates it from a template of literal outputs)."""
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    session.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def objects(session: boto3.session.Session, bucket: str) -> dict[str, dict[str, Any]]:
    s3 = session.client("s3")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key) for key in keys}


def test_publish_uploads_the_portal_with_its_types_and_the_stacks_config(aws: boto3.session.Session) -> None:
    site = trial_site(aws)

    published = portal.publish(site, session=aws)

    stored = objects(aws, site.bucket)
    files = {path.relative_to(PORTAL_DIR).as_posix() for path in PORTAL_DIR.rglob("*") if path.is_file()}
    assert set(stored) == files and "js/config.js" in stored and "index.html" in stored
    assert published.removed == ("js/retired.js",)
    assert published.uploaded[-1] == "index.html"  # last: it never names a file not uploaded yet
    types = {key: item["ContentType"] for key, item in stored.items()}
    assert types["index.html"] == "text/html; charset=utf-8"
    assert {types[key] for key in stored if key.endswith(".js")} == {"text/javascript; charset=utf-8"}
    assert types["styles.css"] == "text/css; charset=utf-8" and types["config.json"] == "application/json"
    assert {item["CacheControl"] for item in stored.values()} == {"no-cache"}
    assert stored["index.html"]["Body"].read() == (PORTAL_DIR / "index.html").read_bytes()

    config = json.loads(stored["config.json"]["Body"].read())
    assert config == {
        "apiBaseUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
        "billerTimeZone": "America/New_York",  # the stack's BillerTimeZone, the template's default here
        "signIn": {
            "kind": "cognito",
            "authority": "https://avocette-payments-dev-123456789012.auth.us-east-1.amazoncognito.com",
            "clientId": "portalclient123",
            "redirectUri": site.portal_url,
            "scopes": ["openid", "email"],
        },
    }
    # The sandbox's own config.json (/dev/token) never reaches a stack.
    assert json.loads((PORTAL_DIR / "config.json").read_text())["signIn"] == {"kind": "sandbox"}

    invalidation = aws.client("cloudfront").get_invalidation(
        DistributionId=site.distribution_id, Id=published.invalidation_id
    )["Invalidation"]
    assert invalidation["InvalidationBatch"]["Paths"]["Items"] == ["/*"]


def test_make_portal_reads_the_stack_of_the_environment_from_samconfig(
    aws: boto3.session.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    site = trial_site(aws)
    stack, region = portal.samconfig_stack("dev")
    assert (stack, region) == ("avocette-payments-dev", REGION)
    create_stack(aws, stack, stack_outputs(site))

    status = main(["portal", "--env", "dev"])

    out = capsys.readouterr().out
    assert status == 0, out
    assert f"to s3://{site.bucket}, 1 removed" in out and f"then open {site.portal_url}" in out
    assert "config.json" in objects(aws, site.bucket)


def test_a_stack_without_the_portal_has_nothing_to_publish(
    aws: boto3.session.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    create_stack(aws, "avocette-payments", {"ApiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com"})

    assert main(["portal", "--env", "prod"]) == 0
    assert "avocette-payments has no demo portal (CreateDemoUserPool is false)" in capsys.readouterr().out


def test_a_stack_of_an_older_template_says_what_it_lacks(
    aws: boto3.session.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    create_stack(aws, "old-trial", {"PortalBucketName": "b", "ApiUrl": "https://abc123.example"})

    assert main(["portal", "--stack", "old-trial"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "PortalDistributionId" in line and "deploy the current template.yaml first" in line


def test_no_such_stack_is_one_line(aws: boto3.session.Session, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["portal", "--stack", "nobody"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: AWS refused or could not be reached") and "nobody" in line
