"""A trial stack anyone can deploy and sign in to (issue 20): no reserved concurrency unless asked
for, the demo user pool's hosted sign-in and the app client the demo portal signs in with, the portal
itself (a private bucket behind CloudFront), the parameters a trial no longer needs and the Rules that
still require them of production. The template is read as CloudFormation would read it
(``stackdef.template``: parameters, conditions, ``Fn::If``, Rules) for its defaults and for each
``samconfig.toml`` environment; SAM's own translation is checked where it differs."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from stackdef.portal import PORTAL_CSP
from stackdef.template import (
    NO_VALUE,
    ROOT,
    evaluate_conditions,
    failed_rules,
    function_specs,
    load_template,
    parameter_values,
    resolve,
)
from tools import portal

pytestmark = pytest.mark.infra

# docs/operations.md, Reserved concurrency: what prod reserves, by function.
PROD_RESERVATIONS = {
    "StartPaymentFunction": ("StartPaymentReservedConcurrency", 50),
    "PostbackFunction": ("PostbackReservedConcurrency", 20),
    "RegisterUserFunction": ("RegisterUserReservedConcurrency", 10),
    "ExpirePaymentsFunction": ("ExpirePaymentsReservedConcurrency", 1),
    "ImportBillingFunction": ("ImportBillingReservedConcurrency", 1),
    "ReconcilePaymentsFunction": ("ReconcilePaymentsReservedConcurrency", 1),
    "ExportPaymentsFunction": ("ExportPaymentsReservedConcurrency", 1),
    "ExportChangesFunction": ("ExportChangesReservedConcurrency", 1),
}
LAMBDA_UNRESERVED_MINIMUM = 100  # Lambda refuses a reservation that leaves fewer unreserved executions
TRIAL_RESOURCES = {
    "DemoUserPool",
    "DemoUserPoolDomain",
    "DemoUserPoolClient",
    "PortalBucket",
    "PortalBucketPolicy",
    "PortalOriginAccessControl",
    "PortalResponseHeaders",
    "PortalDistribution",
}
# What a stack on the portal's own provider must name (and a trial stack need not).
SITE_PARAMETERS = {
    "JwtIssuer": "https://login.avocette.example/",
    "JwtAudience": "portal-client",
    "CorsAllowOrigins": "https://portal.avocette.example",
    "PortalReturnUrl": "https://portal.avocette.example/#/return/{paymentId}",
}
# What every stack is asked for (make deploy ENV=<env> GUIDED=1).
ALWAYS_ASKED = {
    "SenderEmail": "billing@avocette.example",
    "BillingBucketName": "avocette-billing-trial",
    "InboundBucketName": "avocette-inbound-trial",
    "ExportsBucketName": "avocette-exports-trial",
}
# What CloudFormation gives a stack's own pseudo parameters and attributes, for resolving values.
PSEUDO = {
    "AWS::StackName": "avocette-payments-dev",
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "PortalDistribution.DomainName": "d1234abcd.cloudfront.net",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def samconfig_overrides(env: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    return dict(re.findall(r'(\w+)="([^"]*)"', config[env]["deploy"]["parameters"]["parameter_overrides"]))


def stack(template: dict[str, Any], overrides: dict[str, str]) -> tuple[dict[str, Any], dict[str, bool]]:
    """The parameter values (with the pseudo parameters) and conditions of a stack deployed with ``overrides``."""
    refs = {**parameter_values(overrides, template), **PSEUDO}
    return refs, evaluate_conditions(refs, template)


def created(template: dict[str, Any], conditions: dict[str, bool]) -> set[str]:
    return {name for name, resource in template["Resources"].items() if conditions.get(resource.get("Condition"), True)}


def reservations(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, int]:
    """Each function's ReservedConcurrentExecutions as CloudFormation would set it; none left out."""
    refs, conditions = stack(template, overrides)
    found = {}
    for spec in function_specs(template):
        value = template["Resources"][spec.logical_id]["Properties"].get("ReservedConcurrentExecutions", NO_VALUE)
        value = resolve(value, refs, conditions)
        if value is not NO_VALUE:
            found[spec.logical_id] = int(value)
    return found


# ---- reserved concurrency -----------------------------------------------------------------------


