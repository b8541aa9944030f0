"""Validate ModelMonitor manifests offline, the way the API server would.

Two passes, as on a real server: the CRD's OpenAPI schema (types, bounds, enums, patterns, unknown
fields) and the object's name, then the cross-field rules (the CRD's CEL rules, mirrored in Python).
Both passes are reported together, as the API server does: an out-of-range value or a bad pattern does
not stop the rules, but a wrong type, a missing field or a value outside an enum does (the server then
says the rules were not checked). Every problem names its field path, e.g.
``spec.slos.latencyP95Ms: must be >= 0, got -5``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema
from pydantic import BaseModel, ValidationError

from modelmonitor.api.crd import API_VERSION, KIND, build_crd
from modelmonitor.api.durations import DURATION_PATTERN
from modelmonitor.api.rules import Model, RuleViolation, rule_violations
from modelmonitor.api.spec import ModelMonitorSpec

#: An object name as the API server checks it (RFC 1123 subdomain), and a namespace (RFC 1123 label).
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

#: Schema errors after which the API server skips the CEL rules (its ``hasBlockingErr``: type invalid,
#: required, not supported, too long, too many). Bounds, patterns and unknown fields do not block them.
BLOCKING = frozenset({"type", "anyOf", "required", "enum", "maxLength", "maxItems"})
RULES_NOT_CHECKED = (
    "cross-field rules not checked until the type, required and enum errors are fixed (as on the API server)"
)


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
def _crd_schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _without_nulls(value: Any, node: Mapping[str, Any]) -> Any:
    """``value`` without the null fields the API server prunes before validating: a field of an object
    schema that is not ``nullable`` (``{"url": null}`` is stored as ``{}``, and accepted)."""
    if isinstance(value, dict):
        props = node.get("properties") or {}
        return {
            k: _without_nulls(v, props.get(k) or {})
            for k, v in value.items()
            if not (v is None and k in props and not props[k].get("nullable"))
        }
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_without_nulls(v, node["items"]) for v in value]
    return value


@functools.cache
def _validator() -> jsonschema.Draft4Validator:
    draft4 = _to_draft4(_crd_schema())
    draft4["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": DNS_SUBDOMAIN},
            "namespace": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": DNS_LABEL},
        },
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
        if arg in (DNS_SUBDOMAIN, DNS_LABEL):
            what = "DNS-1123 subdomain" if arg == DNS_SUBDOMAIN else "DNS-1123 label"
            chars = (
                "lowercase letters, digits, '-' and '.'"
                if arg == DNS_SUBDOMAIN
                else "lowercase letters, digits and '-'"
            )
            return Problem(
                path, f"must be a {what} ({chars}, starting and ending with a letter or digit), got {got!r}"
            )
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
    doc = _without_nulls(doc, _crd_schema())
    errors = list(_validator().iter_errors(doc))
    problems = {_describe(e) for e in errors}
    if not errors:
        return spec_problems(doc["spec"])[1]
    # The object name is checked apart from the schema (ObjectMeta validation): it never blocks the rules.
    blocked = any(e.validator in BLOCKING and list(e.absolute_path)[:1] != ["metadata"] for e in errors)
    rules = None if blocked else _rules_despite(doc["spec"], errors)
    if rules is None:
        return [*sorted(problems), Problem("spec", RULES_NOT_CHECKED)]
    return sorted(problems | set(rules))


FieldPath = tuple[Any, ...]


def _rules_despite(spec: Any, errors: Sequence[jsonschema.ValidationError]) -> list[Problem] | None:
    """The cross-field problems of a spec whose schema errors do not block the rules, as the API server
    evaluates them then; None when the rules cannot be evaluated.

    The rules run on a repaired copy: an out-of-range number is put at its bound, any other invalid
    value and every unknown field removed (its default applies). A rule that reads a repaired value
    would judge the repair, not the manifest, so it is not reported: the schema problem stands for it.
    """
    fixed = copy.deepcopy(spec)
    clamped: list[FieldPath] = []
    removed: list[FieldPath] = []
    for err in errors:
        where = tuple(err.absolute_path)
        if where[:1] != ("spec",):
            continue
        if err.validator == "additionalProperties":
            allowed = set(err.schema.get("properties", {}))
            removed += [(*where[1:], key) for key in err.instance if key not in allowed]
        elif err.validator in ("minimum", "maximum") and not err.schema.get(
            f"exclusive{err.validator.title()}"
        ):
            parent, key = _parent(fixed, where[1:])
            parent[key] = _num(err.validator_value)
            clamped.append(where[1:])
        else:
            removed.append(where[1:])
    # Deepest and last first, so that removing a list item does not move another one still to remove.
    for at in sorted(
        set(removed),
        key=lambda path: [(p, "") if type(p) is int else (-1, str(p)) for p in path],
        reverse=True,
    ):
        parent, key = _parent(fixed, at)
        del parent[key]
    try:
        parsed = ModelMonitorSpec.model_validate(fixed, context={"skip_rules": True})
    except ValidationError:
        return None
    repaired = clamped + removed
    return [
        Problem(_join(["spec", *loc]), message)
        for loc, message, reads in _judge(parsed, ())
        if not any(_related(read, path) for read in reads for path in repaired)
    ]


def _parent(root: Any, path: FieldPath) -> tuple[Any, Any]:
    node = root
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


def _related(a: FieldPath, b: FieldPath) -> bool:
    """One path is the other or lies below it."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


class _Reads:
    """A parsed model as a rule's check sees it, noting the path of every value the check reads."""

    def __init__(self, model: BaseModel, path: FieldPath, reads: list[FieldPath]) -> None:
        self._model, self._path, self._reads = model, path, reads

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._model, name)
        if isinstance(value, BaseModel):
            return _Reads(value, (*self._path, name), self._reads)
        self._reads.append((*self._path, name))
        return value

    def __eq__(self, other: object) -> bool:  # a model compared whole is read whole
        self._reads.append(self._path)
        return self._model == (other._model if isinstance(other, _Reads) else other)

    __hash__ = None  # type: ignore[assignment]


def _judge(model: BaseModel, path: FieldPath) -> Iterator[tuple[FieldPath, str, list[FieldPath]]]:
    """Every failing rule of a parsed model tree: its field path, its message and the paths it read."""
    if isinstance(model, Model):
        for rule in type(model).rules:
            reads: list[FieldPath] = []
            if not rule.check(_Reads(model, path, reads)):
                yield ((*path, *rule.field.split(".")) if rule.field else path), rule.message, reads
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            if isinstance(item, BaseModel):
                yield from _judge(item, (*path, name) if index is None else (*path, name, index))


def is_model_monitor(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("modelmonitor.io/")
