"""What the settings groups share: reading a group from the environment (an error names the
variables, never a value), reading a JSON secret, and the field types of several groups."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from avocette import money
from avocette.errors import ConfigurationError

__all__ = [
    "SECRET_MAX_AGE_SECONDS",
    "CommaSeparated",
    "EnvSettings",
    "FeeCents",
    "OptionalText",
    "PaymentTypeIds",
    "env_name",
    "required_variable",
    "secret_json",
]


SECRET_MAX_AGE_SECONDS = 300


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _fee_cents(value: Any) -> Any:
    if isinstance(value, str):
        return money.parse_cents(value)
    return value


def _json_object(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else {}
        except ValueError:
            raise ValueError("must be a JSON object") from None
    return value


def _blank_is_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


CommaSeparated = Annotated[tuple[str, ...], BeforeValidator(_split_csv)]


FeeCents = Annotated[int, Field(ge=0), BeforeValidator(_fee_cents)]


OptionalText = Annotated[str | None, BeforeValidator(_blank_is_none)]


# IC_PAYMENT_TYPE_IDS: Invoice Cloud's PaymentTypeID values and the method each means (DESIGN §4a).
PaymentTypeIds = Annotated[dict[str, Literal["CARD", "ACH"]], BeforeValidator(_json_object)]


class EnvSettings(BaseModel):
    """Settings read from the environment by variable name; an error names the variables, never a value."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Self:
        try:
            return cls.model_validate(dict(environ))
        except ValidationError as exc:
            names = ", ".join(sorted({env_name(cls, error["loc"]) for error in exc.errors()}))
            raise ConfigurationError(f"invalid or missing settings: {names}") from None


def env_name(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    if not loc:
        return "?"
    field = model.model_fields.get(str(loc[0]))
    if field is not None and field.alias:
        return field.alias
    return str(loc[0])


def required_variable(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"invalid or missing settings: {name}")
    return value


def secret_json(arn: str, what: str) -> dict[str, Any]:
    try:
        value = parameters.get_secret(arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    except parameters.exceptions.TransformParameterError:
        raise ConfigurationError(f"the {what} secret is not valid JSON") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"the {what} secret is not a JSON object")
    return value
