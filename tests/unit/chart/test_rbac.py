"""The chart's RBAC is exactly what the code calls: no more (least privilege), no less (it works).

The needed (apiGroup, resource, verb) set is derived, not listed by hand:
- the operator's own calls: every ``<Api>.<method>(...)`` on a ``kubernetes.client.*Api`` object in
  ``operator/modelmonitor/adapters/``, mapped to its REST path and HTTP method through the client's
  own request builder (GET on an object -> get, on a collection -> list, or watch with ``watch=True``;
  POST -> create; PATCH -> patch; PUT -> update; DELETE -> delete or deletecollection);
- Kopf's: the watched resource (group and plural read from crds/modelmonitor.yaml, with its status
  subresource), Events, CRD and namespace observation, and the peering objects in peering mode.
A new client call in adapters/ (rollback, Jobs, HPAs, Secrets...) fails this test until the chart
grants it; a rule the code no longer needs fails it too.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from modelmonitor.api import crd
from tests.unit.chart.conftest import FULL_VALUES, NAMESPACE, ROOT, render

PACKAGE = ROOT / "operator" / "modelmonitor"
ADAPTERS = PACKAGE / "adapters"
Triple = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)

# Kopf's own needs besides the watched resource (see Kopf's docs, "Deployment: RBAC").
KOPF_CLUSTER: set[Triple] = {
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    ("", "namespaces", "list"),
    ("", "namespaces", "watch"),
}
KOPF_EVENTS: set[Triple] = {("", "events", "create")}  # kopf.event() and its own posts: core v1 Events
PEERING_VERBS = ("get", "list", "watch", "patch")


def api_objects(tree: ast.AST) -> dict[str, str]:
    """Names (``self._apps`` -> ``_apps``, or a variable) bound to ``kubernetes.client.<Api>(...)``."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if not (name.endswith("Api") and hasattr(kubernetes.client, name)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                key = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
                if key:
                    out[key] = name
    return out


def custom_object_triple(path: Path, call: ast.Call) -> Triple:
    """(group, plural, verb) of a ``CustomObjectsApi.<verb>_namespaced_custom_object(group, version,
    namespace, plural, ...)`` call: the group and plural are string constants, module-level names bound
    to one, or ``crd.GROUP`` / ``crd.PLURAL`` (the ModelMonitor's own)."""
    module = ast.parse(path.read_text())
    constants = {
        t.id: node.value.value
        for node in module.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for t in node.targets if isinstance(t, ast.Name)
    }  # fmt: skip

    def value(arg: ast.expr) -> str:
        if isinstance(arg, ast.Constant):
            return str(arg.value)
        if isinstance(arg, ast.Name) and arg.id in constants:
            return str(constants[arg.id])
        if isinstance(arg, ast.Attribute) and getattr(arg.value, "id", None) == "crd":
            return str(getattr(crd, arg.attr))
        raise AssertionError(f"{path.name}: cannot read {ast.unparse(arg)} of a custom object call")

    method = call.func.attr  # type: ignore[attr-defined]
    verb = method.split("_", 1)[0]
    assert method.endswith("_namespaced_custom_object"), method
    return value(call.args[0]), value(call.args[3]), verb


def client_calls(path: Path) -> list[tuple[str, str, bool]]:
    """(Api class, method, watch=True?) of every call on a Kubernetes API object in ``path``; a
    CustomObjectsApi call's method is given as its (group, plural, verb) joined by spaces."""
    tree = ast.parse(path.read_text(), filename=str(path))
    objects = api_objects(tree)
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            key = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if key in objects:
                watch = any(
                    kw.arg == "watch" and isinstance(kw.value, ast.Constant) and kw.value.value is True
                    for kw in node.keywords
                )
                if objects[key] == "CustomObjectsApi":
                    calls.append((objects[key], " ".join(custom_object_triple(path, node)), watch))
                else:
                    calls.append((objects[key], node.func.attr, watch))
    return calls


def rest_call(api: str, method: str) -> tuple[str, str]:
    """(HTTP method, resource path) of a client method, read from the client's request builder."""
    cls = getattr(kubernetes.client, api)
    for name in (f"_{method}_serialize", f"{method}_with_http_info"):
        if hasattr(cls, name):
            source = inspect.getsource(getattr(cls, name))
            paths = re.findall(r"['\"](/apis?/[^'\"]+)['\"]", source)
            verbs = re.findall(r"['\"](GET|POST|PUT|PATCH|DELETE)['\"]", source)
            if paths and verbs:
                return verbs[0], paths[0]
    raise AssertionError(f"cannot find the REST call of kubernetes.client.{api}.{method}")