def test_every_reservation_is_a_parameter_whose_zero_means_none(template: dict[str, Any]) -> None:
    resources, parameters = template["Resources"], template["Parameters"]
    reserving = set()
    for spec in function_specs(template):
        properties = resources[spec.logical_id]["Properties"]
        if "ReservedConcurrentExecutions" not in properties:
            skips = resources[spec.logical_id]["Metadata"]["checkov"]["skip"]
            assert "CKV_AWS_115" in {skip["id"] for skip in skips}, spec.logical_id  # says why it has none
            continue
        reserving.add(spec.logical_id)
        condition, when_set, otherwise = properties["ReservedConcurrentExecutions"]["Fn::If"]
        parameter = when_set["Ref"]
        assert otherwise == {"Ref": "AWS::NoValue"}, spec.logical_id
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, "0"]}]}
        assert (parameters[parameter]["Default"], parameters[parameter]["MinValue"]) == (0, 0), parameter
        assert parameter == PROD_RESERVATIONS[spec.logical_id][0]
    assert reserving == set(PROD_RESERVATIONS)


def test_the_defaults_and_dev_reserve_nothing(template: dict[str, Any]) -> None:
    assert reservations(template, {}) == {}
    assert reservations(template, samconfig_overrides("dev")) == {}


def test_prod_reserves_what_the_runbook_sizes_and_its_quota_says_so(template: dict[str, Any]) -> None:
    reserved = reservations(template, samconfig_overrides("prod"))
    assert reserved == {function: size for function, (_, size) in PROD_RESERVATIONS.items()}
    total = sum(reserved.values())
    operations = (ROOT / "docs/operations.md").read_text()
    assert f"quota must be at least {LAMBDA_UNRESERVED_MINIMUM + total}" in " ".join(operations.split())
    for parameter, _ in PROD_RESERVATIONS.values():
        assert f"`{parameter}`" in operations, parameter


def test_the_readme_says_what_quota_a_stack_needs() -> None:
    deploying = readme_section("## Deploying")
    assert "100" in deploying and "unreserved" in deploying
    total = sum(size for _, size in PROD_RESERVATIONS.values())
    assert f"{LAMBDA_UNRESERVED_MINIMUM + total}" in deploying
    assert "reserves nothing" in deploying  # the trial


# ---- what a trial is asked for, and what production must still name -----------------------------


def test_a_trial_is_asked_only_for_its_sender_and_bucket_names(template: dict[str, Any]) -> None:
    overrides = {**samconfig_overrides("dev"), **ALWAYS_ASKED}
    refs, _ = stack(template, overrides)
    without_value = [name for name in template["Parameters"] if name not in refs]
    assert without_value == []
    assert failed_rules(refs, template) == {}


@pytest.mark.parametrize("missing", sorted(SITE_PARAMETERS))
def test_production_must_name_its_provider_origins_and_return_page(template: dict[str, Any], missing: str) -> None:
    complete = {**samconfig_overrides("prod"), **ALWAYS_ASKED, **SITE_PARAMETERS}
    assert failed_rules(stack(template, complete)[0], template) == {}
    incomplete = {name: value for name, value in complete.items() if name != missing}
    failed = failed_rules(stack(template, incomplete)[0], template)
    assert list(failed) == ["PortalProviderIsNamed"]
    assert missing in failed["PortalProviderIsNamed"]


def test_an_empty_audience_or_origin_in_a_list_is_refused(template: dict[str, Any]) -> None:
    for name in ("JwtAudience", "CorsAllowOrigins"):
        values = {**ALWAYS_ASKED, **SITE_PARAMETERS, name: f"{SITE_PARAMETERS[name]},"}
        assert "PortalProviderIsNamed" in failed_rules(stack(template, values)[0], template), name


# ---- identity: the hosted sign-in and the portal's app client ------------------------------------


def test_the_trial_resources_exist_only_in_a_trial(template: dict[str, Any]) -> None:
    trial = {name for name, resource in template["Resources"].items() if resource.get("Condition") == "UseDemoUserPool"}
    assert trial == TRIAL_RESOURCES
    _, prod = stack(template, samconfig_overrides("prod"))
    _, dev = stack(template, samconfig_overrides("dev"))
    assert not TRIAL_RESOURCES & created(template, prod)
    assert created(template, dev) >= TRIAL_RESOURCES
    outputs = {name for name, output in template["Outputs"].items() if output.get("Condition") == "UseDemoUserPool"}
    assert outputs == {
        "DemoUserPoolId",
        "DemoUserPoolClientId",
        "DemoSignInUrl",
        "PortalUrl",
        "PortalBucketName",
        "PortalDistributionId",
    }


