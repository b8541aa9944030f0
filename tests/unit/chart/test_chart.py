"""The Helm chart with the real helm: lint, render, Kubernetes schemas, security, wiring to the code."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from modelmonitor.cli import build_parser
from modelmonitor.operator import commands as operator_commands
from modelmonitor.operator.settings import ENV_PREFIX, OperatorSettings
from modelmonitor.workload import injection
from tests.unit.chart.conftest import (
    CHART,
    FULL_VALUES,
    KUBE_VERSIONS,
    NAMESPACE,
    RELEASE,
    ROOT,
    helm,
    only,
    render,
)

try:
    import kubernetes_validate
except ImportError:  # pragma: no cover - a clear failure instead of a collection error
    kubernetes_validate = None

PEERING_CLUSTERWIDE = ("replicaCount=2",)
VARIANTS = {
    "default": ((), ()),
    "full": ((FULL_VALUES,), ()),
    "peering-clusterwide": ((), PEERING_CLUSTERWIDE),
}
PROMETHEUS_OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def variant(name: str) -> list[dict[str, Any]]:
    values, sets = VARIANTS[name]
    return render(*values, sets=sets)


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    (operator,) = pod["containers"]
    return dict(operator)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_lint_strict(name: str) -> None:
    values, sets = VARIANTS[name]
    args = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE]
    for path in values:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    out = helm(*args).stdout
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ("replicaCount=0", "minimum"),
        ("operator.logFormat=xml", "logFormat"),
        ("noSuchKey=1", "noSuchKey"),
        ("ports.metrics=80", "minimum"),
        ("image.digest=latest", "digest"),
    ],
)
def test_values_schema_refuses_bad_values(item: str, why: str) -> None:
    proc = helm("lint", "--strict", str(CHART), "--set", item, check=False)
    assert proc.returncode != 0, f"--set {item} passed lint"
    assert why in proc.stdout + proc.stderr


def _crd_schemas(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of the CRDs rendered with the chart (kopf.dev peerings)."""
    out = {}
    for doc in docs:
        if doc["kind"] == "CustomResourceDefinition":
            for version in doc["spec"]["versions"]:
                key = (f"{doc['spec']['group']}/{version['name']}", doc["spec"]["names"]["kind"])
                out[key] = version["schema"]["openAPIV3Schema"]
    return out


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_manifest_is_valid_for_kubernetes(name: str, kube_version: str) -> None:
    if kubernetes_validate is None:
        pytest.fail(
            "kubernetes-validate is not installed: `make test` installs it (dev extra)", pytrace=False
        )
    values, sets = VARIANTS[name]
    docs = render(*values, sets=sets, kube_version=kube_version)
    crds = _crd_schemas(render(FULL_VALUES))
    checked = 0
    for doc in docs:
        where = f"{doc['kind']} {doc['metadata'].get('name')}"
        if doc["kind"] in PROMETHEUS_OPERATOR_KINDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1", where
            continue  # no schema here; their content is checked by test_monitoring.py and promtool
        key = (doc["apiVersion"], doc["kind"])
        if key in crds:
            schema = {k: v for k, v in crds[key].items() if not k.startswith("x-kubernetes")}
            jsonschema.validate(doc, schema)
        else:
            # strict: unknown fields (a typo in a template) fail, as kubectl --validate=strict would.
            kubernetes_validate.validate(doc, kube_version, strict=True)
        checked += 1
    assert checked >= 8


