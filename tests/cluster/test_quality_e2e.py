"""Model quality end to end on the real API server: the real demo model answers applicants through
the real sidecars of two pods (run by the stand-in kubelet), ground truth arrives later at the
*other* pod's /v1/feedback with the monitor's admin token, and the operator (as the chart's
ServiceAccount) joins the labels across pods and judges accuracy and fairness in status, and rolls
a worse revision back to the known-good one through the real Deployment controller.

Nothing in status is written by the test: every figure comes from the model's own answers to the
rows the test sent, and the test recomputes the expected figures from those answers.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sklearn.metrics import roc_auc_score

from modelmonitor.demo.data import make_rows, path_for
from modelmonitor.demo.model import score
from modelmonitor.workload.injection import SIDECAR_NAME, template_hash
from tests.cluster.conftest import K8s
from tests.cluster.test_e2e import (
    NAME,
    PROXY_PORT,
    available_replicasets,
    condition,
    is_,
    model_stack,
    monitor,
    ship_model,
    watch,
)
from tests.conftest import PrometheusProcess
from tests.helpers.kubelet import Kubelet
from tests.helpers.sidecar import request

pytestmark = pytest.mark.cluster

ADMIN = f"{NAME}-modelmonitor-admin"
ADMIN_PORT = 8481  # spec.sidecar.adminPort's default
PREDICT = path_for("kserve-v1", NAME)
ACCURACY_MIN = 0.8


# --- talking to the pods, as a client and as a label sender would -----------------------------------


def admin_token(k8s: K8s, namespace: str) -> str:
    """The token label senders use: key ``token`` of the monitor's admin Secret (docs/sidecar.md)."""
    secret = k8s.wait_for(
        lambda: k8s.get("-n", namespace, "secret", ADMIN), timeout=60, what=f"Secret {ADMIN}"
    )
    return base64.b64decode(secret["data"]["token"]).decode()


def ready_pods(k8s: K8s, namespace: str) -> dict[str, str]:
    """``{pod: podIP}`` of the Ready pods that run the sidecar and are not being deleted."""
    out = {}
    for pod in k8s.get("pods", "-n", namespace, "-l", f"app={NAME}")["items"]:
        ready = any(
            c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or []
        )
        sidecar = any(c["name"] == SIDECAR_NAME for c in pod["spec"]["containers"])
        if ready and sidecar and not pod["metadata"].get("deletionTimestamp") and pod["status"].get("podIP"):
            out[pod["metadata"]["name"]] = pod["status"]["podIP"]
    return out


def predict(ip: str, request_id: str, rows: list[dict[str, Any]]) -> list[float]:
    """One KServe v1 request through the pod's sidecar with our own X-Request-ID; P(approve) per row."""
    status, headers, body = request(
        PROXY_PORT, "POST", PREDICT, json.dumps({"instances": rows}).encode(),
        {"Content-Type": "application/json", "X-Request-ID": request_id}, timeout=10, host=ip,
    )  # fmt: skip
    assert status == 200, (status, body[:300])
    assert headers.get("x-request-id") == request_id, headers
    return [float(p[1]) for p in json.loads(body)["predictions"]]


def admin(ip: str, token: str, method: str, path: str, payload: Any = None) -> Any:
    status, _, body = request(
        ADMIN_PORT, method, path, None if payload is None else json.dumps(payload).encode(),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, timeout=10, host=ip,
    )  # fmt: skip
    assert status == 200, (method, path, status, body[:300])
    return json.loads(body)


def feedback(ip: str, token: str, labels: dict[str, int]) -> dict[str, int]:
    """Post ground truth (``{row id: 0|1}``) to one pod's sidecar; its answer (joined/pending/...)."""
    answer: dict[str, int] = admin(
        ip, token, "POST", "/v1/feedback", [{"id": k, "label": v} for k, v in labels.items()]
    )
    return answer


def window_ids(ip: str, token: str) -> set[str]:
    body = admin(ip, token, "GET", "/v1/window?since=0&limit=100000")
    assert not body["more"], "one page holds every row of these tests"
    return set(body["rows"]["id"])


# --- test 1: labels across pods, accuracy and fairness -------------------------------------------------


