"""The CRD is generated from the models, stored verbatim, and a valid structural schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from modelmonitor.api import build_crd, render_crd
from modelmonitor.api.crd import PRINTER_COLUMNS

ROOT = Path(__file__).resolve().parents[3]


def walk(node: Any, path: str = ""):  # type: ignore[no-untyped-def]
    """Every dict in a document (for searching rules anywhere)."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def schema_nodes(node: dict[str, Any], path: str = ""):  # type: ignore[no-untyped-def]
    """Every schema node below ``node``: through properties, items and additionalProperties only."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from schema_nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


def test_stored_crd_is_exactly_the_generated_one() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "modelmonitor.cli", "crd"], capture_output=True, text=True, check=True
    ).stdout
    assert out == render_crd()
    assert (ROOT / "crds" / "modelmonitor.yaml").read_text() == out, (
        "run: modelmonitor crd > crds/modelmonitor.yaml"
    )


def test_crd_identity_and_printer_columns() -> None:
    crd = yaml.safe_load(render_crd())
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "modelmonitors.modelmonitor.io"
    assert spec["group"] == "modelmonitor.io" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "ModelMonitor",
        "listKind": "ModelMonitorList",
        "plural": "modelmonitors",
        "singular": "modelmonitor",
        "shortNames": ["mm"],
        "categories": ["ml"],
    }
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1" and version["storage"] and version["subresources"] == {"status": {}}
    names = [c["name"].upper() for c in version["additionalPrinterColumns"]]
    assert names == ["TARGET", "PHASE", "DRIFT", "QUALITY", "P95", "ERRORS", "LAST-ACTION", "AGE"]
    assert version["additionalPrinterColumns"] == PRINTER_COLUMNS


def test_schema_is_structural() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in schema_nodes(schema):
        assert "$ref" not in node, path
        assert node.get("type") != "null", path
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string") is True, path
        if node.get("type") == "object" and "properties" in node:
            assert "additionalProperties" not in node, path
        if "exclusiveMinimum" in node:
            assert node["exclusiveMinimum"] is True and "minimum" in node, path
        if not node.get("x-kubernetes-int-or-string"):
            assert node.get("type") in ("object", "array", "string", "integer", "number", "boolean"), path


def test_every_spec_field_has_a_description_and_type() -> None:
    spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    missing = [
        path for path, node in schema_nodes(spec) if "description" not in node and not path.endswith("[]")
    ]
    missing = [p for p in missing if not p.endswith("{}")]
    assert missing == []


def test_status_conditions_follow_the_kubernetes_convention() -> None:
    status = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["required"]) == {"type", "status", "reason", "lastTransitionTime"}
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert {"observedGeneration", "phase", "lastEvaluation", "drift", "slo", "actions"} <= set(
        status["properties"]
    )
    assert status["properties"]["phase"]["enum"] == [
        "Pending", "Healthy", "Drifting", "Degraded", "Breached", "RolledBack", "Unknown", "Error",
    ]  # fmt: skip


def test_crd_has_cel_rules_for_cross_field_constraints() -> None:
    rules = [
        node["x-kubernetes-validations"]
        for _, node in walk(build_crd())
        if isinstance(node, dict) and "x-kubernetes-validations" in node
    ]
    flat = [r["rule"] for group in rules for r in group]
    assert any("has(self.configMapRef)" in r for r in flat)
    assert any("self.min <= self.max" in r for r in flat)
    assert any("self.minReplicas <= self.maxReplicas" in r for r in flat)
    assert any("duration(self.actions.rollback.cooldown)" in r for r in flat)


def test_field_reference_is_generated_from_the_models() -> None:
    from modelmonitor.api.reference import render_reference

    text = (ROOT / "docs" / "reference.md").read_text()
    assert text == render_reference(), "run: python -m modelmonitor.api.reference > docs/reference.md"
    assert "| `spec.slos.latencyP95Ms` | number | — | ≥ 0 |" in text
    assert "| `spec.target.deployment` | string | required |" in text
