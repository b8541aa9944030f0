"""Generate the CustomResourceDefinition from the pydantic models.

The output is a Kubernetes *structural* schema: no ``$ref``, no ``null`` types, OpenAPI v3.0
``exclusiveMinimum``, defaults on every field that has one, and each model's cross-field rules as
``x-kubernetes-validations``. ``crds/modelmonitor.yaml`` is exactly ``modelmonitor crd``.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from pydantic import BaseModel

from modelmonitor.api.rules import Model
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ModelMonitorStatus

GROUP = "modelmonitor.io"
VERSION = "v1alpha1"
KIND = "ModelMonitor"
PLURAL = "modelmonitors"
SINGULAR = "modelmonitor"
SHORT_NAMES = ["mm"]
CATEGORIES = ["ml"]
API_VERSION = f"{GROUP}/{VERSION}"
CRD_NAME = f"{PLURAL}.{GROUP}"

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Target",
        "type": "string",
        "jsonPath": ".spec.target.deployment",
        "description": "Model Deployment",
    },
    {
        "name": "Phase",
        "type": "string",
        "jsonPath": ".status.phase",
        "description": "Verdict of the last evaluation",
    },
    {
        "name": "Drift",
        "type": "number",
        "jsonPath": ".status.drift.share",
        "description": "Share of features that drift (0-1)",
    },
    {
        "name": "Quality",
        "type": "string",
        "jsonPath": ".status.performance.summary",
        "description": "Headline realized metric on labelled rows",
    },
    {
        "name": "P95",
        "type": "number",
        "jsonPath": ".status.slo.latencyP95Ms",
        "description": "p95 latency, in ms",
    },
    {
        "name": "Errors",
        "type": "number",
        "jsonPath": ".status.slo.errorRate",
        "description": "Share of 5xx responses (0-1)",
    },
    {
        "name": "Last-Action",
        "type": "string",
        "jsonPath": ".status.lastAction",
        "description": "Last action taken",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

# Lists the API server merges by key (server-side apply, strategic merge of status).
_LIST_MAP_KEYS = {("ModelMonitorStatus", "conditions"): ["type"], ("ModelMonitorSpec", "checks"): ["name"]}


def _models(root: type[BaseModel]) -> dict[str, type[Model]]:
    """Every Model class reachable from ``root``, by the name pydantic gives its ``$defs`` entry."""
    found: dict[str, type[Model]] = {}
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, Model):
            if item.__name__ in found:
                continue
            found[item.__name__] = item
            stack.extend(field.annotation for field in item.model_fields.values())
        for arg in getattr(item, "__args__", ()) or ():
            stack.append(arg)
        for meta in getattr(item, "__metadata__", ()) or ():
            stack.append(meta)
    return found


def _default_of(model: type[Model], name: str) -> tuple[bool, Any]:
    field = model.model_fields[name]
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            # The whole nested default, not ``{}``: the API server checks every CEL rule against each
            # default as written, before it fills nested defaults in, so ``{}`` fails any rule that
            # reads a field ("no such key").
            return True, value.model_dump(mode="json", by_alias=True, exclude_none=True)
        return True, copy.deepcopy(value)
    if field.is_required() or field.default is None:
        return False, None
    value = field.default
    return True, value.value if hasattr(value, "value") else value


def _structural(
    schema: dict[str, Any], defs: dict[str, Any], models: dict[str, type[Model]]
) -> dict[str, Any]:
    """Turn one pydantic JSON-schema node into a structural OpenAPI v3 node."""
    schema = dict(schema)
    ref = schema.pop("$ref", None)
    if ref is not None:
        name = ref.rsplit("/", 1)[-1]
        target = _structural(defs[name], defs, models)
        outer = {k: v for k, v in schema.items() if k in ("description", "default")}
        return {**target, **outer}
    if "anyOf" in schema and not schema.get("x-kubernetes-int-or-string"):
        options = [o for o in schema.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {options}")
        inner = _structural(options[0], defs, models)
        outer = {k: v for k, v in schema.items() if k in ("description", "default") and v is not None}
        return {**inner, **outer}
    schema.pop("title", None)
    if schema.get("default", 0) is None:
        schema.pop("default")
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in schema and not isinstance(schema[key], bool):
            schema["minimum" if key == "exclusiveMinimum" else "maximum"] = schema[key]
            schema[key] = True
    if schema.get("x-kubernetes-int-or-string"):
        schema.pop("pattern", None)
    if schema.get("type") == "object" and "properties" in schema:
        schema.pop("additionalProperties", None)
        model = models.get(str(schema.get("_model", "")))
        schema.pop("_model", None)
        props: dict[str, Any] = {}
        for name, sub in schema["properties"].items():
            node = _structural(sub, defs, models)
            if model is not None:
                has_default, default = _default_of(model, name)
                if has_default:
                    node["default"] = default
                else:
                    node.pop("default", None)
                if node.get("type") == "array" and (model.__name__, name) in _LIST_MAP_KEYS:
                    node["x-kubernetes-list-type"] = "map"
                    node["x-kubernetes-list-map-keys"] = _LIST_MAP_KEYS[(model.__name__, name)]
            props[name] = node
        schema["properties"] = props
        if model is not None and model.rules:
            schema["x-kubernetes-validations"] = [rule.to_crd() for rule in model.rules]
    elif schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _structural(schema["additionalProperties"], defs, models)
    if schema.get("type") == "array" and "items" in schema:
        schema["items"] = _structural(schema["items"], defs, models)
    return _tidy(schema)


_KEY_ORDER = ("description", "type", "default", "enum", "required", "properties", "items")


def _tidy(node: dict[str, Any]) -> dict[str, Any]:
    """Order a node's keys for a reader: description and type first, nested schemas last."""
    first = [k for k in _KEY_ORDER[:5] if k in node]
    last = [k for k in _KEY_ORDER[5:] if k in node]
    middle = sorted(k for k in node if k not in first and k not in last)
    return {k: node[k] for k in [*first, *middle, *last]}


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of ``model`` (spec or status)."""
    raw = model.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
    defs = raw.pop("$defs", {})
    models = _models(model)
    for name in models:
        if name in defs:
            defs[name]["_model"] = name
    raw["_model"] = model.__name__
    return _structural(raw, defs, models)


def build_crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition, as a dict ready for YAML."""
    spec_schema = openapi_schema(ModelMonitorSpec)
    status_schema = openapi_schema(ModelMonitorStatus)
    status_schema["description"] = "Observed state: the verdict, its figures and the actions taken."
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/name": "modelmonitor", "app.kubernetes.io/part-of": "modelmonitor"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": CATEGORIES,
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "Watches a model Deployment: drift, quality, fairness and SLOs.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crd() -> str:
    """The CRD as YAML text, exactly as stored in crds/modelmonitor.yaml."""
    header = "# Generated by `modelmonitor crd` from operator/modelmonitor/api/. Do not edit by hand.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=120, allow_unicode=True)