def test_the_hosted_sign_in_has_a_domain_derived_from_the_stack_unless_named(template: dict[str, Any]) -> None:
    domain = template["Resources"]["DemoUserPoolDomain"]["Properties"]
    assert domain["UserPoolId"] == {"Ref": "DemoUserPool"}
    assert domain["ManagedLoginVersion"] == 1  # the classic hosted UI: no branding resource needed
    pattern = re.compile(template["Parameters"]["DemoSignInDomainPrefix"]["AllowedPattern"])
    for overrides, expected in (
        (samconfig_overrides("dev"), "avocette-payments-dev-123456789012"),
        ({**samconfig_overrides("dev"), "DemoSignInDomainPrefix": "my-trial"}, "my-trial"),
    ):
        refs, conditions = stack(template, overrides)
        prefix = resolve(domain["Domain"], refs, conditions)
        assert prefix == expected
        # Cognito's rules for a prefix: lower case, digits and hyphens, at most 63, no reserved words.
        assert pattern.fullmatch(prefix) and len(prefix) <= 63
        assert not {"aws", "amazon", "cognito"} & set(re.split(r"[^a-z]+", prefix))
    assert template["Outputs"]["DemoSignInUrl"]["Value"] == {
        "Fn::Sub": "https://${DemoUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"
    }


def test_the_portal_client_signs_in_with_the_code_and_pkce_back_to_the_portal(template: dict[str, Any]) -> None:
    client = template["Resources"]["DemoUserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False  # a browser keeps no secret: PKCE instead
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]  # no implicit flow: tokens never ride in a URL
    assert set(client["AllowedOAuthScopes"]) == set(portal.SCOPES)
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    portal_url = template["Outputs"]["PortalUrl"]["Value"]
    assert client["CallbackURLs"] == [portal_url] and client["LogoutURLs"] == [portal_url]
    # Password sign-in only for whoever holds the account's IAM credentials (a test user's token for curl).
    assert sorted(client["ExplicitAuthFlows"]) == ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"


def test_the_api_trusts_the_pool_and_lets_only_the_portal_call_it(template: dict[str, Any]) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    for env, issuer, audience, origins in (
        (
            "dev",
            "https://cognito-idp.us-east-1.amazonaws.com/DemoUserPool",
            ["DemoUserPoolClient"],
            ["https://d1234abcd.cloudfront.net"],
        ),
        ("prod", SITE_PARAMETERS["JwtIssuer"], ["portal-client"], ["https://portal.avocette.example"]),
    ):
        refs, conditions = stack(template, {**samconfig_overrides(env), **SITE_PARAMETERS})
        refs.update(DemoUserPool="DemoUserPool", DemoUserPoolClient="DemoUserPoolClient")
        jwt = resolve(api["Auth"]["Authorizers"]["PortalJwt"]["JwtConfiguration"], refs, conditions)
        assert (jwt["issuer"], jwt["audience"]) == (issuer, audience), env
        cors = resolve(api["CorsConfiguration"], refs, conditions)
        assert cors["AllowOrigins"] == origins, env
        assert sorted(cors["AllowHeaders"]) == ["authorization", "content-type", "idempotency-key"], env


