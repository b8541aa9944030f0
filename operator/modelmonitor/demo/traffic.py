"""The demo's clients: applicants sent to the model's pods, and their ground truth sent back later.

:class:`Traffic` runs in a thread: batches of 5 applicants (KServe v1) to each Ready pod that runs
the sidecar, in turn, with request ids chosen here; ``label_delay`` seconds after a batch was
answered, the ground truth of its rows (what the demo model decides without its ``--flip-rate``:
:func:`truth`) goes to the admin port of another pod than the one that served it, when there is
one (the operator joins labels across pods). ``kind`` says which applicants: ``normal`` (the
reference distribution), ``shifted`` (lower incomes and lower debt ratios, by
:data:`SHIFT`: data drift that leaves each group's approval rate as it was) or ``unfair`` (group B
gets the riskiest applicants: see :func:`modelmonitor.demo.data.make_unfair_rows`).

Pods are found through the API server and reached through ``reach(pod) -> (host, proxy port,
admin port)``: their own address on the demo's cluster, a ``kubectl port-forward`` on another.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.demo.data import make_payload, make_rows, make_unfair_rows, path_for
from modelmonitor.demo.model import score

NAME = "credit-scoring"
SIDECAR = "modelmonitor-sidecar"
PROXY_PORT = 8480  # spec.sidecar.listenPort's default
ADMIN_PORT = 8481  # spec.sidecar.adminPort's default
SEEDS = {"normal": 2, "shifted": 3, "unfair": 4}  # the applicants of each kind are the same every run
# Incomes down 1.5 standard deviations, debt ratios down 1.25: both features drift, but the two moves
# offset in the model's score, so approvals (and their ratio between groups) hold. Incomes down with
# debt up would lower every group's approval rate and, at such low rates, their ratio too: step 2
# would show FairnessViolated beside the drift in some runs.
SHIFT = {"shift": 1.5, "debt_shift": -1.25}
Reach = Callable[[dict[str, Any]], tuple[str, int, int] | None]


def truth(row: dict[str, Any]) -> int:
    """The ground truth of an applicant in the demo: the demo model's own decision, unflipped."""
    return int(score(row) >= 0.5)


def applicants(kind: str, n: int, seed: int) -> list[dict[str, Any]]:
    if kind == "shifted":
        return make_rows(n, seed=seed, **SHIFT)
    if kind == "unfair":
        return make_unfair_rows(n, seed=seed)
    return make_rows(n, seed=seed)


def ready_pods(core: Any, namespace: str) -> list[dict[str, Any]]:
    """The demo's Ready pods that run the sidecar and are not being deleted, as the API serves them."""
    resp = core.list_namespaced_pod(
        namespace, label_selector=f"app={NAME}", _preload_content=False, _request_timeout=10
    )
    out = []
    for pod in json.loads(resp.data)["items"]:
        status = pod.get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        sidecar = any(c["name"] == SIDECAR for c in pod["spec"]["containers"])
        if ready and sidecar and not pod["metadata"].get("deletionTimestamp") and status.get("podIP"):
            out.append(pod)
    return sorted(out, key=lambda p: str(p["metadata"]["name"]))


def admin_token(core: Any, namespace: str) -> str | None:
    """The label senders' token: key ``token`` of the monitor's admin Secret (docs/sidecar.md)."""
    try:
        resp = core.read_namespaced_secret(
            f"{NAME}-modelmonitor-admin", namespace, _preload_content=False, _request_timeout=10
        )
    except Exception:  # not created yet
        return None
    data = json.loads(resp.data).get("data") or {}
    return base64.b64decode(data["token"]).decode() if "token" in data else None


def _post(host: str, port: int, path: str, body: Any, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass
class Counts:
    requests: int = 0
    rows: int = 0
    failed: int = 0
    labels: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class Traffic:
    """Applicants to every ready pod in turn and their labels later (see the module docstring)."""

    def __init__(self, core: Any, namespace: str, reach: Reach, *, label_delay: float = 2.0) -> None:
        self.core, self.namespace, self.reach, self.label_delay = core, namespace, reach, label_delay
        self.kind = "normal"
        self.counts = Counts()
        self._stop = threading.Event()
        self._pods: list[tuple[str, tuple[str, int, int]]] = []
        self._pods_at = 0.0
        self._token: str | None = None
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(15)

    def _targets(self) -> list[tuple[str, tuple[str, int, int]]]:
        """(pod, address) of the ready pods, read again every half second (pods come and go)."""
        if time.monotonic() - self._pods_at > 0.5:
            self._pods_at = time.monotonic()
            try:
                found = []
                for pod in ready_pods(self.core, self.namespace):
                    where = self.reach(pod)
                    if where is not None:
                        found.append((str(pod["metadata"]["name"]), where))
                self._pods = found
                if self._token is None:
                    self._token = admin_token(self.core, self.namespace)
            except Exception:  # the API server restarting, a pod going away: the next round retries
                pass
        return self._pods

    def _run(self) -> None:
        waiting: list[tuple[float, str, dict[str, int]]] = []  # (answered at, serving pod, {row id: label})
        n = 0
        path = path_for("kserve-v1", NAME)
        while not self._stop.is_set():
            targets = self._targets()
            if targets:
                pod, (host, proxy, _) = targets[n % len(targets)]
                kind, rid = self.kind, f"{self.kind[0]}{n:06d}"
                rows = applicants(kind, 5, seed=SEEDS[kind] * 100_000 + n)
                try:
                    status, _ = _post(
                        host, proxy, path, make_payload("kserve-v1", rows, NAME), {"X-Request-ID": rid}
                    )
                    ok = status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                if ok:
                    self.counts.requests += 1
                    self.counts.rows += len(rows)
                    self.counts.by_kind[kind] = self.counts.by_kind.get(kind, 0) + len(rows)
                    waiting.append(
                        (time.monotonic(), pod, {f"{rid}#{i}": truth(r) for i, r in enumerate(rows)})
                    )
                else:
                    self.counts.failed += 1
                n += 1
            waiting = self._send_labels(waiting, targets)
            self._stop.wait(0.02)

    def _send_labels(self, waiting: list[tuple[float, str, dict[str, int]]],
                     targets: list[tuple[str, tuple[str, int, int]]]) -> list[tuple[float, str, dict[str, int]]]:  # fmt: skip
        """Post the labels that are due, each batch to another pod than the one that served it."""
        if not targets or self._token is None:
            return waiting
        now = time.monotonic()
        due = [w for w in waiting if now - w[0] >= self.label_delay]
        if not due:
            return waiting
        batches: dict[tuple[str, int], dict[str, int]] = {}
        for _, served_by, labels in due:
            others = [where for pod, where in targets if pod != served_by] or [targets[0][1]]
            host, _, admin = others[0]
            batches.setdefault((host, admin), {}).update(labels)
        for (host, admin), labels in batches.items():
            body = [{"id": k, "label": v} for k, v in labels.items()]
            try:
                status, _ = _post(
                    host, admin, "/v1/feedback", body, {"Authorization": f"Bearer {self._token}"}
                )
                if status == 200:
                    self.counts.labels += len(labels)
            except (OSError, http.client.HTTPException):
                pass  # the pod went away: these labels are lost, as they would be
        return [w for w in waiting if now - w[0] < self.label_delay]
