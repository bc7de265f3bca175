"""The README's *Deploying a trial*, after the deploy: its AWS CLI blocks pasted into one bash, in
order, against moto's server standing in for the account (``AWS_ENDPOINT_URL``), with a stack whose
outputs name moto's user pool, app client, secret and bucket as the real stack's name its own.

What this proves without AWS: the commands and their arguments are what the AWS CLI and the tools
accept (the outputs read by their keys, the sender verified, the key ring's first key, the billing
file stamped now, the test user created verified with a permanent password, and its ID token got
with ``ADMIN_USER_PASSWORD_AUTH``). The deploy itself, the curl calls to the API and the browser
steps need AWS; the browser steps are played against the sandbox in tests/e2e/test_trial_stack.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from sandbox.serving import free_port
from stackdef.template import ROOT, load_template
from tests.environment import require

pytestmark = pytest.mark.sandbox

STACK = "avocette-payments-dev"
_BLOCK = re.compile(r"^ *```sh\n(.*?)^ *```$", re.MULTILINE | re.DOTALL)


def trial_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Deploying a trial")
    end = readme.index("\n### ", start + 1)
    return [textwrap.dedent(block) for block in _BLOCK.findall(readme[start:end])]


@pytest.fixture(scope="module")
def account() -> Iterator[dict[str, str]]:
    """moto's server with what the trial stack would have made, and the stack's outputs naming it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    connection: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "trial",
        "aws_secret_access_key": "trial",
    }
    try:
        template = load_template()["Resources"]
        pool_properties = template["DemoUserPool"]["Properties"]
        client_properties = template["DemoUserPoolClient"]["Properties"]
        cognito = boto3.client("cognito-idp", **connection)
        pool = cognito.create_user_pool(
            PoolName=f"{STACK}-demo",
            UsernameAttributes=pool_properties["UsernameAttributes"],
            AutoVerifiedAttributes=pool_properties["AutoVerifiedAttributes"],
        )["UserPool"]["Id"]
        client = cognito.create_user_pool_client(
            UserPoolId=pool,
            ClientName=client_properties["ClientName"],
            GenerateSecret=False,
            ExplicitAuthFlows=client_properties["ExplicitAuthFlows"],
        )["UserPoolClient"]["ClientId"]
        keys = boto3.client("secretsmanager", **connection).create_secret(
            Name=f"{STACK}-postback-keys",
            SecretString=template["PostbackKeysSecret"]["Properties"]["SecretString"],  # as the stack creates it
        )["ARN"]
        boto3.client("s3", **connection).create_bucket(Bucket="trial-billing-123456789012")
        outputs = {
            "DemoUserPoolId": pool,
            "DemoUserPoolClientId": client,
            "ApiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
            "PortalUrl": "https://d1234abcd.cloudfront.net/",
            "DemoSignInUrl": "https://avocette-payments-dev-123456789012.auth.us-east-1.amazoncognito.com",
            "PostbackKeysSecretArn": keys,
            "BillingBucketName": "trial-billing-123456789012",
        }
        stack_template = {
            "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {name: {"Value": value} for name, value in outputs.items()},
        }
        boto3.client("cloudformation", **connection).create_stack(
            StackName=STACK, TemplateBody=json.dumps(stack_template)
        )
        yield {"endpoint": endpoint, **outputs}
    finally:
        server.stop()


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def test_the_trials_aws_commands_run_as_pasted(account: dict[str, str]) -> None:
    aws, bash = shutil.which("aws"), shutil.which("bash")
    require(aws is not None, "the AWS CLI (the README's trial commands)", "apt-get install awscli")
    require(bash is not None, "bash (the README's trial commands)", "install bash")
    assert bash is not None
    blocks = trial_blocks()
    assert "make deploy ENV=dev GUIDED=1" in blocks[0]
    outputs_block, keys_block, billing_block, user_block, token_block = blocks[1:6]
    # The token block's curl calls need the deployed API: the token is what this test checks of it.
    token_only = token_block.split("\nAUTH=", 1)[0]
    assert token_only.startswith("TOKEN=$(aws cognito-idp admin-initiate-auth")
    script = "\n".join(
        [
            "set -euo pipefail",
            outputs_block,
            keys_block,
            billing_block,
            user_block,
            token_only,
            'echo "token: $TOKEN"',
        ]
    )
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment.update(
        AWS_ENDPOINT_URL=account["endpoint"],
        AWS_ACCESS_KEY_ID="trial",
        AWS_SECRET_ACCESS_KEY="trial",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_PAGER="",
    )
    started = datetime.now(UTC)
    result = subprocess.run(
        [bash, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout

    assert f"portal: {account['PortalUrl']}  sign-in: {account['DemoSignInUrl']}" in out
    assert "key 1 is now current" in out
    # The file uploaded, then listed: one file, stamped now.
    (stamp,) = set(re.findall(r"(\d{8}T\d{6}Z)-full\.csv\n", out.split("upload:", 1)[1]))
    assert abs((datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) - started).total_seconds()) < 300

    connection = {
        "endpoint_url": account["endpoint"],
        "region_name": "us-east-1",
        "aws_access_key_id": "trial",
        "aws_secret_access_key": "trial",
    }
    user = boto3.client("cognito-idp", **connection).admin_get_user(
        UserPoolId=account["DemoUserPoolId"], Username="you@example.com"
    )
    assert user["UserStatus"] == "CONFIRMED"  # the password is permanent: no change asked at first sign-in
    attributes = {item["Name"]: item["Value"] for item in user["UserAttributes"]}
    assert attributes["email_verified"] == "true"  # or registration answers 403 email_unverified

    (token,) = re.findall(r"^token: (\S+)$", out, re.MULTILINE)
    claims = claims_of(token)
    assert claims["token_use"] == "id" and claims["aud"] == account["DemoUserPoolClientId"]
    assert claims["email"] == "you@example.com" and claims["sub"] == attributes["sub"]
