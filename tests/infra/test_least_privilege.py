"""Least privilege, as template.yaml grants it: each function gets exactly the actions, resources,
secrets and settings its code uses, written out here so that widening any of them is a deliberate
change of this file (DESIGN §7 and the hardening issue: the read-only functions hold no secret and
no write, nobody gets Scan, DeleteItem or BatchWriteItem they never call, SES only sends, and a
function needs only its own settings to start)."""

from __future__ import annotations

from typing import Any

import pytest

from stackdef.template import function_environment, function_specs, load_template

pytestmark = pytest.mark.infra

APP_TABLE = "AppTable"
GSI1 = "AppTable/index/GSI1"
GSI2 = "AppTable/index/GSI2"
IDEMPOTENCY = "IdempotencyTable"

# Function -> (resource, sorted actions) for every DynamoDB statement.
DYNAMODB: dict[str, dict[str, set[str]]] = {
    "StartPaymentFunction": {
        APP_TABLE: {"Query", "GetItem", "BatchGetItem", "PutItem", "UpdateItem", "ConditionCheckItem"},
        IDEMPOTENCY: {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},
    },
    "PaymentsFunction": {APP_TABLE: {"GetItem"}, GSI1: {"Query"}},
    "PostbackFunction": {APP_TABLE: {"Query", "PutItem", "UpdateItem", "ConditionCheckItem"}},
    "RegisterUserFunction": {
        APP_TABLE: {"Query", "GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"}
    },
    "AccountsFunction": {APP_TABLE: {"Query", "BatchGetItem"}},
    "ExpirePaymentsFunction": {APP_TABLE: {"PutItem", "UpdateItem", "ConditionCheckItem"}, GSI2: {"Query"}},
    # PutItem: a link the file removes is deleted with its change-log event, in one transaction.
    "ImportBillingFunction": {APP_TABLE: {"UpdateItem", "Scan", "Query", "DeleteItem", "PutItem"}, GSI1: {"Query"}},
    "ReconcilePaymentsFunction": {
        APP_TABLE: {"Query", "GetItem", "BatchGetItem", "PutItem", "UpdateItem", "ConditionCheckItem"}
    },
    # The ledger and the files reconciled (Query), marks (UpdateItem), the payments the tie-out names.
    "ExportPaymentsFunction": {APP_TABLE: {"Query", "UpdateItem", "BatchGetItem"}},
    "ExportChangesFunction": {APP_TABLE: {"Query", "UpdateItem"}},  # a day's events; the job's last run
    # Reads invoices only (the conditions below); writes a signed call's nonce only when the scheme is hmac.
    "RefreshBalancesFunction": {APP_TABLE: {"Query", "PutItem"}},
    "StatementsFunction": {APP_TABLE: {"GetItem"}},  # the caller's link, the invoice
    "StatementLinksFunction": {APP_TABLE: {"GetItem"}},  # the invoice
}

# Function -> the secrets it may read.
SECRETS: dict[str, set[str]] = {
    # The API key; postback URLs; statement links (read only with IC_STATEMENT_LINKS on).
    "StartPaymentFunction": {"InvoiceCloudSecret", "PostbackKeysSecret", "StatementLinkKeysSecret"},
    "PaymentsFunction": set(),
    "PostbackFunction": {"InvoiceCloudSecret", "PostbackKeysSecret"},  # the BillerGUID; the tokens
    "RegisterUserFunction": {"InvoiceCloudSecret", "RegistrationHashKeySecret"},
    "AccountsFunction": set(),
    "ExpirePaymentsFunction": set(),
    "ImportBillingFunction": {"RegistrationHashKeySecret"},
    "ReconcilePaymentsFunction": {"InvoiceCloudSecret"},  # the BillerGUID each row must name
    "ExportPaymentsFunction": set(),
    "ExportChangesFunction": set(),  # the file's user references were hashed when their events were written
    "RefreshBalancesFunction": {"InvoiceCloudRefreshSecret", "RegistrationHashKeySecret"},  # its credential; log hashes
    "StatementsFunction": set(),  # a portal route: the JWT authenticates, no key of ours
    "StatementLinksFunction": {"StatementLinkKeysSecret"},  # the links' signatures
}

