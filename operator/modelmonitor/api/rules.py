"""Cross-field validation rules, written once and used twice.

Each rule carries the CEL expression that the API server evaluates (emitted into the CRD as
``x-kubernetes-validations``) and a Python predicate that mirrors it, used by ``modelmonitor validate``
and by the operator when it reads a spec. A test evaluates every CEL expression with a CEL interpreter
on the same inputs as the mirror, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator


@dataclass(frozen=True)
class Rule:
    """One cross-field rule: ``cel`` for the API server, ``check`` for Python, same meaning.

    ``field`` is the path below the object the rule sits on that the message is about (reported as
    the error's field, like the API server's ``fieldPath``); empty means the object itself.
    """

    cel: str
    message: str
    check: Callable[[Any], bool]
    field: str = ""

    def to_crd(self) -> dict[str, str]:
        out = {"rule": self.cel, "message": self.message}
        if self.field:
            out["fieldPath"] = "." + self.field
        return out


class RuleViolation(ValueError):
    """Raised by a model whose cross-field rule fails; carries the field path below the model."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Model(BaseModel):
    """Base of every resource model: camelCase field names as in YAML, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)

    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self, info: ValidationInfo) -> Model:
        if isinstance(info.context, dict) and info.context.get("skip_rules"):
            return self
        for rule in type(self).rules:
            if not rule.check(self):
                raise RuleViolation(rule.field, rule.message)
        return self


def rule_violations(
    model: BaseModel, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every failing rule in a parsed model tree, each with its field path (as the API server reports all)."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(model, Model):
        for rule in type(model).rules:
            if not rule.check(model):
                found.append(((*path, *rule.field.split(".")) if rule.field else path, rule.message))
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            if isinstance(item, BaseModel):
                sub = (*path, name) if index is None else (*path, name, index)
                found.extend(rule_violations(item, sub))
    return found