def test_sam_translates_the_cors_choice_whole(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """SAM takes an intrinsic function in AllowOrigins for the whole CORS configuration (dropping the
    headers and methods): the template chooses the whole configuration, and both choices keep them."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    document = yaml_parse((ROOT / "template.yaml").read_text())
    for resource in document["Resources"].values():  # the code is uploaded by sam deploy; any URI will do here
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"
            # SnapStart off, as AWS::LanguageExtensions resolves its Fn::If before SAM reads the alias.
            resource["Properties"].pop("AutoPublishAlias", None)
            resource["Properties"].pop("SnapStart", None)
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    translated = transform(document, {"CorsAllowOrigins": "https://portal.avocette.example"}, NoManagedPolicies())
    cors = translated["Resources"]["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]
    condition, trial, production = cors["Fn::If"]
    assert condition == "UseDemoUserPool"
    assert trial["allowOrigins"] == [{"Fn::Sub": "https://${PortalDistribution.DomainName}"}]
    assert production["allowOrigins"] == "https://portal.avocette.example"
    for choice in (trial, production):
        assert choice["allowHeaders"] == ["authorization", "content-type", "idempotency-key"]
        assert choice["allowMethods"] == ["GET", "POST", "DELETE", "OPTIONS"]


def test_invoice_cloud_returns_trial_payers_to_the_demo_portal(template: dict[str, Any]) -> None:
    refs, conditions = stack(template, samconfig_overrides("dev"))
    for function in ("StartPaymentFunction", "ReconcilePaymentsFunction"):
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        url = resolve(variables["PORTAL_RETURN_URL"], refs, conditions)
        assert url == "https://d1234abcd.cloudfront.net/#/return/{paymentId}", function
        assert url.startswith(resolve(template["Outputs"]["PortalUrl"]["Value"], refs, conditions))
    prod_refs, prod_conditions = stack(template, {**samconfig_overrides("prod"), **SITE_PARAMETERS})
    variables = template["Resources"]["StartPaymentFunction"]["Properties"]["Environment"]["Variables"]
    assert resolve(variables["PORTAL_RETURN_URL"], prod_refs, prod_conditions) == SITE_PARAMETERS["PortalReturnUrl"]


# ---- the demo portal's site ---------------------------------------------------------------------


def test_the_portal_is_a_private_bucket_only_its_distribution_reads(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    bucket = resources["PortalBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}
    statements = {s["Sid"]: s for s in resources["PortalBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {"CloudFrontReadsThePortal", "TlsOnly"}
    read = statements["CloudFrontReadsThePortal"]
    assert (read["Effect"], read["Principal"], read["Action"]) == (
        "Allow",
        {"Service": "cloudfront.amazonaws.com"},
        "s3:GetObject",
    )
    assert read["Condition"]["StringEquals"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${PortalDistribution}"
    }
    assert statements["TlsOnly"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_distribution_serves_the_portal_over_https_through_origin_access_control(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    control = resources["PortalOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert (control["OriginAccessControlOriginType"], control["SigningBehavior"], control["SigningProtocol"]) == (
        "s3",
        "always",
        "sigv4",
    )
    config = resources["PortalDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["PortalBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["PortalOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not the legacy identity
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": "PortalResponseHeaders"}
    assert config["DefaultRootObject"] == "index.html"


def csp_directives(policy: str) -> dict[str, list[str]]:
    directives = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *values = directive.split()
        directives[name] = values
    return directives


def portal_csp(template: dict[str, Any]) -> str:
    headers = template["Resources"]["PortalResponseHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    policy = headers["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    assert policy["Override"] is True
    refs, conditions = stack(template, samconfig_overrides("dev"))
    refs["DemoUserPoolDomain"] = "avocette-payments-dev-123456789012"
    return str(resolve(policy["ContentSecurityPolicy"], refs, conditions))


def test_the_portal_keeps_the_sandbox_policy_and_may_call_only_the_api_and_the_sign_in(
    template: dict[str, Any],
) -> None:
    deployed, sandbox = csp_directives(portal_csp(template)), csp_directives(PORTAL_CSP)
    assert {name: values for name, values in deployed.items() if name != "connect-src"} == {
        name: values for name, values in sandbox.items() if name != "connect-src"
    }
    assert deployed["connect-src"] == [
        *sandbox["connect-src"],
        "https://*.execute-api.us-east-1.amazonaws.com",
        "https://avocette-payments-dev-123456789012.auth.us-east-1.amazoncognito.com",
    ]
    security = template["Resources"]["PortalResponseHeaders"]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]
    assert security["ContentTypeOptions"]["Override"] is True  # modules must arrive as JavaScript
    assert security["FrameOptions"]["FrameOption"] == "DENY"


def test_the_portal_publisher_reads_outputs_the_template_has(template: dict[str, Any]) -> None:
    outputs = {
        "ApiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
        "PortalUrl": "https://d1234abcd.cloudfront.net/",
        "PortalBucketName": "bucket",
        "PortalDistributionId": "E123",
        "DemoSignInUrl": "https://x.auth.us-east-1.amazoncognito.com",
        "DemoUserPoolClientId": "client",
    }
    assert set(outputs) <= set(template["Outputs"])
    assert portal.Site.from_outputs(outputs) is not None
    assert portal.Site.from_outputs({"ApiUrl": outputs["ApiUrl"]}) is None  # prod: no portal


# ---- the scan covers the trial --------------------------------------------------------------------


def test_make_scan_scans_a_copy_with_the_trial_switched_on(template: dict[str, Any], tmp_path: Path) -> None:
    """checkov evaluates conditions with the parameters' defaults, so the trial's resources are
    scanned in the copy `make scan` makes; it must differ in that default alone."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nscan: $(SCAN_STAMP)\n", 1)[1].split("\n\n", 1)[0]
    (copy_line,) = [line.strip() for line in recipe.splitlines() if line.strip().startswith("sed ")]
    command = copy_line.replace("$(TRIAL_TEMPLATE)", str(tmp_path / "trial.yaml"))
    subprocess.run(command, shell=True, cwd=ROOT, check=True)  # noqa: S602 - the Makefile's own line
    assert "$(SCAN_VENV)/bin/checkov --file $(TRIAL_TEMPLATE)" in recipe
    trial = load_template(tmp_path / "trial.yaml")
    assert evaluate_conditions(parameter_values({}, trial), trial)["UseDemoUserPool"] is True
    trial["Parameters"]["CreateDemoUserPool"]["Default"] = "false"
    assert trial == template