def test_the_validator_catches_a_broken_manifest(default_docs: list[dict[str, Any]]) -> None:
    if kubernetes_validate is None:
        pytest.fail(
            "kubernetes-validate is not installed: `make test` installs it (dev extra)", pytrace=False
        )
    broken = copy.deepcopy(only(default_docs, "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFs"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[-1], strict=True)


def test_the_chart_crd_is_the_project_crd(default_docs: list[dict[str, Any]]) -> None:
    source = ROOT / "crds" / "modelmonitor.yaml"
    copy_in_chart = CHART / "files" / "crds" / "modelmonitor.yaml"
    assert copy_in_chart.read_text() == source.read_text(), (
        "charts/modelmonitor/files/crds/modelmonitor.yaml differs from crds/modelmonitor.yaml: "
        "cp crds/modelmonitor.yaml charts/modelmonitor/files/crds/modelmonitor.yaml"
    )
    expected = yaml.safe_load(source.read_text())
    rendered = only(default_docs, "CustomResourceDefinition", "modelmonitors.modelmonitor.io")
    assert rendered["spec"] == expected["spec"]
    assert rendered["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert expected["metadata"]["labels"].items() <= rendered["metadata"]["labels"].items()


def test_sidecar_resource_defaults_reach_the_crd() -> None:
    docs = render(FULL_VALUES)
    crd = only(docs, "CustomResourceDefinition", "modelmonitors.modelmonitor.io")
    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    resources = props["sidecar"]["properties"]["resources"]["properties"]
    full = yaml.safe_load(FULL_VALUES.read_text())["sidecar"]["resources"]
    assert resources["requests"]["default"] == full["requests"]
    assert resources["limits"]["default"] == full["limits"]


def test_crd_can_be_left_out_and_is_kept_on_uninstall() -> None:
    docs = render(sets=("crds.install=false",))
    assert not [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    unkept = render(sets=("crds.keep=false",))
    crd = only(unkept, "CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in (crd["metadata"].get("annotations") or {})


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_operator_pod_is_locked_down(name: str) -> None:
    docs = variant(name)
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    op = container(docs)
    sc = op["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == injection.SIDECAR_USER  # the image's user
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert op["resources"]["requests"]["cpu"] and op["resources"]["requests"]["memory"]
    assert op["resources"]["limits"]["memory"]
    ports = {p["name"]: p["containerPort"] for p in op["ports"]}
    assert op["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert op["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    args = build_parser().parse_args(op["args"])
    assert args.liveness == f"http://0.0.0.0:{ports['health']}/healthz"
    assert args.metrics == f"0.0.0.0:{ports['metrics']}"
    assert pod["serviceAccountName"] == only(docs, "ServiceAccount")["metadata"]["name"]


def _settings(op: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, OperatorSettings]:
    """Parse the container's args with the real CLI and resolve settings from its env, as in the pod."""
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    for env in op.get("env") or []:
        if "value" in env:
            monkeypatch.setenv(env["name"], env["value"])
    args = build_parser().parse_args(op["args"])
    assert args.func is operator_commands.run_operator
    # The part of run_operator that turns flags into settings, without starting Kopf.
    overrides = {
        "NAMESPACES": ",".join(args.namespace) if args.namespace else None,
        "STANDALONE": "true" if args.standalone else None,
        "PEERING": args.peering,
        "METRICS": args.metrics,
    }
    for key, value in overrides.items():
        if value is not None:
            monkeypatch.setenv(ENV_PREFIX + key, value)
    return args, OperatorSettings.from_env()


def test_default_operator_runs_standalone_on_all_namespaces(
    default_docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    args, settings = _settings(container(default_docs), monkeypatch)
    assert settings.standalone is True
    assert settings.namespaces == ()
    assert settings.sidecar_image == "ghcr.io/modelmonitor/modelmonitor:0.1.0"
    assert args.log_format == "json"
    assert only(default_docs, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    assert not [d for d in default_docs if d["apiVersion"].startswith("kopf.dev")]
    assert not [d for d in default_docs if d["kind"] == "PodDisruptionBudget"]


def test_full_values_reach_the_operator(
    full_docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    op = container(full_docs)
    args, settings = _settings(op, monkeypatch)
    assert settings.namespaces == ("ml", "ml-staging")
    assert settings.standalone is False
    assert settings.peering == "modelmonitor"
    assert settings.prometheus_url == "http://prometheus-operated.monitoring.svc:9090"
    assert (settings.tick_seconds, settings.retry_seconds, settings.workers) == (15.0, 60.0, 40)
    assert settings.sidecar_image == "registry.example.com/mlops/modelmonitor:0.1.0"
    assert settings.metrics_address == "0.0.0.0:9000"
    assert args.verbose is True and args.log_format == "plain"
    assert op["image"].startswith("registry.example.com/mlops/modelmonitor@sha256:")
    deployment = only(full_docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert only(full_docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_peering_objects_follow_the_watched_namespaces(full_docs: list[dict[str, Any]]) -> None:
    crds = {d["metadata"]["name"] for d in full_docs if d["kind"] == "CustomResourceDefinition"}
    assert {"kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"} <= crds
    peerings = [d for d in full_docs if d["kind"] == "KopfPeering"]
    assert sorted(d["metadata"]["namespace"] for d in peerings) == ["ml", "ml-staging"]
    for peering in peerings:
        assert peering["metadata"]["name"] == "modelmonitor"
        # Created after the CRD that the same release installs, and replaced on each upgrade.
        assert peering["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert not [d for d in full_docs if d["kind"] == "ClusterKopfPeering"]

    clusterwide = variant("peering-clusterwide")
    (cluster_peering,) = [d for d in clusterwide if d["kind"] == "ClusterKopfPeering"]
    assert cluster_peering["metadata"]["name"] == "modelmonitor"
    no_crds = render(sets=(*PEERING_CLUSTERWIDE, "peering.installCRDs=false"))
    assert not [
        d for d in no_crds if d["kind"] == "CustomResourceDefinition" and "kopf" in d["metadata"]["name"]
    ]
    assert [d for d in no_crds if d["kind"] == "ClusterKopfPeering"]


def test_sidecar_injection_settings_match_the_image(default_docs: list[dict[str, Any]]) -> None:
    """The injected container runs `modelmonitor sidecar` from the operator's image as the image's user."""
    sidecar_args = ["sidecar"]
    parsed = build_parser().parse_args([*sidecar_args, "--upstream", "http://127.0.0.1:8081"])
    assert parsed.command == "sidecar"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"USER {injection.SIDECAR_USER}:{injection.SIDECAR_USER}" in dockerfile


def test_notes_tell_what_to_do_next() -> None:
    out = helm(
        "install",
        RELEASE,
        str(CHART),
        "--dry-run=client",
        "--namespace",
        NAMESPACE,
        "--values",
        str(FULL_VALUES),
    ).stdout
    notes = out.split("NOTES:", 1)[1]
    assert f"kubectl -n {NAMESPACE} rollout status deployment/modelmonitor" in notes
    assert "ml, ml-staging" in notes
    assert "kind: ModelMonitor" in notes
    assert "kubectl get mm" in notes


def test_chart_version_matches_the_package() -> None:
    import modelmonitor

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == modelmonitor.__version__
    assert OperatorSettings.sidecar_image.endswith(":" + chart["appVersion"])


def test_chart_readme_points_to_install_docs() -> None:
    assert (ROOT / "docs" / "install.md").is_file()
    assert Path(CHART / "README.md").read_text().count("docs/install.md") >= 1
