"""The stack as CloudFormation deploys it, for both values of the SnapStart and Architecture options:
template.yaml through the AWS::LanguageExtensions transform (SAM CLI's implementation of it) and then
SAM's, with parameter values, as CloudFormation runs them at deploy time. Off by default, the options
leave the stack as it was: no versions, no aliases, no SnapStart, x86_64."""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from typing import Any

import pytest
from samcli.lib.cfn_language_extensions.sam_integration import expand_language_extensions
from samtranslator.translator.transform import transform

from stackdef.template import function_specs, load_template

pytestmark = pytest.mark.infra

# The parameters with no default, as a site would give them.
REQUIRED = {
    "JwtIssuer": "https://login.example/",
    "JwtAudience": "portal",
    "CorsAllowOrigins": "https://portal.example",
    "PortalReturnUrl": "https://portal.example/#/return/{paymentId}",
    "SenderEmail": "billing@example.com",
    "BillingBucketName": "billing",
    "InboundBucketName": "inbound",
    "ExportsBucketName": "exports",
}
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws", "AWS::StackName": "s"}
API_FUNCTIONS = {spec.logical_id for spec in function_specs() if spec.routes}
JOBS = {spec.logical_id for spec in function_specs() if not spec.routes}


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


@cache
def _deployed(snapstart: str, architecture: str) -> str:
    template = copy.deepcopy(load_template())
    # As `sam package` leaves it: the code in S3.
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://artifacts/{name}.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = f"s3://artifacts/{name}.zip"
    parameters = {
        name: spec["Default"] for name, spec in template["Parameters"].items() if "Default" in spec
    } | REQUIRED
    parameters |= {"SnapStart": snapstart, "Architecture": architecture, **PSEUDO}
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    expanded = expand_language_extensions(template, parameters, enabled=True).expanded_template
    expanded["Transform"] = "AWS::Serverless-2016-10-31"
    return json.dumps(_parameters_resolved(transform(expanded, parameters, _NoManagedPolicies()), parameters))


def _parameters_resolved(value: Any, parameters: dict[str, Any]) -> Any:
    """``Ref`` to a parameter as CloudFormation resolves it at deploy time."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        return {key: _parameters_resolved(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [_parameters_resolved(item, parameters) for item in value]
    return value


def deployed(snapstart: str = "false", architecture: str = "x86_64") -> dict[str, Any]:
    resources: dict[str, Any] = json.loads(_deployed(snapstart, architecture))["Resources"]
    return resources


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: resource for name, resource in resources.items() if resource["Type"] == kind}


def integrations(resources: dict[str, Any]) -> dict[str, str]:
    """Each route's integration target, as ``${...}`` in its URI."""
    body = resources["HttpApi"]["Properties"]["Body"]
    targets = {}
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            targets[f"{method.upper()} {path}"] = uri.split("/functions/")[1].split("/invocations")[0]
    return targets


def test_by_default_the_stack_is_as_it_was_no_versions_no_aliases_no_snapstart() -> None:
    resources = deployed()
    functions = of_type(resources, "AWS::Lambda::Function")
    assert set(functions) == API_FUNCTIONS | JOBS
    assert not of_type(resources, "AWS::Lambda::Version") and not of_type(resources, "AWS::Lambda::Alias")
    assert all("SnapStart" not in function["Properties"] for function in functions.values())
    assert all(target.endswith(".Arn}") for target in integrations(resources).values())
    permissions = of_type(resources, "AWS::Lambda::Permission")
    assert all(set(p["Properties"]["FunctionName"]) == {"Ref"} for p in permissions.values())
    assert {p["Properties"]["FunctionName"]["Ref"] for p in permissions.values()} <= API_FUNCTIONS | JOBS


def test_by_default_everything_runs_on_x86_64() -> None:
    resources = deployed()
    for name, function in of_type(resources, "AWS::Lambda::Function").items():
        assert function["Properties"]["Architectures"] == ["x86_64"], name
    (layer,) = of_type(resources, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]


def test_snapstart_serves_the_api_from_published_versions_through_an_alias() -> None:
    resources = deployed(snapstart="true")
    functions = of_type(resources, "AWS::Lambda::Function")
    aliases = of_type(resources, "AWS::Lambda::Alias")
    versions = of_type(resources, "AWS::Lambda::Version")
    for name in API_FUNCTIONS:
        assert functions[name]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}, name
        (alias,) = [a for a in aliases.values() if a["Properties"]["FunctionName"] == {"Ref": name}]
        assert alias["Properties"]["Name"] == "live"
        (version,) = [v for v in versions.values() if v["Properties"]["FunctionName"] == {"Ref": name}]
        assert alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][1] == "Version"
        assert version["Type"] == "AWS::Lambda::Version"
    # Every route invokes an alias, and may: the permissions name the aliases.
    assert all(target.endswith("Aliaslive}") for target in integrations(resources).values())
    for permission in of_type(resources, "AWS::Lambda::Permission").values():
        target = permission["Properties"]["FunctionName"]["Ref"]
        assert target in aliases or target in JOBS, target


def test_snapstart_leaves_the_jobs_alone() -> None:
    resources = deployed(snapstart="true")
    functions = of_type(resources, "AWS::Lambda::Function")
    aliases = of_type(resources, "AWS::Lambda::Alias").values()
    aliased = {alias["Properties"]["FunctionName"]["Ref"] for alias in aliases}
    assert aliased == API_FUNCTIONS
    for name in JOBS:
        assert "SnapStart" not in functions[name]["Properties"], name


@pytest.mark.parametrize("snapstart", ["false", "true"])
def test_arm64_moves_every_function_and_the_layer(snapstart: str) -> None:
    resources = deployed(snapstart=snapstart, architecture="arm64")
    for name, function in of_type(resources, "AWS::Lambda::Function").items():
        assert function["Properties"]["Architectures"] == ["arm64"], name
    (layer,) = of_type(resources, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


def test_the_layer_is_built_for_the_functions_architecture() -> None:
    template = load_template()
    architecture = {"Ref": "Architecture"}
    assert template["Globals"]["Function"]["Architectures"] == [architecture]
    layer = template["Resources"]["CommonLayer"]
    assert layer["Properties"]["CompatibleArchitectures"] == [architecture]
    assert layer["Metadata"]["BuildArchitecture"] == architecture
    assert template["Parameters"]["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    assert template["Parameters"]["Architecture"]["Default"] == "x86_64"
    assert template["Parameters"]["SnapStart"]["Default"] == "false"
