"""The CRD on a real API server: accepted and Established, defaults as the models say, every broken
manifest refused naming the same fields as ``modelmonitor validate``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from modelmonitor.api import validate_manifest
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.validation import RULES_NOT_CHECKED
from tests.cluster.conftest import ROOT, K8s, control_plane

pytestmark = pytest.mark.cluster

BROKEN = sorted((ROOT / "tests" / "unit" / "api" / "broken").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
PATH = "/apis/modelmonitor.io/v1alpha1/namespaces/default/modelmonitors"


@pytest.fixture(scope="module")
def api() -> Iterator[K8s]:
    """A fresh API server with only the CRD from crds/, applied as the README says."""
    with control_plane(controller_manager=False) as cluster:
        cluster.kubectl("apply", "-f", str(ROOT / "crds" / "modelmonitor.yaml"))
        cluster.wait_established()
        yield cluster


def post(k8s: K8s, doc: dict[str, Any], *, dry_run: bool = False) -> requests.Response:
    """Create as kubectl does (strict field validation), JSON body: what the server itself says."""
    params = {"fieldValidation": "Strict", **({"dryRun": "All"} if dry_run else {})}
    return requests.post(
        k8s.server + PATH, params=params, data=json.dumps(doc), verify=str(k8s.ca), timeout=30,
        headers={"Authorization": f"Bearer {k8s.token}", "Content-Type": "application/json"},
    )  # fmt: skip


def server_fields(body: dict[str, Any]) -> set[str]:
    causes = (body.get("details") or {}).get("causes") or []
    fields = {
        # A list-map key seen twice is reported on the duplicate item; validate names the list.
        re.sub(r"\[\d+\]$", "", c["field"]) if c.get("reason") == "FieldValueDuplicate" else c["field"]
        for c in causes
        if c.get("field")
        and c["field"] != "<nil>"  # "<nil>": "some rules were not checked"
        # A rule evaluated on a value the schema already refused (a duration that does not parse):
        # the schema's cause names the field.
        and "type conversion error" not in c.get("message", "")
    }
    fields |= set(re.findall(r'unknown field "([^"]+)"', body.get("message", "")))
    # YAML 1.1 reads a bare `on:` key as true; kubectl sends it as "true", validate names it `on`.
    return {re.sub(r"\.true$", ".on", f) for f in fields}


def test_the_crd_is_accepted_and_established(api: K8s) -> None:
    crd = api.get("crd", "modelmonitors.modelmonitor.io")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True"
    assert crd["status"]["acceptedNames"]["shortNames"] == ["mm"]
    # `kubectl get mm` works by the short name on this server.
    assert api.kubectl("get", "mm", "-A").returncode == 0


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_each_broken_manifest_is_refused_naming_the_fields_validate_names(api: K8s, path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    response = post(api, doc)
    assert response.status_code in (400, 422), response.text
    by_server = server_fields(response.json())
    # validate's "rules not checked" note is the server's "<nil>" cause (left out of server_fields).
    by_validate = {p.path for p in validate_manifest(doc) if p.message != RULES_NOT_CHECKED}
    assert by_server, response.text
    if response.status_code == 422:
        # The schema and every CEL rule ran: the server and validate name the same fields.
        assert by_server == by_validate, response.json()["message"]
    else:
        # The server stopped decoding at the first field it cannot read; validate names it or its parent.
        assert all(any(f == v or f.startswith(v + ".") for v in by_validate) for f in by_server), (
            by_server,
            by_validate,
        )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_monitor_is_accepted(api: K8s, path: Path) -> None:
    monitors = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "ModelMonitor"]
    for doc in monitors:
        response = post(api, doc, dry_run=True)
        assert response.status_code == 201, response.text


def test_the_server_fills_in_the_same_defaults_as_the_models(api: K8s) -> None:
    doc = {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": "defaults"},
        "spec": {"target": {"deployment": "credit-scoring"}, "sidecar": {"redact": ["ssn"]}},
    }
    response = post(api, doc)
    assert response.status_code == 201, response.text
    stored = response.json()["spec"]
    ours = ModelMonitorSpec.model_validate(doc["spec"]).model_dump(mode="json", exclude_none=True)
    assert stored == ours
    assert stored["sidecar"]["listenPort"] == 8480 and stored["sidecar"]["redact"] == ["ssn"]
