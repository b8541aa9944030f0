"""The package's shape: no module over 400 lines, so a concern that grows becomes a module of its own
(docs/architecture.md says where), and every evaluator is listed in the one registry."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import modelmonitor
from modelmonitor import evaluate

PACKAGE = Path(modelmonitor.__file__).parent
MAX_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_every_evaluator_module_is_registered_once() -> None:
    shared = {"findings", "observations"}  # what evaluators share: types and the derived drift report
    modules = {m.name for m in pkgutil.iter_modules(evaluate.__path__)} - shared
    registered = [f.__module__.rsplit(".", 1)[1] for f in evaluate.EVALUATORS]
    assert sorted(registered) == sorted(modules)
    assert len(set(registered)) == len(registered)