@dataclass
class Served:
    id: str  # the row id: "<request id>#<row>"
    ip: str  # the pod that served it
    group: str
    p_approve: float

    @property
    def decision(self) -> int:
        return int(self.p_approve >= 0.5)


def applicants(n: int, seed: int) -> list[dict[str, Any]]:
    """Demo applicants, alternately of group A and B; group B's incomes are halved, so the real model
    (income weighs in score()) approves group B far less often: a disparity it really produces."""
    rows = make_rows(n, seed=seed)
    for i, row in enumerate(rows):
        row["applicant_group"] = "AB"[i % 2]
        if row["applicant_group"] == "B":
            row["income"] = round(row["income"] / 2, 2)
    return rows


async def test_labels_sent_to_the_other_pod_degrade_accuracy_and_expose_the_disadvantaged_group(
    k8s: K8s, namespace: str, kubelet: Kubelet, start_operator: Any,
    pod_prometheus: Callable[[str], Awaitable[PrometheusProcess]],
) -> None:  # fmt: skip
    prom, _, _ = await model_stack(k8s, namespace, pod_prometheus, replicas=2)
    start_operator(prometheus_url=prom.url)
    performance = {
        "task": "binary-classification",
        "metrics": [{"name": "accuracy", "min": ACCURACY_MIN}, {"name": "auc", "min": 0.5}],
        "minLabels": 100,
        "segments": [{"feature": "applicant_group", "metric": "approval_rate", "minRatio": 0.8, "minRows": 30}],
    }  # fmt: skip
    k8s.apply(monitor(prom.url, window={"maxRows": 2000, "maxAge": "1h"}, performance=performance), namespace)
    watch(k8s, namespace, "SidecarInjected True", is_("SidecarInjected", "True", "Injected"))
    routed = k8s.get("-n", namespace, "service", NAME)["spec"]["ports"][0]["targetPort"]
    assert routed in (PROXY_PORT, "mm-proxy"), "the Service sends its traffic through the sidecar"
    pods = k8s.wait_for(lambda: (lambda p: p if len(p) == 2 else None)(ready_pods(k8s, namespace)),
                        timeout=60, what="two ready pods with the sidecar")  # fmt: skip
    ips = sorted(pods.values())
    token = admin_token(k8s, namespace)

    # 300 applicants in 60 requests of 5, alternately to each pod, with request ids we choose.
    rows = applicants(300, seed=11)
    served: list[Served] = []
    for n in range(60):
        batch, ip, rid = rows[5 * n : 5 * n + 5], ips[n % 2], f"q-{n:03d}"
        for i, (row, p) in enumerate(zip(batch, predict(ip, rid, batch), strict=True)):
            served.append(Served(f"{rid}#{i}", ip, row["applicant_group"], p))
    # Each pod's window holds exactly the rows it served (capture runs just after each answer).
    for ip in ips:
        mine = {s.id for s in served if s.ip == ip}
        k8s.wait_for(lambda ip=ip, mine=mine: window_ids(ip, token) == mine, timeout=20,
                     what=f"the rows served by {ip} in its window")  # fmt: skip

    # Later, the ground truth: the model was wrong on rows #0 and #1 of every batch (2 in 5), and each
    # label goes to the pod that did NOT serve the prediction, where it waits for the operator's join.
    labels = {s.id: s.decision ^ (int(s.id.rsplit("#", 1)[1]) < 2) for s in served}
    for ip in ips:
        other = {s.id: labels[s.id] for s in served if s.ip != ip}
        assert feedback(ip, token, other) == {"joined": 0, "pending": 150, "invalid": 0, "received": 150}

    # What the status must say, from the model's own answers.
    accuracy = sum(labels[s.id] == s.decision for s in served) / len(served)
    assert accuracy == pytest.approx(0.6)
    auc = roc_auc_score([labels[s.id] for s in served], [s.p_approve for s in served])
    approval = {g: sum(s.decision for s in served if s.group == g) / 150 for g in "AB"}
    ratio = approval["B"] / approval["A"]
    assert ratio < 0.6 and auc > 0.55, (approval, auc)  # far from both bounds

    obj = watch(
        k8s, namespace, "PerformanceDegraded True on all 300 labels",
        lambda o: is_("PerformanceDegraded", "True")(o) and o["status"]["performance"].get("labelledRows") == 300,
        timeout=60,
    )  # fmt: skip
    degraded = condition(obj, "PerformanceDegraded")
    assert degraded["reason"] == "MetricOutOfBounds"
    assert degraded["message"] == f"accuracy 0.6 < {ACCURACY_MIN:g} on 300 labelled rows", degraded
    perf = obj["status"]["performance"]
    assert (perf["rows"], perf["labelledRows"], perf["labelsWaiting"]) == (300, 300, 0), perf
    assert perf["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert perf["metrics"]["auc"] == pytest.approx(auc, abs=1e-4)
    assert perf["summary"] == "accuracy 0.6"

    unfair = condition(obj, "FairnessViolated")
    assert (unfair["status"], unfair["reason"]) == ("True", "GroupBelowRatio"), unfair
    assert "approval_rate of applicant_group=B" in unfair["message"], unfair
    (seg,) = perf["segments"]
    judged = (seg["feature"], seg["worstGroup"], seg["bestGroup"], seg["passed"])
    assert judged == ("applicant_group", "B", "A", False), seg
    assert seg["ratio"] == pytest.approx(ratio, abs=1e-4) and seg["rows"] == 300, seg
    assert obj["status"]["phase"] == "Degraded"

    # `kubectl get mm`, the table a user reads: the QUALITY column holds the accuracy figure.
    header, line = k8s.kubectl("-n", namespace, "get", "mm", NAME).stdout.splitlines()[:2]
    column = header.index("QUALITY")
    assert line[column:].startswith("accuracy 0.6 "), (header, line)


# --- test 2: a worse revision is rolled back on PerformanceDegraded -----------------------------------


def truth(row: dict[str, Any]) -> int:
    """The ground truth of test 2: what the known-good model (the demo's default) decides."""
    return int(score(row) >= 0.5)


Waiting = tuple[float, str, str, int]  # (answered at, monotonic s; the serving pod's IP; row id; label)


class LabelledTraffic:
    """Batches of 5 applicants, with request ids chosen here, to every pod the kubelet runs in turn
    (pods come and go with rollouts); ``delay`` seconds after a row was answered its ground truth is
    posted to another pod than the one that served it. 5 minutes at most."""

    def __init__(self, kubelet: Kubelet, token: str, *, delay: float = 1.0) -> None:
        self.kubelet, self.token, self.delay = kubelet, token, delay
        self.stopped = threading.Event()
        self.answered = self.labelled = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        waiting: list[Waiting] = []
        deadline, n = time.monotonic() + 300, 0
        while not self.stopped.is_set() and time.monotonic() < deadline:
            ips = sorted(ip for ip, _ in self.kubelet.pods().values() if ip)
            if ips:
                rows, ip, rid = make_rows(5, seed=700_000 + n), ips[n % len(ips)], f"rb-{n:05d}"
                n += 1
                try:
                    predict(ip, rid, rows)
                    now = time.monotonic()
                    waiting += [(now, ip, f"{rid}#{i}", truth(r)) for i, r in enumerate(rows)]
                    self.answered += 1
                except (OSError, AssertionError):
                    pass  # a pod starting or going away mid-rollout
            waiting = self.post_due(waiting, ips)
            self.stopped.wait(0.1)

    def post_due(self, waiting: list[Waiting], ips: list[str]) -> list[Waiting]:
        """Post the labels that are due; returns those still waiting."""
        now = time.monotonic()
        by_target: dict[str, dict[str, int]] = {}
        kept = []
        for item in waiting:
            at, served_by, row_id, label = item
            others = [ip for ip in ips if ip != served_by]
            if now - at < self.delay or (not others and now - at < 10):
                kept.append(item)  # not due yet, or no other pod to send it to for now
            elif others:
                by_target.setdefault(others[0], {})[row_id] = label
        for ip, labels in by_target.items():
            try:
                feedback(ip, self.token, labels)
                self.labelled += len(labels)
            except (OSError, AssertionError):
                pass  # the pod went away: these labels are lost, as they would be
        return kept

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)


