"""Each CEL rule in the CRD and its Python mirror give the same verdict on the same objects.

The CEL expressions are evaluated by a CEL interpreter (cel-python), on the spec as the API server
sees it after defaulting. Every rule must be seen both passing and failing, or the test cannot fail.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from modelmonitor.api.rules import Model, Rule
from modelmonitor.api.spec import ModelMonitorSpec

ROOT = Path(__file__).resolve().parents[3]


def corpus() -> list[dict[str, Any]]:
    docs = []
    for path in [
        *sorted((ROOT / "examples").glob("*.yaml")),
        *sorted((Path(__file__).parent / "broken").glob("*")),
    ]:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ModelMonitor":
                docs.append(doc["spec"])
    extra = [
        {"target": {"deployment": "m"}, "slos": {"latencyP95Ms": 300, "latencyP99Ms": 200}},
        {"target": {"deployment": "m"}, "slos": {"latencyP95Ms": 100, "latencyP99Ms": 200}},
        {"target": {"deployment": "m"}, "sidecar": {"listenPort": 9000, "adminPort": 9000}},
        {
            "target": {"deployment": "m"},
            "performance": {"task": "regression", "segments": [{"feature": "g"}]},
        },
        {"target": {"deployment": "m"}, "checks": [{"name": "a", "query": "up"}]},
        {
            "target": {"deployment": "m"},
            "performance": {"task": "binary-classification", "metrics": [{"name": "f1"}]},
        },
        {
            "target": {"deployment": "m"},
            "actions": {
                "alerts": [
                    {
                        "webhook": {
                            "url": "http://a",
                            "urlFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                        },
                        "when": ["DataDrift"],
                    }
                ]
            },
        },
        {"target": {"deployment": "m"}, "drift": {"reference": {"url": "http://a"}}},
        {"target": {"deployment": "m"}, "drift": {"threshold": 0.2}},
        {"target": {"deployment": "m"}, "prometheus": {"timeout": "0s"}},
        {"target": {"deployment": "m"}, "prometheus": {"timeout": "10m"}},
        {"target": {"deployment": "m"}, "experiment": {"challenger": {"deployment": "c"}, "outcome": {}}},
        {
            "target": {"deployment": "m"},
            "experiment": {
                "challenger": {"deployment": "c"},
                "traffic": {"httpRoute": {"name": "r", "championBackend": "s", "challengerBackend": "s"}},
            },
        },
    ]
    # CEL runs only on objects that passed the schema; keep those.
    return [doc for doc in docs + extra if _schema_valid(doc)]


def _schema_valid(spec: dict[str, Any]) -> bool:
    try:
        ModelMonitorSpec.model_validate(spec, context={"skip_rules": True})
    except ValidationError:
        return False
    return True


def nodes(model: BaseModel):  # type: ignore[no-untyped-def]
    yield model
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                yield from nodes(item)


ENV = celpy.Environment()
OUTCOMES: dict[str, set[bool]] = defaultdict(set)


def cel(rule: Rule, obj: dict[str, Any]) -> bool:
    program = ENV.program(ENV.compile(rule.cel))
    return bool(program.evaluate({"self": celpy.json_to_cel(obj)}))


@pytest.mark.parametrize("index", range(len(corpus())))
def test_cel_and_python_agree(index: int) -> None:
    spec = ModelMonitorSpec.model_validate(corpus()[index], context={"skip_rules": True})
    for node in nodes(spec):
        assert isinstance(node, Model)
        as_server_sees_it = node.model_dump(mode="json", exclude_none=True)
        for rule in type(node).rules:
            python = rule.check(node)
            assert cel(rule, as_server_sees_it) == python, rule.cel
            OUTCOMES[rule.cel].add(python)


def test_every_rule_was_seen_passing_and_failing() -> None:
    for index in range(len(corpus())):
        test_cel_and_python_agree(index)
    rules = {rule.cel for cls in _all_models() for rule in cls.rules}
    assert rules, "no rules found"
    for rule in rules:
        assert OUTCOMES[rule] == {True, False}, rule


def _all_models() -> list[type[Model]]:
    from modelmonitor.api import spec as spec_module

    return [
        obj
        for obj in vars(spec_module).values()
        if isinstance(obj, type) and issubclass(obj, Model) and obj is not Model
    ]


def _defaults_with_rules(node: dict[str, Any], path: str = "spec") -> list[tuple[str, Any, dict[str, str]]]:
    """(path, default as written, rule) for every rule on a schema node that carries a default."""
    found = []
    if "default" in node:
        found += [(path, node["default"], rule) for rule in node.get("x-kubernetes-validations") or []]
    for name, sub in (node.get("properties") or {}).items():
        found += _defaults_with_rules(sub, f"{path}.{name}")
    if "items" in node:
        found += _defaults_with_rules(node["items"], f"{path}[]")
    return found


def test_every_rule_holds_on_the_default_as_written_in_the_crd() -> None:
    """The API server evaluates each rule against each ``default`` as written, before it fills nested
    defaults in; one failing (or erroring, e.g. "no such key") rule makes the whole CRD invalid."""
    crd = yaml.safe_load((ROOT / "crds" / "modelmonitor.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    checked = _defaults_with_rules(schema)
    assert {"spec.sidecar", "spec.drift.reference"} <= {path for path, _, _ in checked}
    for path, default, rule in checked:
        program = ENV.program(ENV.compile(rule["rule"]))
        result = program.evaluate({"self": celpy.json_to_cel(default)})
        assert result is True or (isinstance(result, celpy.celtypes.BoolType) and bool(result)), (
            f"{path}: rule {rule['rule']!r} does not hold on its default {default!r}: {result!r}"
        )