def triple(http: str, path: str, watch: bool) -> Triple:
    parts = path.strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    if len(rest) >= 2 and rest[0] == "namespaces" and rest[1] == "{namespace}" and len(rest) > 2:
        rest = rest[2:]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) >= 3 else "")
    on_object = len(rest) >= 2
    verb = {
        "GET": "get" if on_object else ("watch" if watch else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if on_object else "deletecollection",
    }[http]
    return group, resource, verb


def adapter_needs() -> set[Triple]:
    needs = set()
    for path in sorted(ADAPTERS.glob("*.py")):
        for api, method, watch in client_calls(path):
            if method.startswith("_"):
                raise AssertionError(f"{path.name}: {api}.{method}: extend test_rbac.py to read this call")
            if api == "CustomObjectsApi":
                group, plural, verb = method.split(" ")
                needs.add((group, plural, verb))
                continue
            needs.add(triple(*rest_call(api, method), watch))
    return needs


def kopf_needs(*, peering: str | None) -> set[Triple]:
    crd = yaml.safe_load((ROOT / "crds" / "modelmonitor.yaml").read_text())
    group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    needs = {(group, plural, verb) for verb in ("list", "watch", "patch")} | KOPF_CLUSTER | KOPF_EVENTS
    if any("status" in (v.get("subresources") or {}) for v in crd["spec"]["versions"]):
        needs.add((group, f"{plural}/status", "patch"))
    if peering:
        needs |= {("kopf.dev", peering, verb) for verb in PEERING_VERBS}
    return needs


# The chart's roles for people (rbac-aggregate.yaml), bound to no ServiceAccount of the operator.
USER_ROLES = {"modelmonitor-view", "modelmonitor-edit"}


def granted(docs: list[dict[str, Any]]) -> dict[str, set[Triple]]:
    """What each of the operator's roles grants (the user-facing aggregated roles left out)."""
    out: dict[str, set[Triple]] = {}
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "Role") and doc["metadata"]["name"] not in USER_ROLES:
            rules = out.setdefault(doc["metadata"]["name"], set())
            for rule in doc.get("rules") or []:
                assert "*" not in str(rule), f"wildcard in {doc['metadata']['name']}: {rule}"
                assert not rule.get("resourceNames") and not rule.get("nonResourceURLs")
                for g in rule["apiGroups"]:
                    for r in rule["resources"]:
                        for v in rule["verbs"]:
                            rules.add((g, r, v))
    return out


def test_the_derivation_reads_the_adapters() -> None:
    """Guard the derivation itself: it sees the calls adapters/kubernetes.py is known to make."""
    needs = adapter_needs()
    assert {
        ("apps", "deployments", "get"),
        ("apps", "deployments", "patch"),
        ("", "pods", "list"),
        ("", "services", "list"),
        ("", "services", "patch"),
        ("", "configmaps", "get"),
        ("", "configmaps", "create"),
        ("gateway.networking.k8s.io", "httproutes", "get"),
        ("gateway.networking.k8s.io", "httproutes", "patch"),
        ("modelmonitor.io", "modelmonitors", "patch"),
    } <= needs
    assert triple("GET", "/apis/apps/v1/namespaces/{namespace}/replicasets", True) == (
        "apps",
        "replicasets",
        "watch",
    )
    assert triple("DELETE", "/apis/batch/v1/namespaces/{namespace}/jobs/{name}", False) == (
        "batch",
        "jobs",
        "delete",
    )
    assert triple("PATCH", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", False) == (
        "apps",
        "deployments/scale",
        "patch",
    )
    assert triple("GET", "/api/v1/namespaces", True) == ("", "namespaces", "watch")


def test_only_adapters_build_kubernetes_clients() -> None:
    """Every Kubernetes API object of the operator lives in adapters/, so the derivation sees all its
    calls. The user's commands (commands/: status, report) call the API with the user's own
    credentials, not the chart's ServiceAccount, and the operator never imports them (an
    import-linter contract), so their calls are not the operator's to be granted."""
    outside = []
    for path in PACKAGE.rglob("*.py"):
        if ADAPTERS in path.parents or PACKAGE / "commands" in path.parents:
            continue
        if api_objects(ast.parse(path.read_text())):
            outside.append(str(path.relative_to(ROOT)))
    assert not outside, f"Kubernetes API clients outside adapters/: {outside}"


@pytest.mark.parametrize(
    ("values", "sets", "peering"),
    [
        ((), (), None),
        ((), ("replicaCount=2",), "clusterkopfpeerings"),
        ((FULL_VALUES,), (), "kopfpeerings"),
    ],
    ids=["default", "peering-clusterwide", "full-namespaced"],
)
def test_cluster_roles_grant_exactly_what_the_code_calls(
    values: tuple[Path, ...], sets: tuple[str, ...], peering: str | None
) -> None:
    docs = render(*values, sets=sets)
    roles = granted(docs)
    have = set().union(*roles.values())
    want = adapter_needs() | kopf_needs(peering=peering)
    missing, extra = sorted(want - have), sorted(have - want)
    assert not missing, f"the chart's ClusterRoles lack what the code calls: {missing}"
    assert not extra, f"the chart's ClusterRoles grant what no code calls: {extra}"


def test_namespaced_rights_stay_in_the_watched_namespaces() -> None:
    docs = render(FULL_VALUES)
    roles = granted(docs)
    cluster_scoped = {"customresourcedefinitions", "namespaces", "clusterkopfpeerings"}
    cluster_role = roles["modelmonitor-cluster"]
    assert {r for _, r, _ in cluster_role} <= cluster_scoped
    bindings = [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    by_role = {}
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "modelmonitor-operator", "namespace": NAMESPACE}
        ]
        by_role.setdefault(binding["roleRef"]["name"], []).append(binding)
    assert [b["kind"] for b in by_role["modelmonitor-cluster"]] == ["ClusterRoleBinding"]
    namespaced = by_role["modelmonitor"]
    assert {b["kind"] for b in namespaced} == {"RoleBinding"}
    assert sorted(b["metadata"]["namespace"] for b in namespaced) == ["ml", "ml-staging"]


def test_rbac_can_be_left_to_the_cluster_admin() -> None:
    docs = render(sets=("rbac.create=false",))
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")]
