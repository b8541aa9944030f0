"""A Kubernetes port in memory, for unit tests of the reconciler: objects in, calls recorded.

Like kmock, it ignores the label selectors of pods and ReplicaSets (it records them): what the
reconciler keeps of those lists is its own filtering. JSON patches are applied with RFC 6902 semantics, ``test`` ops included.
"""

from __future__ import annotations

import copy
import datetime
import http.server
import itertools
import json
import re
import threading
import urllib.parse
from typing import Any

import jsonpatch

from modelmonitor.adapters.kubernetes import check_opted_in, secret_value
from modelmonitor.adapters.ports import KubernetesError
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.operator.reconciler import Reconciler, Request
from modelmonitor.operator.settings import OperatorSettings
from modelmonitor.policy.combined import FIGURE_LABEL
from modelmonitor.workload.injection import plan_injection

T0 = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.UTC)
IMAGE = "ghcr.io/modelmonitor/modelmonitor:0.1.0"


class FakeKube:
    def __init__(self) -> None:
        self.deployments: dict[str, dict[str, Any]] = {}
        self.replicasets: list[dict[str, Any]] = []
        self.pods: list[dict[str, Any]] = []
        self.services: dict[str, dict[str, Any]] = {}
        self.jobs: list[dict[str, Any]] = []
        self.calls: list[tuple[str, Any]] = []
        self.created_jobs: list[dict[str, Any]] = []
        self.namespace_labels: dict[str, dict[str, str]] = {}  # by namespace
        self.webhook_secrets: dict[str, dict[str, Any]] = {}  # Secrets by name, read for webhook URLs
        self.secrets: dict[str, dict[str, Any]] = {}  # the admin Secrets (and foreign ones) by name
        self.network_policies: dict[str, dict[str, Any]] = {}  # by name
        self.configmaps: dict[str, dict[str, Any]] = {}  # by name
        self.httproutes: dict[str, dict[str, Any]] = {}  # by name
        self.monitor_annotations: dict[str, str | None] = {}  # what patch_monitor_annotations last set
        self._names = itertools.count(1)

    def _call(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, copy.deepcopy(arg)))

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get_deployment", name)
        found = self.deployments.get(name)
        return copy.deepcopy(found) if found else None

    def list_replicasets(self, namespace: str, selector: dict[str, Any]) -> list[dict[str, Any]]:
        self._call("list_replicasets", selector)
        return copy.deepcopy(self.replicasets)

    def list_pods(self, namespace: str, selector: dict[str, Any]) -> list[dict[str, Any]]:
        self._call("list_pods", selector)
        return copy.deepcopy(self.pods)

    def list_services(self, namespace: str) -> list[dict[str, Any]]:
        self._call("list_services")
        return copy.deepcopy(list(self.services.values()))

    def json_patch_deployment(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        self._call("json_patch_deployment", ops)
        self.deployments[name] = jsonpatch.apply_patch(self.deployments[name], ops)

    def json_patch_service(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        self._call("json_patch_service", ops)
        self.services[name] = jsonpatch.apply_patch(self.services[name], ops)

    def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get_configmap", name)
        found = self.configmaps.get(name)
        return copy.deepcopy(found) if found else None

    def create_configmap(self, namespace: str, body: dict[str, Any]) -> None:
        self._call("create_configmap", body["metadata"]["name"])
        if not _create(self.configmaps, namespace, body, self._names):
            raise KubernetesError(409, "Conflict", f"configmaps {body['metadata']['name']!r} already exists")

    def merge_patch_configmap(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        """Like the API server: 409 when the patch's resourceVersion is not the stored one."""
        self._call("merge_patch_configmap", name)
        stored = self.configmaps[name]
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != stored["metadata"]["resourceVersion"]:
            raise KubernetesError(409, "Conflict", "the object has been modified")
        stored["data"] = {**(stored.get("data") or {}), **(body.get("data") or {})}
        stored["metadata"]["resourceVersion"] = str(next(self._names))

    def list_jobs(self, namespace: str, match_labels: dict[str, str]) -> list[dict[str, Any]]:
        self._call("list_jobs", match_labels)
        # The port filters Jobs by their labels itself (adapters/kubernetes.py), so does this.
        return [copy.deepcopy(j) for j in self.jobs
                if all((j["metadata"].get("labels") or {}).get(k) == v for k, v in match_labels.items())]  # fmt: skip

    def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._call("create_job", body)
        job = copy.deepcopy(body)
        job["metadata"]["name"] = job["metadata"].pop("generateName", "job-") + str(next(self._names))
        self.created_jobs.append(job)
        self.jobs.append(job)
        return copy.deepcopy(job)

    def get_hpa(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get_hpa", name)
        return None

    def get_secret_value(self, namespace: str, name: str, key: str) -> str:
        """Like the port: the metadata first ("read_secret_metadata"), the data ("read_secret_data")
        only when the Secret opted in with its label."""
        self._call("read_secret_metadata", name)
        found = self.webhook_secrets.get(name)
        check_opted_in(copy.deepcopy(found), namespace, name)
        self._call("read_secret_data", name)
        return secret_value(copy.deepcopy(found), namespace, name, key)

    def get_namespace_labels(self, namespace: str) -> dict[str, str]:
        self._call("get_namespace_labels", namespace)
        return dict(self.namespace_labels.get(namespace) or {})

    def delete_hpa(self, namespace: str, name: str) -> None:
        self._call("delete_hpa", name)

    def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get_secret", name)
        found = self.secrets.get(name)
        return copy.deepcopy(found) if found else None

    def create_secret(self, namespace: str, body: dict[str, Any]) -> bool:
        """Like the API server: 409 (False) when the name is taken; stored with a resourceVersion."""
        self._call("create_secret", body["metadata"]["name"])
        return _create(self.secrets, namespace, body, self._names)

    def get_network_policy(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get_network_policy", name)
        found = self.network_policies.get(name)
        return copy.deepcopy(found) if found else None

    def create_network_policy(self, namespace: str, body: dict[str, Any]) -> bool:
        self._call("create_network_policy", body)
        return _create(self.network_policies, namespace, body, self._names)

    def json_patch_network_policy(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        self._call("json_patch_network_policy", ops)
        self.network_policies[name] = jsonpatch.apply_patch(self.network_policies[name], ops)

    def get_httproute(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get_httproute", name)
        found = self.httproutes.get(name)
        return copy.deepcopy(found) if found else None

    def json_patch_httproute(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        self._call("json_patch_httproute", ops)
        self.httproutes[name] = jsonpatch.apply_patch(self.httproutes[name], ops)

    def patch_monitor_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> None:
        self._call("patch_monitor_annotations", annotations)
        self.monitor_annotations.update(annotations)


def _create(store: dict[str, dict[str, Any]], namespace: str, body: dict[str, Any],
            versions: Any) -> bool:  # fmt: skip
    name = body["metadata"]["name"]
    if name in store:
        return False
    obj = copy.deepcopy(body)
    obj["metadata"].update(namespace=namespace, uid=f"uid-{name}", resourceVersion=str(next(versions)))
    store[name] = obj
    return True


def settings(**fields: Any) -> OperatorSettings:
    return OperatorSettings(**{"tick_seconds": 10.0, "retry_seconds": 30.0, "sidecar_image": IMAGE, **fields})


def reconciler(kube: FakeKube, **fields: Any) -> Reconciler:
    return Reconciler(kube, settings(**fields))  # type: ignore[arg-type]


def monitor_spec(**fields: Any) -> dict[str, Any]:
    return {"target": {"deployment": "x", "port": 8080}, "interval": "60s", **fields}


def deployment(name: str = "x", uid: str = "dep-x", labels: dict[str, str] | None = None,
               selector: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    labels = labels or {"app": "x"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns", "uid": uid, "generation": 1, "resourceVersion": "1",
                     "labels": {"modelmonitor.io/enabled": "true"}},  # opted in to monitoring
        "spec": {
            "replicas": 1,
            "selector": selector or {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "model", "image": "m:1",
                                         "ports": [{"name": "http", "containerPort": 8080}]}]},
            },
        },
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
                   "readyReplicas": 1},
    }  # fmt: skip


def injected(dep: dict[str, Any], spec: dict[str, Any], monitor: str = "x") -> dict[str, Any]:
    """The Deployment with the sidecar in, its rollout complete (what the controller would show)."""
    parsed = ModelMonitorSpec.model_validate(spec)
    out: dict[str, Any] = jsonpatch.apply_patch(
        dep, plan_injection(dep, parsed, monitor=monitor, image=IMAGE)
    )
    out["metadata"]["generation"] = out["status"]["observedGeneration"] = 2
    return out


def request(spec: dict[str, Any], now: datetime.datetime = T0, status: dict[str, Any] | None = None,
            generation: int = 1) -> Request:  # fmt: skip
    return Request(namespace="ns", name="x", uid="mon-uid", generation=generation, spec=spec,
                   status=dict(status or {}), now=now)  # fmt: skip


def condition(patch: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in patch.get("conditions") or [] if c["type"] == kind), {})


class FakePrometheus:
    """An HTTP server on 127.0.0.1 (port 0) answering /api/v1/query from ``answers``, by query.

    ``answers[promql]`` is the ``data.result`` to send (a vector: a list of ``{"metric", "value"}``;
    a scalar: ``[time, "value"]``); other queries get ``default`` (an empty vector). A combined
    query (policy/combined.py) is answered part by part, as Prometheus would: each part's series
    tagged with its figure's name, a scalar part refused as ``label_replace`` refuses it. The texts
    sent are recorded in ``queries`` (one per round trip), every PromQL answered in ``asked`` (a
    combined query's parts one by one).
    """

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.default: Any = []
        self.queries: list[str] = []
        self.asked: list[str] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                if url.path != "/api/v1/query":
                    self.send_error(404)
                    return
                query = urllib.parse.parse_qs(url.query).get("query", [""])[0]
                fake.queries.append(query)
                try:
                    result = fake.answer(query)
                except ValueError as exc:
                    self.reply(400, {"status": "error", "errorType": "bad_data", "error": str(exc)})
                    return
                kind = "scalar" if result and not isinstance(result[0], dict) else "vector"
                self.reply(200, {"status": "success", "data": {"resultType": kind, "result": result}})

            def reply(self, status: int, body: Any) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def answer(self, query: str) -> Any:
        parts = figures_of(query)
        if parts is None:
            self.asked.append(query)
            return self.answers.get(query, self.default)
        tagged = []
        for name, promql in parts:
            self.asked.append(promql)
            result = self.answers.get(promql, self.default)
            if result and not isinstance(result[0], dict):
                raise ValueError(
                    'expected type instant vector in call to function "label_replace", got scalar'
                )
            tagged += [{**s, "metric": {**s["metric"], FIGURE_LABEL: name}} for s in result]
        return tagged

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_PART = re.compile(
    r'label_replace\((.*?), "' + re.escape(FIGURE_LABEL) + r'", "([^"]*)", "", ""\)(?: or |$)', re.S
)


def figures_of(query: str) -> list[tuple[str, str]] | None:
    """The ``(name, PromQL)`` parts of a combined query, in order; None when it is not one."""
    parts, at = [], 0
    for match in _PART.finditer(query):
        if match.start() != at:
            return None
        parts.append((match.group(2), match.group(1)))
        at = match.end()
    return parts if parts and at == len(query) else None


def series(value: float, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1764000000.0, str(value)]}


class Receiver:
    """An HTTP server on 127.0.0.1 (port 0) keeping every JSON body posted to it, by path."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[Any]] = {}
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fake.bodies.setdefault(self.path, []).append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
