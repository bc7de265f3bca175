"""Reading template.yaml, so that the sandbox, the tools, the benchmarks and the tests use the stack's
own definitions: the tables' keys and indexes, the functions, their routes, events, limits and
environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "NO_VALUE",
    "ROOT",
    "TEMPLATE_PATH",
    "FunctionSpec",
    "Route",
    "create_table_request",
    "evaluate",
    "evaluate_conditions",
    "failed_rules",
    "function_environment",
    "function_specs",
    "global_environment",
    "load_template",
    "parameter_values",
    "resolve",
]

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's short-form tags (``!Ref``, ``!GetAtt``, ``!Sub`` ...)."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@lru_cache(maxsize=4)
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return loaded


class _NoValue:
    """``Ref: AWS::NoValue``: the property (or list item) is left out."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = _NoValue()


def resolve(value: Any, refs: dict[str, Any], conditions: dict[str, bool] | None = None) -> Any:
    """Resolve ``Ref``, ``Fn::Sub``, ``Fn::GetAtt`` and ``Fn::If`` against ``refs`` (names to values)
    and ``conditions`` (the template's conditions, evaluated: :func:`evaluate_conditions`); a
    property or list item that resolves to ``AWS::NoValue`` is left out."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref":
            if argument == "AWS::NoValue":
                return NO_VALUE
            if argument not in refs:
                raise KeyError(f"template reference {argument!r} has no sandbox value")
            return refs[argument]
        if key == "Fn::GetAtt":
            return refs[".".join(argument)]
        if key == "Fn::Sub" and isinstance(argument, str):
            text = argument
            for name, replacement in refs.items():
                text = text.replace("${" + name + "}", str(replacement))
            return text
        if key == "Fn::If":
            name, when_true, when_false = argument
            if conditions is None or name not in conditions:
                raise KeyError(f"template condition {name!r} was not evaluated")
            return resolve(when_true if conditions[name] else when_false, refs, conditions)
    if isinstance(value, dict):
        resolved = {key: resolve(item, refs, conditions) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}
    if isinstance(value, list):
        return [item for item in (resolve(item, refs, conditions) for item in value) if item is not NO_VALUE]
    return value


def parameter_values(overrides: dict[str, str] | None = None, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every parameter's value as CloudFormation gives it to ``Ref``: text (a number too), a list for a
    ``CommaDelimitedList``; the template's default unless ``overrides`` names it. A parameter with
    neither is left out (CloudFormation would refuse the stack)."""
    loaded = template or load_template()
    values: dict[str, Any] = {}
    for name, spec in loaded.get("Parameters", {}).items():
        given = (overrides or {}).get(name, spec.get("Default"))
        if given is None:
            continue
        text = str(given)
        values[name] = [part.strip() for part in text.split(",")] if spec["Type"] == "CommaDelimitedList" else text
    return values


