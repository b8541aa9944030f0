"""Validate ModelMonitor manifests offline, the way the API server would.

Two passes, as on a real server: the CRD's OpenAPI schema (types, bounds, enums, patterns, unknown
fields), then the cross-field rules (the CRD's CEL rules, mirrored in Python). Every problem names
its field path, e.g. ``spec.slos.latencyP95Ms: must be >= 0, got -5``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from pydantic import ValidationError

from modelmonitor.api.crd import API_VERSION, KIND, build_crd
from modelmonitor.api.durations import DURATION_PATTERN
from modelmonitor.api.rules import RuleViolation, rule_violations
from modelmonitor.api.spec import ModelMonitorSpec


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _to_draft4(node: Any, *, closed: bool = True) -> Any:
    """A structural schema as JSON Schema draft 4: unknown fields refused, Kubernetes keys dropped."""
    if isinstance(node, list):
        return [_to_draft4(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "default":
            continue
        if key == "properties":
            out[key] = {name: _to_draft4(sub) for name, sub in value.items()}
        else:
            out[key] = _to_draft4(value)
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return out
    if node.get("type") == "object" and "properties" in node and closed:
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator() -> jsonschema.Draft4Validator:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    draft4 = _to_draft4(schema)
    draft4["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1}},
    }
    draft4["additionalProperties"] = False
    return jsonschema.Draft4Validator(draft4)


_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _num(value: Any) -> Any:
    """Bounds as a reader writes them: 1 rather than 1.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _join(parts: Iterable[Any]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _describe(error: jsonschema.ValidationError) -> Problem:
    path = _join(error.absolute_path)
    got = error.instance
    v, arg = error.validator, error.validator_value
    if v == "required":
        missing = next((name for name in arg if name not in got), arg[0])
        return Problem(_join([*error.absolute_path, missing]), "is required")
    if v == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted((name for name in got if name not in allowed), key=str)
        known = ", ".join(sorted(allowed))
        if extra[0] is True:  # YAML 1.1 (PyYAML, kubectl) reads a bare `on:` or `yes:` key as true
            return Problem(
                _join([*error.absolute_path, "on"]),
                f"YAML reads a bare `on:` key as the boolean true; no such field (known fields: {known})",
            )
        return Problem(_join([*error.absolute_path, extra[0]]), f"unknown field (known fields: {known})")
    if v == "minimum":
        op = ">" if error.schema.get("exclusiveMinimum") else ">="
        return Problem(path, f"must be {op} {_num(arg)}, got {got!r}")
    if v == "maximum":
        op = "<" if error.schema.get("exclusiveMaximum") else "<="
        return Problem(path, f"must be {op} {_num(arg)}, got {got!r}")
    if v == "type":
        return Problem(path, f"must be of type {arg}, got {_JSON_TYPES.get(type(got), 'value')} {got!r}")
    if v == "enum":
        return Problem(path, f"must be one of {', '.join(map(str, arg))}; got {got!r}")
    if v == "pattern":
        if arg == DURATION_PATTERN:
            return Problem(path, f"must be a duration such as 30s, 5m or 1h30m, got {got!r}")
        return Problem(path, f"must match {arg}, got {got!r}")
    if v in ("minLength", "maxLength", "minItems", "maxItems"):
        what = "characters" if v.endswith("Length") else "items"
        op = "at least" if v.startswith("min") else "at most"
        return Problem(path, f"must have {op} {arg} {what}, got {len(got)}")
    if v == "anyOf":
        return Problem(path, f"must be an integer or a string, got {got!r}")
    return Problem(path or "(root)", error.message)


def spec_problems(spec: Any, *, prefix: str = "spec") -> tuple[ModelMonitorSpec | None, list[Problem]]:
    """Parse a spec (already schema-valid or not) and return the model or the problems with paths.

    The operator uses this on every spec it reads, so a spec that slipped past the API server (an
    older CRD, a cluster without CEL) is reported in status naming the field instead of crashing.
    """
    try:
        parsed = ModelMonitorSpec.model_validate(spec, context={"skip_rules": True})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            ctx_error = (err.get("ctx") or {}).get("error")
            loc = [prefix, *err["loc"]]
            if isinstance(ctx_error, RuleViolation):
                if ctx_error.field:
                    loc.extend(ctx_error.field.split("."))
                problems.append(Problem(_join(loc), ctx_error.message))
            else:
                problems.append(Problem(_join(loc), _pydantic_message(err)))
        return None, sorted(set(problems))
    violations = [Problem(_join([prefix, *loc]), message) for loc, message in rule_violations(parsed)]
    if violations:
        return None, sorted(set(violations))
    return parsed, []


def _pydantic_message(err: Mapping[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    got = err.get("input")
    kind = err["type"]
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {_num(limit)}, got {got!r}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    return f"{err['msg']}, got {got!r}"


def validate_manifest(doc: Any) -> list[Problem]:
    """All problems of one ModelMonitor manifest; empty when the API server would accept it."""
    if not isinstance(doc, dict):
        return [Problem("(root)", f"must be a mapping (a Kubernetes object), got {type(doc).__name__}")]
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        return [
            Problem(
                "apiVersion/kind",
                f"must be {API_VERSION} {KIND}, got {doc.get('apiVersion')!r} {doc.get('kind')!r}",
            )
        ]
    schema_problems = sorted({_describe(e) for e in _validator().iter_errors(doc)})
    if schema_problems:
        return schema_problems
    _, problems = spec_problems(doc["spec"])
    return problems


def is_model_monitor(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("modelmonitor.io/")
