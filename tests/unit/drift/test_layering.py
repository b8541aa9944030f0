"""The drift package stays pure: no Kubernetes, Kopf, HTTP or Prometheus imports, no I/O layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import modelmonitor.drift

FORBIDDEN = (
    "kopf",
    "kubernetes",
    "aiohttp",
    "requests",
    "urllib3",
    "httpx",
    "prometheus_client",
    "prometheus_api_client",
    "modelmonitor.adapters",
    "modelmonitor.operator",
    "modelmonitor.sidecar",
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_forbidden_imports() -> None:
    package = Path(modelmonitor.drift.__file__).parent
    files = sorted(package.glob("*.py"))
    assert len(files) > 5
    for path in files:
        bad = {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
        assert not bad, f"{path.name} imports {bad}"


def test_cli_module_import_is_light() -> None:
    code = "import sys, modelmonitor.commands.drift; print(sorted({'pandas','scipy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