@pytest.fixture
def labelled_traffic() -> Iterator[Callable[..., LabelledTraffic]]:
    started: list[LabelledTraffic] = []

    def start(kubelet: Kubelet, token: str) -> LabelledTraffic:
        started.append(LabelledTraffic(kubelet, token))
        return started[-1]

    yield start
    for t in started:
        t.stop()


async def test_a_revision_that_decides_worse_is_rolled_back_to_known_good_on_its_own_labels(
    k8s: K8s, namespace: str, kubelet: Kubelet, start_operator: Any,
    pod_prometheus: Callable[[str], Awaitable[PrometheusProcess]],
    labelled_traffic: Callable[..., LabelledTraffic],
) -> None:  # fmt: skip
    prom, _, _ = await model_stack(k8s, namespace, pod_prometheus, replicas=2)
    start_operator(prometheus_url=prom.url)
    k8s.apply(monitor(
        prom.url, window={"maxRows": 400, "maxAge": "15s"},
        performance={"task": "binary-classification", "metrics": [{"name": "accuracy", "min": ACCURACY_MIN}],
                     "minLabels": 100},
        actions={"rollback": {"when": ["PerformanceDegraded"], "consecutive": 2, "cooldown": "10m"}},
    ), namespace)  # fmt: skip
    watch(k8s, namespace, "SidecarInjected True", is_("SidecarInjected", "True", "Injected"))
    load = labelled_traffic(kubelet, admin_token(k8s, namespace))

    # The known-good revision: its decisions agree with the ground truth, Healthy for a whole window.
    obj = watch(
        k8s, namespace, "a known-good revision", lambda o: bool(o["status"].get("lastKnownGoodRevision"))
    )
    good = obj["status"]["lastKnownGoodRevision"]
    assert is_("PerformanceDegraded", "False", "WithinBounds")(obj), obj["status"]["conditions"]
    assert obj["status"]["performance"]["metrics"]["accuracy"] == pytest.approx(1.0)
    assert obj["status"]["performance"]["labelledRows"] >= 100
    good_rs = available_replicasets(k8s, namespace)
    assert len(good_rs) == 1

    # The user ships a model that gives the opposite decision for half of the applicants.
    ship_model(k8s, namespace, "--flip-rate", "0.5")
    # Judged on the labels of its own predictions only: the new template starts a fresh window.
    obj = watch(
        k8s, namespace, "PerformanceDegraded True on the new revision",
        lambda o: is_("PerformanceDegraded", "True", "MetricOutOfBounds")(o)
        and o["status"]["target"]["podTemplateHash"] != good["podTemplateHash"],
    )  # fmt: skip
    perf = obj["status"]["performance"]
    assert perf["labelledRows"] >= 100 and perf["metrics"]["accuracy"] < 0.7, perf
    assert condition(obj, "PerformanceDegraded")["message"].startswith("accuracy "), obj["status"]

    obj = watch(
        k8s, namespace, "the rollback done",
        lambda o: any(a["action"] == "rollback" and a["result"] == "Done" for a in o["status"].get("actions", [])),
    )  # fmt: skip
    (done,) = [a for a in obj["status"]["actions"] if a["action"] == "rollback" and a["result"] == "Done"]
    assert done["reason"] == "PerformanceDegraded", done
    # The real controllers roll the Deployment back to the known-good ReplicaSet.
    k8s.kubectl("-n", namespace, "rollout", "status", f"deployment/{NAME}", "--timeout=90s", timeout=120)
    deployment = k8s.get("-n", namespace, "deployment", NAME)
    assert template_hash(deployment) == good["podTemplateHash"]
    assert "--flip-rate" not in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    running_rs = available_replicasets(k8s, namespace)
    assert running_rs == good_rs
    names = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert names == ["model", SIDECAR_NAME], "the sidecar is kept through the rollback"
    # Back on the known-good model, its fresh labels put accuracy back within bounds.
    watch(k8s, namespace, "PerformanceDegraded False after the rollback",
          is_("PerformanceDegraded", "False", "WithinBounds"), timeout=60)  # fmt: skip
    load.stop()
    assert load.labelled > 0 and load.answered > 0
