"""The Helm chart on a real API server: install, upgrade (the CRD upgrades), uninstall (the CRD stays)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.cluster.conftest import CHART, RELEASE, RELEASE_NAMESPACE, K8s

pytestmark = pytest.mark.cluster

CRD = "crd/modelmonitors.modelmonitor.io"
MONITOR = {
    "apiVersion": "modelmonitor.io/v1alpha1",
    "kind": "ModelMonitor",
    "metadata": {"name": "survives", "namespace": "default"},
    "spec": {"target": {"deployment": "credit-scoring"}},
}


def test_install_upgrade_uninstall(bare_api: K8s, tmp_path: Path) -> None:
    k8s = bare_api
    installed = k8s.helm(
        "install", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, "--create-namespace",
        "--set", "operator.prometheusUrl=http://prometheus-operated.monitoring.svc:9090",
    )  # fmt: skip
    assert "STATUS: deployed" in installed.stdout, installed.stdout
    k8s.wait_established()
    crd = k8s.get(CRD)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
    # What the operator runs with exists as rendered: its ServiceAccount, RBAC and Deployment.
    for kind, name in [("serviceaccount", "modelmonitor"), ("deployment", "modelmonitor")]:
        assert k8s.get("-n", RELEASE_NAMESPACE, kind, name)["metadata"]["name"] == name
    for name in ("modelmonitor", "modelmonitor-cluster"):
        assert k8s.get("clusterrole", name)["rules"]
    k8s.apply(MONITOR)

    # The next chart version brings a changed CRD: `helm upgrade` must bring it to the cluster.
    chart = tmp_path / "modelmonitor"
    shutil.copytree(CHART, chart)
    crd_file = chart / "files" / "crds" / "modelmonitor.yaml"
    new_crd = yaml.safe_load(crd_file.read_text())
    columns = new_crd["spec"]["versions"][0]["additionalPrinterColumns"]
    columns.insert(2, {"name": "Upgraded", "type": "string", "jsonPath": ".spec.interval"})
    crd_file.write_text(yaml.safe_dump(new_crd, sort_keys=False))
    upgraded = k8s.helm("upgrade", RELEASE, str(chart), "--namespace", RELEASE_NAMESPACE, "--reuse-values")
    assert "STATUS: deployed" in upgraded.stdout and "REVISION: 2" in upgraded.stdout, upgraded.stdout
    served = k8s.get(CRD)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in served][:3] == ["Target", "Phase", "Upgraded"]
    table = k8s.kubectl("get", "mm", "-n", "default").stdout
    assert "UPGRADED" in table.splitlines()[0] and "60s" in table, table

    uninstalled = k8s.helm("uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE)
    assert "kept due to the resource policy" in uninstalled.stdout + uninstalled.stderr, uninstalled.stdout
    assert (
        k8s.kubectl("get", "-n", RELEASE_NAMESPACE, "deployment", "modelmonitor", check=False).returncode != 0
    )
    assert k8s.kubectl("get", "clusterrole", "modelmonitor", check=False).returncode != 0
    # The CRD, and so every ModelMonitor, stays.
    assert k8s.get(CRD)["metadata"]["name"] == "modelmonitors.modelmonitor.io"
    assert k8s.get("mm", "-n", "default", "survives")["spec"]["target"]["deployment"] == "credit-scoring"

    # Installing again adopts the kept CRD (its Helm ownership annotations are still there).
    again = k8s.helm("install", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE)
    assert "STATUS: deployed" in again.stdout, again.stdout
    served = k8s.get(CRD)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert "Upgraded" not in [c["name"] for c in served]