# Function -> (S3 actions, the objects they may touch) for every S3 statement: each function reads and
# writes only its own prefix of its own bucket; the bills' PDFs are read, never listed or written.
S3: dict[str, set[tuple[tuple[str, ...], str]]] = {
    "ImportBillingFunction": {
        (("s3:GetObject", "s3:GetObjectVersion"), "BillingBucketName/billing/*"),
        (("s3:PutObject",), "BillingBucketName/billing/*.report.json"),
    },
    "ReconcilePaymentsFunction": {
        (("s3:GetObject", "s3:GetObjectVersion"), "InboundBucketName/invoicecloud/*"),
        (("s3:PutObject",), "InboundBucketName/invoicecloud/*.report.json"),
    },
    "ExportPaymentsFunction": {
        (("s3:PutObject",), "ExportsBucketName/exports/*"),
        (("s3:PutObject",), "ExportsBucketName/tieout/*"),
        # The export read back, and Invoice Cloud's files, for the tie-out (DESIGN §6f).
        (("s3:GetObject",), "ExportsBucketName/exports/*"),
        (("s3:GetObject",), "InboundBucketName/invoicecloud/*"),
    },
    "ExportChangesFunction": {(("s3:PutObject",), "ExportsBucketName/changes/*")},  # the day's file, nothing else
    "StatementsFunction": {(("s3:GetObject",), "InboundBucketName/statements/*")},
    "StatementLinksFunction": {(("s3:GetObject",), "InboundBucketName/statements/*")},
}

# The functions that send email (ses:SendEmail from the sender's identity, nothing else of SES).
SENDERS = {"RegisterUserFunction", "ReconcilePaymentsFunction"}

# The functions that call Invoice Cloud over HTTP, and so alone get its connection settings.
CALLERS_OF_INVOICE_CLOUD = {"StartPaymentFunction", "RegisterUserFunction"}

NEVER = {"dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:*", "s3:*", "ses:*"}
ALLOWED_TO_DELETE_OR_SCAN = {"RegisterUserFunction": {"dynamodb:DeleteItem"}, "ImportBillingFunction": {
    "dynamodb:DeleteItem", "dynamodb:Scan"}}  # fmt: skip
STARTPAYMENT_IDEMPOTENCY_DELETE = {"StartPaymentFunction": {"dynamodb:DeleteItem"}}  # Powertools' own records


def _resource_name(resource: Any) -> str:
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return str(resource["Fn::GetAtt"][0])
    if isinstance(resource, dict) and "Ref" in resource:
        return str(resource["Ref"])
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        return str(text).replace("${", "").replace(".Arn}", "").replace("}", "")
    return str(resource)


