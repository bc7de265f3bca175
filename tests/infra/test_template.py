"""template.yaml: lint, SAM's own validation and build, and the facts the design relies on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stackdef.template import ROOT, function_environment, function_specs, global_environment, load_template
from tests.environment import python312, require

pytestmark = pytest.mark.infra

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def stack_environment(template: dict[str, Any]) -> dict[str, Any]:
    """Every function's variables together; a variable set by two functions must mean the same."""
    merged: dict[str, Any] = {}
    for spec in function_specs(template):
        for name, value in function_environment(spec, template).items():
            assert merged.setdefault(name, value) == value, (spec.logical_id, name)
    return merged


def run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1", **env}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=environment, check=False)


def test_cfn_lint_passes() -> None:
    result = run([str(BIN / "cfn-lint"), "template.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes() -> None:
    result = run([str(BIN / "sam"), "validate", "--lint", "--template", "template.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_build_builds_every_function_and_the_layer(tmp_path: Path) -> None:
    interpreter = python312()
    require(interpreter is not None, "python3.12 (for sam build)", "install Python 3.12, e.g. `pyenv install 3.12`")
    assert interpreter is not None
    path = f"{Path(interpreter).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = run([str(BIN / "sam"), "build", "--template", "template.yaml", "--build-dir", str(tmp_path)], PATH=path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    layer = tmp_path / "CommonLayer" / "python"
    assert (layer / "avocette" / "money.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir() and (layer / "pydantic").is_dir()
    # The file formats are data in the layer: the build must ship them.
    for name in ("invoicecloud-payments-v1", "biller-export-v1", "invoicecloud-refresh-v1", "biller-changes-v1"):
        assert (layer / "avocette" / "formats" / f"{name}.json").is_file()
    for spec in function_specs():
        assert (tmp_path / spec.logical_id / "app.py").is_file()


def test_http_api_has_jwt_authorizer_from_parameters_and_cors(template: dict[str, Any]) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "PortalJwt"
    jwt = api["Auth"]["Authorizers"]["PortalJwt"]["JwtConfiguration"]
    # The portal's provider, unless a trial stack made its own user pool (test_operations.py).
    assert jwt["issuer"]["Fn::If"][2] == {"Ref": "JwtIssuer"}
    assert jwt["audience"]["Fn::If"][2] == {"Ref": "JwtAudience"}
    # Required unless the stack makes its own pool: the Rule is tested in test_trial.py.
    (assertions,) = [rule["Assertions"] for rule in template["Rules"].values()]
    for required in ("JwtIssuer", "JwtAudience"):
        assert any(required in json.dumps(assertion["Assert"]) for assertion in assertions), required
    for cors in api["CorsConfiguration"]["Fn::If"][1:]:  # the trial's and the portal provider's
        assert sorted(cors["AllowHeaders"]) == ["authorization", "content-type", "idempotency-key"]
    assert api["FailOnWarnings"] is True
    assert "querystring" not in api["AccessLogSettings"]["Format"].lower()


def test_only_the_routes_with_a_credential_of_their_own_opt_out_of_the_jwt(template: dict[str, Any]) -> None:
    """Invoice Cloud's postback and the signed statement links it may be given (DESIGN §6g), each
    authenticated by the token in its path, and the balance refresh (its credential): every other route
    needs the JWT."""
    routes = {route.route_key: route.authorized for spec in function_specs(template) for route in spec.routes}
    assert routes.pop("POST /postback/{paymentId}/{token}") is False
    assert routes.pop("GET /statement-links/{token}") is False
    assert routes.pop("GET /invoicecloud/accounts/{accountNumber}") is False
    assert routes and all(routes.values())


def test_the_balance_refresh_route_is_throttled_on_its_own(template: dict[str, Any]) -> None:
    (event,) = template["Resources"]["RefreshBalancesFunction"]["Properties"]["Events"].values()
    settings = event["Properties"]["RouteSettings"]
    assert settings == {
        "ThrottlingBurstLimit": {"Ref": "RefreshBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "RefreshRateLimit"},
    }
    parameters = template["Parameters"]
    default = template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]
    # Tighter than the API's default: Invoice Cloud pulls an account at most every few hours.
    assert parameters["RefreshRateLimit"]["Default"] < default["ThrottlingRateLimit"]
    assert parameters["RefreshBurstLimit"]["Default"] < default["ThrottlingBurstLimit"]


def test_no_dev_routes_in_the_stack(template: dict[str, Any]) -> None:
    paths = [route.path for spec in function_specs(template) for route in spec.routes]
    assert not [path for path in paths if path.startswith("/dev")]
    assert "/dev/" not in json.dumps(template["Resources"])


def test_layer_is_built_by_sam_for_python312(template: dict[str, Any]) -> None:
    layer = template["Resources"]["CommonLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    assert (ROOT / "layers/common/requirements.txt").is_file()
    assert "build-CommonLayer:" in (ROOT / "layers/common/Makefile").read_text()
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"


def test_app_table_keys_indexes_and_protection(template: dict[str, Any]) -> None:
    table = template["Resources"]["AppTable"]
    properties = table["Properties"]
    assert [k["AttributeName"] for k in properties["KeySchema"]] == ["PK", "SK"]
    indexes = {
        index["IndexName"]: [k["AttributeName"] for k in index["KeySchema"]]
        for index in properties["GlobalSecondaryIndexes"]
    }
    assert indexes == {"GSI1": ["GSI1PK", "GSI1SK"], "GSI2": ["GSI2PK", "GSI2SK"]}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["DeletionPolicy"] == "Retain"
    idempotency = template["Resources"]["IdempotencyTable"]["Properties"]
    assert idempotency["TimeToLiveSpecification"]["AttributeName"] == "expiration"


def test_secrets_of_the_design_are_in_the_stack_and_the_environment(template: dict[str, Any]) -> None:
    env = stack_environment(template)
    for variable, resource in (
        ("IC_SECRET_ARN", "InvoiceCloudSecret"),
        ("POSTBACK_KEYS_ARN", "PostbackKeysSecret"),
        ("REGISTRATION_HASH_KEY_ARN", "RegistrationHashKeySecret"),
        ("IC_REFRESH_SECRET_ARN", "InvoiceCloudRefreshSecret"),
        ("STATEMENT_LINK_KEYS_ARN", "StatementLinkKeysSecret"),
    ):
        assert env[variable] == {"Ref": resource}
        assert template["Resources"][resource]["Type"] == "AWS::SecretsManager::Secret"


def test_logging_and_tracing_never_capture_events_or_responses(template: dict[str, Any]) -> None:
    env = global_environment(template)
    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert env["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"


def test_every_function_has_its_log_group_and_api_functions_end_before_api_gateway(template: dict[str, Any]) -> None:
    default_timeout = template["Globals"]["Function"]["Timeout"]
    for spec in function_specs(template):
        properties = template["Resources"][spec.logical_id]["Properties"]
        assert "LogGroup" in properties["LoggingConfig"], spec.logical_id
        if spec.routes:  # API Gateway gives up at 30 s
            assert (spec.timeout or default_timeout) <= 25, spec.logical_id


def test_http_api_alarm_uses_the_http_api_metric(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["Api5xxAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "5xx")
    assert alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]


def test_cpv2_options_are_settings_with_the_seed_values(template: dict[str, Any]) -> None:
    env = stack_environment(template)
    assert {name: value for name, value in env.items() if name.startswith("CPV2_") and name != "CPV2_CSS_URL"} == {
        "CPV2_CREATE_CUSTOMER_RECORD": "true", "CPV2_ALLOW_SWIPE": "false", "CPV2_ALLOW_EMV": "false",
        "CPV2_ALLOW_CC_PAYMENT": "true", "CPV2_ALLOW_ACH_PAYMENT": "true", "CPV2_VIEW_MODE": "0",
        "CPV2_PAGE_LOAD_OVERRIDE": "1", "CPV2_ALLOW_REGISTER_ACCOUNT": "false", "CPV2_ALLOW_VIEW_STATEMENT": "false",
        "CPV2_ALLOW_REMOVE": "true", "CPV2_ALLOW_VIEW_RELATED": "false", "CPV2_ALLOW_REMIND_ME": "false",
        "CPV2_INVOICE_TYPE_ID": "6", "CPV2_CC_SERVICE_FEE": "1.00", "CPV2_ACH_SERVICE_FEE": "1.00",
    }  # fmt: skip


def test_open_question_settings_have_the_design_assumptions(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["InvoiceCloudAmountIncludesFee"]["Default"] == "false"
    assert parameters["PaymentSessionMinutes"]["Default"] == 30
    assert parameters["PostbackSourceCidrs"]["Default"] == ""
    assert parameters["PaymentSessionGraceMinutes"]["Default"] == 15
    assert parameters["InvoiceCloudPaymentTypeIds"]["Default"] == "{}"
    assert parameters["AchReturnDays"]["Default"] == 5
    assert parameters["ReconcileMissingDays"]["Default"] == 3
    assert parameters["InvoiceCloudRefreshAuth"]["Default"] == "basic"
    assert parameters["InvoiceCloudRefreshSourceCidrs"]["Default"] == ""
    # Statement links for Invoice Cloud (DESIGN §6g): off until Invoice Cloud says it reads them, and where.
    from dataclasses import fields

    from avocette.settings.statements import StatementLinkSettings

    layer_defaults = {field.metadata["variable"]: field.default for field in fields(StatementLinkSettings)}
    for parameter, variable, default in (
        ("InvoiceCloudStatementLinks", "IC_STATEMENT_LINKS", "false"),
        ("InvoiceCloudStatementLinkField", "IC_STATEMENT_LINK_FIELD", "StatementURL"),
        ("InvoiceCloudStatementLinkMinutes", "IC_STATEMENT_LINK_MINUTES", 60),
    ):
        assert parameters[parameter]["Default"] == default
        assert stack_environment(template)[variable] == {"Ref": parameter}
        assert str(layer_defaults[variable]).lower() == str(default).lower()  # the layer assumes the same
    for parameter, variable in (
        ("InvoiceCloudPaymentFileFormat", "IC_PAYMENT_FILE_FORMAT"),
        ("BillerExportFormat", "BILLER_EXPORT_FORMAT"),
        ("BillerChangesFormat", "BILLER_CHANGES_FORMAT"),
        ("InvoiceCloudRefreshFormat", "IC_REFRESH_FORMAT"),
    ):
        assert stack_environment(template)[variable] == {"Ref": parameter}
        assert (ROOT / "layers/common/avocette/formats" / f"{parameters[parameter]['Default']}.json").is_file()


@pytest.mark.parametrize("bucket", ["BillingBucket", "InboundBucket", "ExportsBucket"])
def test_buckets_are_encrypted_private_versioned_and_tls_only(template: dict[str, Any], bucket: str) -> None:
    resources = template["Resources"]
    properties = resources[bucket]["Properties"]
    rule = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert properties["VersioningConfiguration"]["Status"] == "Enabled"
    assert resources[bucket]["DeletionPolicy"] == "Retain"
    policies = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    (policy,) = policies
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("bucket", ["InboundBucket", "ExportsBucket"])
def test_payment_files_and_exports_are_kept_seven_years(template: dict[str, Any], bucket: str) -> None:
    (rule,) = template["Resources"][bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert (rule["Status"], rule["ExpirationInDays"]) == ("Enabled", 2557)


def test_the_jobs_are_triggered_as_the_design_says(template: dict[str, Any]) -> None:
    specs = {spec.logical_id: spec for spec in function_specs(template)}
    assert specs["ExpirePaymentsFunction"].schedules == ("rate(5 minutes)",)
    # After the biller's midnight, in the biller's zone (DESIGN §6e), whatever the season.
    assert specs["ExportPaymentsFunction"].schedules == ("cron(30 3 * * ? *)",)
    assert specs["ExportPaymentsFunction"].schedule_time_zone == {"Ref": "BillerTimeZone"}
    # At 06:30 UTC the biller's yesterday is over, and a quarter of an hour old, in any zone but UTC-06:15..-06:30.
    assert specs["ExportChangesFunction"].schedules == ("cron(30 6 * * ? *)",)
    assert specs["ReconcilePaymentsFunction"].s3_events == (("InboundBucket", "invoicecloud/", ".csv"),)
    assert specs["ImportBillingFunction"].s3_events == (("BillingBucket", "billing/", ".csv"),)


@pytest.mark.parametrize(
    "metric",
    [
        "PaymentNeedsReview",
        "PostbackPaymentNotFound",
        "BillingRowsRejected",
        "PaymentsOpenPastGrace",
        "ReconciliationMismatch",
        "PostbackRecovered",
        "PaymentReversed",
        "PostbackMissingFromInvoiceCloud",
        "PaymentFileRejected",
        "TieOutUnbalanced",
    ],
)
def test_every_money_metric_has_an_alarm_to_the_topic(template: dict[str, Any], metric: str) -> None:
    alarms = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == metric
    ]
    assert len(alarms) == 1, metric
    (alarm,) = alarms
    assert alarm["Namespace"] == "Avocette"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "avocette-payments"}]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_committed_openapi_document_is_current() -> None:
    from stackdef.openapi import openapi_text

    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert committed == openapi_text(), "docs/openapi.json is stale: run `make openapi`"
