"""The user guide's "every field" block and the chart's docs stay true to the CRD and the chart."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.unit.chart.conftest import ROOT

GUIDE = ROOT / "docs" / "user-guide.md"


def crd_fields(schema: dict[str, Any], path: str = "spec") -> dict[str, Any]:
    """Leaf field path -> default (None when there is none); list items as ``[]``."""
    out: dict[str, Any] = {}
    if schema.get("type") == "object" and "properties" in schema:
        for name, sub in schema["properties"].items():
            out |= crd_fields(sub, f"{path}.{name}")
    elif schema.get("type") == "array" and "properties" in (schema.get("items") or {}):
        out |= crd_fields(schema["items"], f"{path}[]")
    else:
        out[path] = schema.get("default")
    return out


def guide_fields(node: Any, leaves: set[str], path: str = "spec") -> dict[str, Any]:
    """The same shape from the guide's YAML; a map-valued leaf (resources.requests) is kept whole."""
    out: dict[str, Any] = {}
    if path in leaves:
        out[path] = node
    elif isinstance(node, dict):
        for name, sub in node.items():
            out |= guide_fields(sub, leaves, f"{path}.{name}")
    elif isinstance(node, list) and node and isinstance(node[0], dict):
        out |= guide_fields(node[0], leaves, f"{path}[]")
    else:
        out[path] = node
    return out


def test_user_guide_lists_every_field_with_its_default() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "modelmonitor.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    want = crd_fields(schema)
    blocks = re.findall(r"```yaml\n(spec:.*?)```", GUIDE.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/user-guide.md needs one ```yaml block starting with spec:"
    have = guide_fields(yaml.safe_load(blocks[0])["spec"], set(want))
    assert sorted(set(want) - set(have)) == [], "fields missing from the user guide"
    assert sorted(set(have) - set(want)) == [], "fields in the user guide that the CRD does not have"
    wrong = {path: (have[path], default) for path, default in want.items() if have[path] != default}
    assert not wrong, f"defaults differ from the CRD (guide, CRD): {wrong}"


def test_install_doc_covers_every_top_level_value() -> None:
    values = yaml.safe_load((ROOT / "charts" / "modelmonitor" / "values.yaml").read_text())
    text = (ROOT / "docs" / "install.md").read_text()
    missing = [key for key in values if f"`{key}" not in text]
    assert not missing, f"values not described in docs/install.md: {missing}"


def test_install_doc_lists_every_alert() -> None:
    template = (ROOT / "charts" / "modelmonitor" / "templates" / "prometheusrule.yaml").read_text()
    names = set(re.findall(r'"?(ModelMonitor[A-Z]\w+)"', template)) | set(
        re.findall(r"alert: (ModelMonitor\w+)", template)
    )
    assert len(names) >= 15
    text = (ROOT / "docs" / "install.md").read_text()
    assert not [n for n in names if f"| {n} |" not in text]