def evaluate(value: Any, refs: dict[str, Any], conditions: dict[str, bool] | None = None) -> Any:
    """The value of a condition or rule expression: ``Fn::Equals`` (compared as text, as CloudFormation
    does), ``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Fn::Contains``, ``Condition`` and ``Ref``."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Fn::Equals":
            left, right = (evaluate(item, refs, conditions) for item in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            (inner,) = argument
            return not evaluate(inner, refs, conditions)
        if key == "Fn::And":
            return all(evaluate(item, refs, conditions) for item in argument)
        if key == "Fn::Or":
            return any(evaluate(item, refs, conditions) for item in argument)
        if key == "Fn::Contains":
            members, wanted = (evaluate(item, refs, conditions) for item in argument)
            return str(wanted) in [str(member) for member in members]
        if key == "Condition":
            if conditions is None or argument not in conditions:
                raise KeyError(f"template condition {argument!r} was not evaluated")
            return conditions[argument]
    return resolve(value, refs, conditions)


def evaluate_conditions(refs: dict[str, Any], template: dict[str, Any] | None = None) -> dict[str, bool]:
    """The template's ``Conditions``, each true or false for these parameter values (``refs``); a
    condition may name another, in any order."""
    loaded = template or load_template()
    pending = dict(loaded.get("Conditions") or {})
    evaluated: dict[str, bool] = {}
    while pending:
        progressed = False
        for name, expression in list(pending.items()):
            try:
                evaluated[name] = bool(evaluate(expression, refs, evaluated))
            except KeyError:
                continue
            del pending[name]
            progressed = True
        if not progressed:
            raise KeyError(f"conditions that cannot be evaluated: {sorted(pending)}")
    return evaluated


def failed_rules(refs: dict[str, Any], template: dict[str, Any] | None = None) -> dict[str, str]:
    """The template's ``Rules`` that these parameter values break, by name, with the assertion's
    description: what CloudFormation would refuse the stack for before creating anything."""
    loaded = template or load_template()
    conditions = evaluate_conditions(refs, loaded)
    failed: dict[str, str] = {}
    for name, rule in (loaded.get("Rules") or {}).items():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], refs, conditions):
            continue
        for assertion in rule["Assertions"]:
            if not evaluate(assertion["Assert"], refs, conditions):
                failed[name] = assertion.get("AssertDescription", "")
                break
    return failed


def create_table_request(logical_id: str, table_name: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """``CreateTable`` arguments built from the template's ``AWS::DynamoDB::Table`` properties."""
    properties = (template or load_template())["Resources"][logical_id]["Properties"]
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties["BillingMode"],
    }
    if properties.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    return request


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway form: /payments/{paymentId}
    authorized: bool  # False when the route opts out of the JWT authorizer

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, Any] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    timeout: int | None = None  # its own Timeout; see :attr:`timeout_seconds` for the one that applies
    global_timeout: int = 3  # Globals.Function.Timeout (Lambda's default when the template has none)
    memory_size: int = 128  # MemorySize, its own or Globals'
    schedules: tuple[str, ...] = ()  # the expressions of its Schedule events, e.g. "rate(5 minutes)"
    # The time zone of its ScheduleV2 events' expressions, unresolved (e.g. {"Ref": "BillerTimeZone"});
    # None: UTC (a Schedule event, or a ScheduleV2 without a zone).
    schedule_time_zone: Any = None
    s3_events: tuple[tuple[str, str, str], ...] = ()  # (bucket's logical id, key prefix, key suffix)

    @property
    def timeout_seconds(self) -> int:
        """How long an invocation may run: its own Timeout, else Globals'."""
        return self.timeout or self.global_timeout


def function_specs(template: dict[str, Any] | None = None) -> list[FunctionSpec]:
    """Every ``AWS::Serverless::Function``: code, handler, its own environment, and HTTP routes."""
    loaded = template or load_template()
    defaults = (loaded.get("Globals") or {}).get("Function") or {}
    specs = []
    for logical_id, resource in loaded["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        routes = []
        schedules = []
        schedule_time_zone: Any = None
        s3_events = []
        for event in (properties.get("Events") or {}).values():
            if event.get("Type") == "Schedule":
                schedules.append(str(event["Properties"]["Schedule"]))
            if event.get("Type") == "ScheduleV2":
                schedules.append(str(event["Properties"]["ScheduleExpression"]))
                schedule_time_zone = event["Properties"].get("ScheduleExpressionTimezone", schedule_time_zone)
            if event.get("Type") == "S3":
                rules = event["Properties"].get("Filter", {}).get("S3Key", {}).get("Rules", [])
                filters = {rule["Name"]: rule["Value"] for rule in rules}
                bucket = event["Properties"]["Bucket"]["Ref"]
                s3_events.append((bucket, filters.get("prefix", ""), filters.get("suffix", "")))
            if event.get("Type") != "HttpApi":
                continue
            event_properties = event["Properties"]
            authorizer = (event_properties.get("Auth") or {}).get("Authorizer")
            routes.append(
                Route(
                    method=str(event_properties["Method"]).upper(),
                    path=event_properties["Path"],
                    authorized=authorizer != "NONE",
                )
            )
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                code_dir=ROOT / properties["CodeUri"],
                handler=properties["Handler"],
                environment=dict((properties.get("Environment") or {}).get("Variables") or {}),
                routes=tuple(routes),
                timeout=properties.get("Timeout"),
                global_timeout=int(defaults.get("Timeout", 3)),
                memory_size=int(properties.get("MemorySize") or defaults.get("MemorySize", 128)),
                schedules=tuple(schedules),
                schedule_time_zone=schedule_time_zone,
                s3_events=tuple(s3_events),
            )
        )
    return specs


def global_environment(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """``Globals.Function.Environment.Variables``, unresolved."""
    loaded = template or load_template()
    return dict(loaded["Globals"]["Function"]["Environment"]["Variables"])


def function_environment(spec: FunctionSpec, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """What Lambda gives one function, unresolved: Globals' variables, then its own over them."""
    return {**global_environment(template), **spec.environment}
