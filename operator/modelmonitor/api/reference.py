"""The field reference (docs/reference.md), generated from the same models as the CRD."""

from __future__ import annotations

import json
from typing import Any

from modelmonitor.api.crd import build_crd


def _type(node: dict[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "int or string"
    kind = str(node.get("type", "object"))
    if kind == "array":
        return f"list of {_type(node.get('items', {}))}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of {_type(node['additionalProperties'])}"
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    return kind


def _n(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _bounds(node: dict[str, Any]) -> str:
    parts = []
    if "minimum" in node:
        parts.append((">" if node.get("exclusiveMinimum") else "≥") + f" {_n(node['minimum'])}")
    if "maximum" in node:
        parts.append(("<" if node.get("exclusiveMaximum") else "≤") + f" {_n(node['maximum'])}")
    if "maxItems" in node:
        parts.append(f"≤ {node['maxItems']} items")
    if "minItems" in node:
        parts.append(f"≥ {node['minItems']} items")
    if "pattern" in node and "duration" not in node.get("description", "").lower():
        parts.append("duration" if "ms|s|m|h" in node["pattern"] else "")
    return ", ".join(p for p in parts if p)


def _rows(node: dict[str, Any], path: str, required: bool) -> list[str]:
    rows = []
    if "default" in node and node.get("type") == "object" and "properties" in node:
        default = "its fields' defaults"  # the CRD spells them out; the rows below list them
    else:
        default = json.dumps(node["default"]) if "default" in node else ("required" if required else "—")
    desc = str(node.get("description", "")).replace("|", "\\|")
    rows.append(f"| `{path}` | {_type(node)} | {default} | {_bounds(node)} | {desc} |")
    target = node.get("items", {}) if node.get("type") == "array" else node
    needed = set(target.get("required", []))
    suffix = "[]" if node.get("type") == "array" else ""
    for name, sub in target.get("properties", {}).items():
        rows.extend(_rows(sub, f"{path}{suffix}.{name}", name in needed))
    return rows


def render_reference() -> str:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    lines = [
        "# ModelMonitor field reference",
        "",
        "Generated from `operator/modelmonitor/api/` (the same models as the CRD); do not edit by hand.",
        "A test keeps this file equal to `python -m modelmonitor.api.reference`.",
        "",
        "## spec",
        "",
        "| field | type | default | bounds | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, sub in spec["properties"].items():
        lines.extend(_rows(sub, f"spec.{name}", name in spec.get("required", [])))
    lines += ["", "## Cross-field rules (CEL, checked by the API server and by `modelmonitor validate`)", ""]
    for path, node in _rule_nodes(spec, "spec"):
        for rule in node["x-kubernetes-validations"]:
            lines.append(f"- `{path}`: {rule['message']}")
    lines += ["", "## status", "", "| field | type | description |", "| --- | --- | --- |"]
    status = schema["properties"]["status"]
    for name, sub in status["properties"].items():
        desc = str(sub.get("description", "")).replace("|", "\\|")
        lines.append(f"| `status.{name}` | {_type(sub)} | {desc} |")
    return "\n".join(lines) + "\n"


def _rule_nodes(node: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)] if "x-kubernetes-validations" in node else []
    target = node.get("items", {}) if node.get("type") == "array" else node
    suffix = "[]" if node.get("type") == "array" else ""
    for name, sub in target.get("properties", {}).items():
        found.extend(_rule_nodes(sub, f"{path}{suffix}.{name}"))
    return found


if __name__ == "__main__":  # pragma: no cover
    print(render_reference(), end="")
