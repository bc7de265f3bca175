"""What ops rely on in template.yaml: every alarm (and that docs/operations.md explains it), the
dashboard, the identity of a trial stack, the scan's fixes and written suppressions, the deploy
environments, and a repository that stands on its own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from typing import Any

import pytest
from avocette.domain.postbacks import Outcome, ReviewReason

from stackdef.template import ROOT, function_specs, load_template

pytestmark = pytest.mark.infra

TOPIC = [{"Ref": "AlarmTopic"}]
SERVICE = [{"Name": "service", "Value": "avocette-payments"}]
ASYNC_FUNCTIONS = (
    "ExpirePaymentsFunction",
    "ImportBillingFunction",
    "ReconcilePaymentsFunction",
    "ExportPaymentsFunction",
    "ExportChangesFunction",
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is not on the PATH"
    return path


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == kind}


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources_of(template, "AWS::CloudWatch::Alarm").items()}


def alarm_on(template: dict[str, Any], namespace: str, metric: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (name, alarm)
        for name, alarm in alarms(template).items()
        if (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
    ]
    return found


def emitted_metrics() -> set[str]:
    """Every metric name the code emits: literal names, and the ones made from outcomes and kinds."""
    names: set[str] = set()
    for path in (ROOT / "layers/common/avocette").rglob("*.py"):
        names.update(re.findall(r'add_metric\(name="(\w+)"', path.read_text()))
    names.update(f"Postback{outcome.value.title()}" for outcome in Outcome)
    names.update(reason.value for reason in ReviewReason)
    from avocette.service.reconcile_rows import _KIND_WORDS  # the reversal kinds' metric words

    names.update(f"Payment{word}" for word in _KIND_WORDS.values())
    return names


def filtered_metrics(template: dict[str, Any]) -> set[str]:
    return {
        transformation["MetricName"]
        for resource in resources_of(template, "AWS::Logs::MetricFilter").values()
        for transformation in resource["Properties"]["MetricTransformations"]
    }


# ---- alarms -------------------------------------------------------------------------------------


def test_every_alarm_goes_to_the_topic_under_a_name_that_says_which_it_is(template: dict[str, Any]) -> None:
    found = alarms(template)
    assert len(found) >= 30
    for name, alarm in found.items():
        assert alarm["AlarmActions"] == TOPIC, name
        assert alarm["AlarmName"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}, name
        assert alarm["AlarmDescription"].strip(), name
        assert alarm["TreatMissingData"] in ("notBreaching", "breaching"), name


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_its_errors_and_throttles_alarm(template: dict[str, Any], metric: str) -> None:
    watched = []
    for alarm in alarms(template).values():
        if (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", metric):
            (dimension,) = alarm["Dimensions"]
            assert dimension["Name"] == "FunctionName"
            watched.append(dimension["Value"]["Ref"])
    assert sorted(watched) == sorted(spec.logical_id for spec in function_specs(template))


def test_the_http_api_5xx_alarm(template: dict[str, Any]) -> None:
    name, alarm = alarm_on(template, "AWS/ApiGateway", "5xx")
    assert name == "Api5xxAlarm" and alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]


def test_bad_token_postbacks_alarm_only_above_a_baseline(template: dict[str, Any]) -> None:
    name, alarm = alarm_on(template, "Avocette", "PostbackForbidden")
    assert name == "PostbackForbiddenAlarm"
    assert alarm["Threshold"] == {"Ref": "PostbackForbiddenBaseline"}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Dimensions"] == SERVICE
    assert template["Parameters"]["PostbackForbiddenBaseline"]["Default"] > 0


@pytest.mark.parametrize(
    ("metric", "logical_id"),
    [
        ("PostbackPaymentNotFound", "PostbackUnknownPaymentAlarm"),
        ("PaymentNeedsReview", "NeedsReviewAlarm"),
        ("PaymentsOpenPastGrace", "PaymentsOpenPastGraceAlarm"),
        ("BillingRowsRejected", "BillingRowsRejectedAlarm"),
        ("PaymentFileRejected", "PaymentFileRejectedAlarm"),
        ("ReconciliationMismatch", "ReconciliationMismatchAlarm"),
        ("PostbackMissingFromInvoiceCloud", "PostbackMissingFromInvoiceCloudAlarm"),
        ("TieOutUnbalanced", "TieOutUnbalancedAlarm"),
    ],
)
def test_money_events_alarm_at_the_first_one(template: dict[str, Any], metric: str, logical_id: str) -> None:
    name, alarm = alarm_on(template, "Avocette", metric)
    assert name == logical_id
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    ("logical_id", "namespace", "metric", "window_seconds"),
    [
        ("ExpiryDidNotRunAlarm", "Avocette", "PaymentsExpired", 900),
        ("ExportDidNotRunAlarm", "Avocette", "ExportRun", 86400),
        ("ChangesExportDidNotRunAlarm", "Avocette", "ChangesExportRun", 86400),
        ("ReconciliationDidNotRunAlarm", "AWS/Lambda", "Invocations", 86400),
    ],
)
def test_a_job_that_did_not_run_alarms_when_its_window_passes_without_a_run(
    template: dict[str, Any], logical_id: str, namespace: str, metric: str, window_seconds: int
) -> None:
    alarm = alarms(template)[logical_id]
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
    # No data at all is the failure: a job that does not run sends nothing.
    assert alarm["TreatMissingData"] == "breaching"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert alarm["Period"] * alarm["EvaluationPeriods"] == window_seconds
    assert alarm.get("DatapointsToAlarm", 1) == alarm["EvaluationPeriods"]
    assert alarm["Period"] * alarm["EvaluationPeriods"] <= 86400  # CloudWatch's longest evaluation range


def test_the_expiry_alarm_reads_a_metric_every_run_emits_even_when_nothing_expired() -> None:
    source = (ROOT / "layers/common/avocette/service/expiry.py").read_text()
    assert 'add_metric(name="PaymentsExpired", unit=MetricUnit.Count, value=expired)' in source


def test_every_custom_metric_an_alarm_or_the_dashboard_reads_is_emitted(template: dict[str, Any]) -> None:
    available = emitted_metrics() | filtered_metrics(template)
    read = {alarm["MetricName"] for alarm in alarms(template).values() if alarm["Namespace"] == "Avocette"}
    read |= {metric[1] for metric in dashboard_metrics(template) if metric[0] == "Avocette"}
    assert read - available == set()


def test_asynchronous_functions_have_an_encrypted_dead_letter_queue_with_an_alarm(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    asynchronous = {spec.logical_id for spec in function_specs(template) if spec.schedules or spec.s3_events}
    assert asynchronous == set(ASYNC_FUNCTIONS)
    for name in asynchronous:
        assert resources[name]["Properties"]["DeadLetterQueue"] == {
            "Type": "SQS",
            "TargetArn": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]},
        }, name
    queue = resources["FailedEventsQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Ref": "StackKey"}
    name, alarm = alarm_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert name == "FailedEventsAlarm"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailedEventsQueue", "QueueName"]}}]


# ---- the scan's fixes ---------------------------------------------------------------------------


# Reserved concurrency (a parameter per function, 0 by default, set by prod): test_trial.py.


@pytest.mark.parametrize("table", ["AppTable", "IdempotencyTable"])
def test_every_table_has_point_in_time_recovery(template: dict[str, Any], table: str) -> None:
    properties = template["Resources"][table]["Properties"]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


@pytest.mark.parametrize("bucket", ["BillingBucket", "InboundBucket", "ExportsBucket"])
def test_buckets_log_access_to_the_access_log_bucket(template: dict[str, Any], bucket: str) -> None:
    logging = template["Resources"][bucket]["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}
    assert logging["LogFilePrefix"].endswith("/")


def test_the_access_log_bucket_takes_s3_log_deliveries_only_over_tls(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    bucket = resources["AccessLogsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    statements = resources["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {statement["Sid"]: statement for statement in statements}
    assert by_sid["S3ServerAccessLogs"]["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert by_sid["TlsOnly"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_log_groups_secrets_topic_and_queue_are_encrypted_with_the_stacks_key(template: dict[str, Any]) -> None:
    key_arn = {"Fn::GetAtt": ["StackKey", "Arn"]}
    log_groups = resources_of(template, "AWS::Logs::LogGroup")
    assert len(log_groups) == len(function_specs(template)) + 1  # each function's and the API's access log
    for name, resource in log_groups.items():
        assert resource["Properties"]["KmsKeyId"] == key_arn, name
    for name, resource in resources_of(template, "AWS::SecretsManager::Secret").items():
        assert resource["Properties"]["KmsKeyId"] == {"Ref": "StackKey"}, name
    assert template["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "StackKey"}
    key = template["Resources"]["StackKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    principals = [statement["Principal"] for statement in key["KeyPolicy"]["Statement"]]
    # CloudWatch alarms can publish to the topic only if the key lets them (the AWS managed key does not).
    assert {"Service": "cloudwatch.amazonaws.com"} in principals
    assert {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}} in principals


def _statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """Every statement, those granted under a condition (``!If``) as granted."""
    policies = template["Resources"][function]["Properties"].get("Policies", [])
    statements = [statement for policy in policies for statement in policy.get("Statement", [])]
    return [statement["Fn::If"][1] if "Fn::If" in statement else statement for statement in statements]


def test_functions_may_use_the_stacks_key_for_what_they_read_and_write(template: dict[str, Any]) -> None:
    key_arn = {"Fn::GetAtt": ["StackKey", "Arn"]}
    for spec in function_specs(template):
        statements = _statements(template, spec.logical_id)
        actions = {action for statement in statements for action in statement["Action"]}
        on_key = {
            action for statement in statements if statement["Resource"] == key_arn for action in statement["Action"]
        }
        if "secretsmanager:GetSecretValue" in actions:
            assert "kms:Decrypt" in on_key, spec.logical_id
        if spec.logical_id in ASYNC_FUNCTIONS:
            assert {"kms:Decrypt", "kms:GenerateDataKey"} <= on_key, spec.logical_id
        if not on_key:
            assert "secretsmanager:GetSecretValue" not in actions and spec.logical_id not in ASYNC_FUNCTIONS


def test_every_checkov_suppression_says_why(template: dict[str, Any]) -> None:
    skipped = 0
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
            assert len(skip.get("comment", "").split()) >= 8, (name, skip["id"])
            skipped += 1
    assert skipped > 0


def test_make_test_runs_the_scan_in_its_own_environment() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (test_line,) = [line for line in makefile.splitlines() if line.startswith("test:")]
    assert "scan" in test_line.split(":", 1)[1].split()
    assert re.search(r"^scan: \$\(SCAN_STAMP\)\n\t\$\(SCAN_VENV\)/bin/checkov --file template.yaml", makefile, re.M)
    pins = (ROOT / "requirements-scan.txt").read_text()
    assert re.search(r"^checkov==\d+\.\d+\.\d+$", pins, re.M)
    assert "checkov" not in (ROOT / "requirements-dev.txt").read_text()


# ---- the dashboard ------------------------------------------------------------------------------


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    (dashboard,) = resources_of(template, "AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", text))
    assert names - {"AWS::Region"} <= set(template["Resources"]), names
    body: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", text))
    return body


def dashboard_metrics(template: dict[str, Any]) -> list[list[Any]]:
    return [metric for widget in dashboard_body(template)["widgets"] for metric in widget["properties"]["metrics"]]


def test_the_dashboard_shows_what_ops_watch(template: dict[str, Any]) -> None:
    metrics = dashboard_metrics(template)
    shown = {(metric[0], metric[1], metric[-1].get("stat")) for metric in metrics}
    for name in ("PaymentStarted", "PostbackApplied", "PostbackDeclined", "PaymentsExpired", "PaymentNeedsReview"):
        assert ("Avocette", name, "Sum") in shown, name
    assert ("Avocette", "PaymentReversed", "Sum") in shown
    # Postback latency and Invoice Cloud's calls, p50 and p99.
    postback = [m for m in metrics if m[:4] == ["AWS/Lambda", "Duration", "FunctionName", "PostbackFunction"]]
    assert sorted(m[-1]["stat"] for m in postback) == ["p50", "p99"]
    assert {("Avocette", "InvoiceCloudCallMs", "p50"), ("Avocette", "InvoiceCloudCallMs", "p99")} <= shown
    assert {("Avocette", "InvoiceCloudErrorAnswers", "Sum"), ("Avocette", "PaymentStartFailed", "Sum")} <= shown
    for name in ("AccountsLinked", "RegistrationChecksFailed", "RegistrationRateLimited", "AccountsUnlinked"):
        assert ("Avocette", name, "Sum") in shown, name
    throttles = {(m[1], m[3]) for m in metrics if m[0] == "AWS/DynamoDB"}
    assert throttles == {
        (metric, table)
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
        for table in ("AppTable", "IdempotencyTable")
    }


def test_invoice_cloud_metrics_come_from_the_line_the_client_logs(template: dict[str, Any]) -> None:
    client = (ROOT / "layers/common/avocette/invoicecloud/client.py").read_text()
    assert '"Invoice Cloud answered"' in client and '"elapsed_ms"' in client and '"http_status"' in client
    filters = resources_of(template, "AWS::Logs::MetricFilter")
    groups = {(r["Properties"]["LogGroupName"]["Ref"], r["Properties"]["MetricTransformations"][0]["MetricName"])
              for r in filters.values()}  # fmt: skip
    assert groups == {
        (group, metric)
        for group in ("StartPaymentLogs", "RegisterUserLogs")
        for metric in ("InvoiceCloudCallMs", "InvoiceCloudErrorAnswers")
    }
    for resource in filters.values():
        assert resource["Properties"]["FilterPattern"].startswith('{ $.message = "Invoice Cloud answered"')


# ---- identity -----------------------------------------------------------------------------------


def test_a_trial_stack_makes_its_own_user_pool_and_the_api_trusts_it(template: dict[str, Any]) -> None:
    parameters, resources = template["Parameters"], template["Resources"]
    assert parameters["CreateDemoUserPool"]["Default"] == "false"
    assert template["Conditions"]["UseDemoUserPool"] == {"Fn::Equals": [{"Ref": "CreateDemoUserPool"}, "true"]}
    assert resources["DemoUserPool"]["Condition"] == "UseDemoUserPool"
    assert resources["DemoUserPool"]["Type"] == "AWS::Cognito::UserPool"
    client = resources["DemoUserPoolClient"]
    assert client["Condition"] == "UseDemoUserPool" and client["Properties"]["GenerateSecret"] is False
    assert client["Properties"]["UserPoolId"] == {"Ref": "DemoUserPool"}
    jwt = resources["HttpApi"]["Properties"]["Auth"]["Authorizers"]["PortalJwt"]["JwtConfiguration"]
    issuer_condition, demo_issuer, portal_issuer = jwt["issuer"]["Fn::If"]
    assert issuer_condition == "UseDemoUserPool" and portal_issuer == {"Ref": "JwtIssuer"}
    assert demo_issuer == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${DemoUserPool}"}
    assert jwt["audience"]["Fn::If"] == ["UseDemoUserPool", [{"Ref": "DemoUserPoolClient"}], {"Ref": "JwtAudience"}]
    for output in ("DemoUserPoolId", "DemoUserPoolClientId"):
        assert template["Outputs"][output]["Condition"] == "UseDemoUserPool"


def test_the_readme_says_why_production_never_switches_providers() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "CreateDemoUserPool" in readme and "`sub`" in readme


# ---- environments -------------------------------------------------------------------------------


def test_samconfig_has_dev_and_prod() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    template_parameters = set(load_template()["Parameters"])
    stacks = set()
    for env, demo in (("dev", "true"), ("prod", "false")):
        deploy = config[env]["deploy"]["parameters"]
        stacks.add(deploy["stack_name"])
        assert deploy["capabilities"] == "CAPABILITY_IAM" and deploy["resolve_s3"] is True
        overrides = dict(re.findall(r'(\w+)="([^"]*)"', deploy["parameter_overrides"]))
        assert set(overrides) <= template_parameters, env
        assert overrides["CreateDemoUserPool"] == demo
    assert len(stacks) == 2
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True


def _make(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if name not in ("ENV", "MAKEFLAGS", "GUIDED")}
    return subprocess.run(
        [tool("make"), "--no-print-directory", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


def test_make_deploy_refuses_without_an_environment() -> None:
    result = _make("deploy")
    assert result.returncode != 0
    assert "make deploy needs ENV" in result.stderr
    unknown = _make("deploy", "ENV=staging")
    assert unknown.returncode != 0 and "no environment 'staging'" in unknown.stderr


def test_make_deploy_builds_then_deploys_the_named_environment() -> None:
    result = _make("-n", "deploy", "ENV=dev")
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "/bin/sam " in line]
    assert [line.split("/bin/sam ", 1)[1].split()[:3] for line in commands] == [
        ["build", "--config-env", "dev"],
        ["deploy", "--config-env", "dev"],
    ]


def test_make_deploy_builds_the_layer_for_the_environments_architecture() -> None:
    """samconfig.toml's dev sets no Architecture: x86_64, for the template and the layer's wheels alike."""
    result = _make("-n", "deploy", "ENV=dev")
    assert result.returncode == 0, result.stderr
    build = " ".join(
        line.strip(" \\") for line in result.stdout.splitlines() if "build" in line or "Architecture" in line
    )
    assert "ARCH=x86_64" in build and "--parameter-overrides Architecture=x86_64" in build


# ---- the runbook and the repository -------------------------------------------------------------


def test_the_runbook_covers_every_alarm_by_name(template: dict[str, Any]) -> None:
    runbook = (ROOT / "docs/operations.md").read_text()
    missing = [name for name in alarms(template) if f"`{name}`" not in runbook]
    assert missing == []


def test_the_runbook_names_the_dashboard_and_the_settings_of_the_open_questions(template: dict[str, Any]) -> None:
    runbook = (ROOT / "docs/operations.md").read_text()
    assert "OperationsDashboard" in runbook
    for parameter in (
        "InvoiceCloudAmountIncludesFee",
        "PaymentSessionMinutes",
        "PaymentSessionGraceMinutes",
        "InvoiceCloudPaymentTypeIds",
        "PostbackSourceCidrs",
        "InvoiceCloudBasicAuthForm",
        "InvoiceCloudPaymentFileFormat",
        "BillerExportFormat",
        "BillerChangesFormat",
        "InvoiceCloudStatementLinks",
        "InvoiceCloudStatementLinkField",
        "InvoiceCloudStatementLinkMinutes",
    ):
        assert parameter in template["Parameters"] and f"`{parameter}`" in runbook, parameter


def test_nothing_in_the_repository_points_outside_it() -> None:
    listed = subprocess.run(
        [tool("git"), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    outside = ("../" + "shared", "/work/" + "shared")  # spelled apart, so that this file does not match
    offenders = []
    for name in filter(None, listed.split("\0")):
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{name}: {needle}" for needle in outside if needle in text]
    assert offenders == []
    assert (ROOT / "docs/design.md").is_file()