def _statements(logical_id: str) -> list[dict[str, Any]]:
    """A function's statements; one granted under a condition (``!If [Condition, statement, NoValue]``)
    counts as granted: the widest the stack can be."""
    properties = load_template()["Resources"][logical_id]["Properties"]
    statements: list[dict[str, Any]] = []
    for policy in properties.get("Policies") or []:
        assert isinstance(policy, dict) and "Statement" in policy, (
            f"{logical_id}: only explicit statements (a SAM policy template grants more than it names): {policy}"
        )
        for statement in policy["Statement"]:
            if "Fn::If" in statement:
                _, granted, otherwise = statement["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}, f"{logical_id}: a conditional grant or nothing"
                statements.append(granted)
            else:
                statements.append(statement)
    return statements


FUNCTIONS = sorted(spec.logical_id for spec in function_specs())


def test_every_function_is_described_here() -> None:
    assert set(FUNCTIONS) == set(DYNAMODB) == set(SECRETS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_dynamodb_actions_are_exactly_those_the_code_calls(function: str) -> None:
    granted: dict[str, set[str]] = {}
    for statement in _statements(function):
        actions = statement["Action"]
        if not any(str(action).startswith("dynamodb:") for action in actions):
            continue
        assert statement.get("Effect", "Allow") == "Allow"
        granted.setdefault(_resource_name(statement["Resource"]), set()).update(
            str(action).removeprefix("dynamodb:") for action in actions
        )
    assert granted == DYNAMODB[function]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_gets_scan_delete_or_batch_writes_it_never_uses(function: str) -> None:
    actions = {str(action) for statement in _statements(function) for action in statement["Action"]}
    allowed = ALLOWED_TO_DELETE_OR_SCAN.get(function, set())
    if function in STARTPAYMENT_IDEMPOTENCY_DELETE:  # on the idempotency table only (asserted above)
        allowed = allowed | STARTPAYMENT_IDEMPOTENCY_DELETE[function]
    assert not (actions & NEVER) - allowed
    assert not any("*" in action for action in actions), "no wildcard actions"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_secrets_are_read_only_by_the_functions_that_use_them(function: str) -> None:
    read = {
        _resource_name(statement["Resource"])
        for statement in _statements(function)
        if "secretsmanager:GetSecretValue" in statement["Action"]
    }
    assert read == SECRETS[function]
    assert all(action == "secretsmanager:GetSecretValue" for s in _statements(function) for action in s["Action"]
               if str(action).startswith("secretsmanager:"))  # fmt: skip
    # The KMS key that encrypts the secrets: decrypt for every function that reads one.
    kms = {str(a) for s in _statements(function) for a in s["Action"] if str(a).startswith("kms:")}
    if SECRETS[function]:
        assert "kms:Decrypt" in kms


@pytest.mark.parametrize("function", FUNCTIONS)
def test_s3_actions_are_exactly_those_the_code_calls_on_its_own_prefix(function: str) -> None:
    granted = {
        (tuple(str(action) for action in statement["Action"]), _s3_object(statement["Resource"]))
        for statement in _statements(function)
        if any(str(action).startswith("s3:") for action in statement["Action"])
    }
    assert granted == S3.get(function, set())


def _s3_object(resource: Any) -> str:
    """``arn:${AWS::Partition}:s3:::${InboundBucketName}/statements/*`` -> ``InboundBucketName/statements/*``."""
    text = str(resource["Fn::Sub"])
    assert text.startswith("arn:${AWS::Partition}:s3:::${"), text
    return text.removeprefix("arn:${AWS::Partition}:s3:::${").replace("}", "", 1)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_email_is_only_sent_and_only_by_the_senders(function: str) -> None:
    ses = [s for s in _statements(function) if any(str(a).startswith("ses:") for a in s["Action"])]
    if function not in SENDERS:
        assert not ses
        return
    (statement,) = ses
    assert statement["Action"] == ["ses:SendEmail"]
    assert "identity/${SenderEmail}" in statement["Resource"]["Fn::Sub"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_gets_only_its_own_settings(function: str) -> None:
    spec = next(spec for spec in function_specs() if spec.logical_id == function)
    variables = set(function_environment(spec))
    secret_variables = {
        "InvoiceCloudSecret": "IC_SECRET_ARN",
        "PostbackKeysSecret": "POSTBACK_KEYS_ARN",
        "RegistrationHashKeySecret": "REGISTRATION_HASH_KEY_ARN",
        "InvoiceCloudRefreshSecret": "IC_REFRESH_SECRET_ARN",
        "StatementLinkKeysSecret": "STATEMENT_LINK_KEYS_ARN",
    }
    assert {name for name in secret_variables.values() if name in variables} == {
        secret_variables[secret] for secret in SECRETS[function]
    }
    connection = {"IC_BASE_URL", "IC_BASIC_AUTH_FORM", "IC_CONNECT_TIMEOUT_SECONDS", "IC_READ_TIMEOUT_SECONDS"}
    if function in CALLERS_OF_INVOICE_CLOUD:
        assert connection <= variables
    else:
        assert not connection & variables
    if function not in {"StartPaymentFunction"}:
        assert not {name for name in variables if name.startswith("CPV2_")}


def test_globals_carry_only_what_every_function_needs() -> None:
    names = set(load_template()["Globals"]["Function"]["Environment"]["Variables"])
    assert names == {name for name in names if name.startswith("POWERTOOLS_")} | {"APP_TABLE_NAME"}


def test_the_balance_refresh_reads_invoices_and_nothing_else() -> None:
    """Invoice Cloud's refresh holds no other data: the account partitions alone, projected on the
    attributes the balances need (no name, address or email of the profile; none of our holds), and
    a nonce write only when its calls are signed (IC_REFRESH_AUTH=hmac)."""
    from avocette.store.refresh import REFRESH_ATTRIBUTES

    policy = load_template()["Resources"]["RefreshBalancesFunction"]["Properties"]["Policies"][0]["Statement"]
    (query,) = [statement for statement in policy if statement.get("Action") == ["dynamodb:Query"]]
    assert query["Resource"] == {"Fn::GetAtt": ["AppTable", "Arn"]}  # the table, no index
    condition = query["Condition"]
    assert condition["ForAllValues:StringLike"] == {"dynamodb:LeadingKeys": ["ACCOUNT#*"]}
    allowed = condition["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert sorted(allowed) == sorted({"PK", *REFRESH_ATTRIBUTES})
    assert not {"name", "address", "email", "registrationHash", "openPaymentId", "openUntil"} & set(allowed)
    assert condition["StringEqualsIfExists"] == {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
    (conditional,) = [statement for statement in policy if "Fn::If" in statement]
    name, nonce, otherwise = conditional["Fn::If"]
    assert load_template()["Conditions"][name] == {"Fn::Equals": [{"Ref": "InvoiceCloudRefreshAuth"}, "hmac"]}
    assert nonce["Action"] == ["dynamodb:PutItem"] and otherwise == {"Ref": "AWS::NoValue"}
    assert nonce["Condition"]["ForAllValues:StringLike"] == {"dynamodb:LeadingKeys": ["REFRESHNONCE#*"]}
    assert nonce["Condition"]["ForAllValues:StringEquals"] == {"dynamodb:Attributes": ["PK", "SK", "ttl"]}


def test_the_nonce_key_is_the_one_the_policy_lets_the_refresh_write() -> None:
    from avocette.store.keys import refresh_nonce_key

    assert refresh_nonce_key("abc")["PK"]["S"].startswith("REFRESHNONCE#")