# ---- the README ---------------------------------------------------------------------------------


def readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n{title}\n")
    end = readme.find("\n## ", start + len(title) + 2)
    return readme[start : end if end != -1 else None]


def test_health_commands_name_the_stacks_samconfig_deploys() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    stacks = {config[env]["deploy"]["parameters"]["stack_name"] for env in ("dev", "prod")}
    assert stacks == {"avocette-payments-dev", "avocette-payments"}
    named = []
    for path in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        for name in re.findall(r"tools health --stack (\S+)", path.read_text()):
            named.append(name)
            assert name in stacks or name.startswith(("<", '"$')), f"{path.name}: health --stack {name}"
    assert "avocette-payments-dev" in named


def test_the_readme_walks_a_trial_from_deploy_to_paying() -> None:
    trial = readme_section("### Deploying a trial")
    # What a trial needs from Invoice Cloud, and what works before it arrives.
    for words in ("test biller", "UNKNOWN", "invoice_cloud_not_configured", "503", "No money was taken"):
        assert words in trial, words
    steps = [
        "make deploy ENV=dev GUIDED=1",
        "make portal ENV=dev",
        "aws cloudformation describe-stacks",
        "aws sesv2 create-email-identity",
        "tools postback-keys rotate",
        "aws s3 cp sandbox/data/billing/",
        "aws cognito-idp admin-create-user",
        "Name=email_verified,Value=true",
        "aws cognito-idp admin-set-user-password",
        "aws cognito-idp admin-initiate-auth",
        '"$API/payments"',
        "**Sign in**",
        "aws secretsmanager put-secret-value",
        "tools health --stack avocette-payments-dev",
        "**Pay bills**",
    ]
    at = 0
    for step in steps:  # each after the one before
        found = trial.find(step, at)
        assert found != -1, f"{step!r} is missing, or not after the step before it"
        at = found + len(step)
    # The registration values the README offers are the demo file's.
    with (ROOT / "sandbox/data/billing/20261101T060000Z-full.csv").open(newline="") as handle:
        demo = {row["AccountNumber"]: row["RegistrationValue"] for row in csv.DictReader(handle)}
    offered = dict(re.findall(r"`(ACCT-\d+)` with `([^`]+)`", trial))
    offered.update(re.findall(r'"accountNumber": "(ACCT-\d+)", "registrationValue": "([^"]+)"', trial))
    assert len(offered) >= 4 and all(demo.get(account) == value for account, value in offered.items()), offered


def test_make_deploy_ends_by_publishing_the_portal_and_make_portal_publishes_it_again() -> None:
    def planned(*arguments: str) -> list[str]:
        environment = {name: value for name, value in os.environ.items() if name not in ("ENV", "MAKEFLAGS", "GUIDED")}
        result = subprocess.run(
            ["make", "--no-print-directory", "-n", *arguments],  # noqa: S607 - make from the PATH, as a person runs it
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=environment,
            check=True,
        )
        return [line for line in result.stdout.splitlines() if "/bin/sam " in line or "-m tools" in line]

    deploy = planned("deploy", "ENV=dev")
    assert [line.split("/bin/", 1)[1].split()[:4] for line in deploy] == [
        ["sam", "build", "--config-env", "dev"],
        ["sam", "deploy", "--config-env", "dev"],
        ["python", "-m", "tools", "portal"],
    ]
    assert deploy[-1].endswith("-m tools portal --env dev")
    assert planned("portal", "ENV=dev") == [deploy[-1]]
