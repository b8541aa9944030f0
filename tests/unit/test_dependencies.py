"""Every third-party import of the package is a declared runtime dependency (what ships is what runs).

The image installs ``pip install .`` without extras; a module imported only because the dev extras
happen to bring it works in the tests and fails in the pod. ``tests/install/check.sh`` proves the
same on a real bare install; this test names the import and the file at once.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "modelmonitor"
# Imports allowed outside the runtime dependencies, each with the reason.
OPTIONAL = {
    "kmock": "`modelmonitor demo` runs from a checkout with the dev extras (make demo)",
    "tests": "`modelmonitor demo` reuses the test harness of the checkout",
    "pyarrow": "drift/categorical.py counts a column with pyarrow only when pandas holds it in Arrow, "
    "which it does only where pyarrow is installed (the image has none: pandas holds strings itself)",
}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_norm(re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0]) for dep in project["dependencies"]}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top != "modelmonitor" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_is_a_declared_runtime_dependency() -> None:
    runtime = declared()
    owners = packages_distributions()
    missing = {}
    for module, files in imports().items():
        if module in OPTIONAL:
            continue
        dists = {_norm(d) for d in owners.get(module, [])}
        if not dists & runtime:
            missing[module] = sorted(files)
    assert not missing, f"imported but not in [project.dependencies]: {missing}"


def test_the_optional_imports_are_still_imported() -> None:
    # An entry of OPTIONAL that nothing imports any more is a stale exception: remove it.
    assert set(OPTIONAL) <= set(imports())
