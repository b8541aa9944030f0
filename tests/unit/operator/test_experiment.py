"""A/B tests through the Reconciler: a champion (the target ``x``) and a challenger (``x-v2``), both
with the sidecar, their rows served by pod, their request and error counts by Prometheus.

Each evaluation is a minute later and sees the rows captured so far; the status and the state
ConfigMap carry over as on a cluster. What is checked is what a user sees: the Experiment condition,
status.experiment, the challenger's replicas, and the champion's pod template after a promotion.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelmonitor.adapters import sidecars
from modelmonitor.workload.injection import SIDECAR_NAME
from tests.unit.operator.fakes import (
    T0,
    FakeKube,
    FakePrometheus,
    condition,
    deployment,
    injected,
    monitor_spec,
    reconciler,
    request,
    series,
)

RATE = 10  # rows per second per variant


class Traffic:
    """The rows each variant's pod captured up to ``now``: a prediction every 1/RATE s, labelled 5 s
    later, right with probability ``accuracy[variant]``."""

    def __init__(self, accuracy: dict[str, float], seed: int = 7) -> None:
        self.accuracy = accuracy
        self.now = T0
        self.rng = np.random.default_rng(seed)
        self.frames: dict[str, pd.DataFrame] = {}
        for pod, variant in (("x-aaaa-1", "champion"), ("x-v2-bbbb-1", "challenger")):
            n = RATE * 3600
            ts = T0.timestamp() + np.arange(n) / RATE
            pred = self.rng.integers(0, 2, n)
            right = self.rng.random(n) < accuracy[variant]
            self.frames[pod] = pd.DataFrame({
                "income": self.rng.normal(0, 1, n), "__id": [f"{variant}-{i}" for i in range(n)], "__ts": ts,
                "__version": variant, "__prediction": pred.tolist(), "__probabilities": None,
                "__label": np.where(right, pred, 1 - pred).tolist(), "__label_ts": ts + 5,
            })  # fmt: skip

    def read(self, endpoints: dict[str, str], **_: Any) -> sidecars.Window:
        now = self.now.timestamp()
        parts = []
        for pod in endpoints:
            frame = self.frames[pod]
            frame = frame[frame["__ts"] <= now].copy()
            late = frame["__label_ts"] > now
            frame.loc[late, "__label"] = None
            frame.loc[late, "__label_ts"] = None
            parts.append(frame.assign(__pod=pod))
        return sidecars.Window(pd.concat(parts, ignore_index=True), list(endpoints))


class Counts(dict[str, Any]):
    """Prometheus answers by what a query is about: requests and errors per variant; 1 for the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = {"x": 10_000.0, "x-v2": 10_000.0}
        self.errors = {"x": 10.0, "x-v2": 10.0}
        self.down = False

    def get(self, query: str, default: Any = None) -> Any:
        model = "x-v2" if 'model="x-v2"' in query else "x"
        if "increase(modelmonitor_sidecar_errors_total" in query:
            return [series(self.errors[model])]
        if "increase(modelmonitor_sidecar_requests_total" in query:
            return [series(self.requests[model])]
        return [series(1.0)]


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    fake.answers = Counts()
    yield fake
    fake.close()


def spec(prom: FakePrometheus, **experiment: Any) -> dict[str, Any]:
    return monitor_spec(
        prometheus={"url": prom.url, "timeout": "2s"},
        drift={"reference": {"capture": {"rows": 10**6}}},  # still capturing: drift waits
        experiment={"challenger": {"deployment": "x-v2"}, "minRows": 300, **experiment},
    )


def with_replicas(dep: dict[str, Any], n: int) -> dict[str, Any]:
    dep["spec"]["replicas"] = n
    dep["status"].update(replicas=n, updatedReplicas=n, availableReplicas=n, readyReplicas=n)
    return dep


def pod(name: str, rs: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": "x"},
                     "ownerReferences": [{"kind": "ReplicaSet", "uid": rs, "controller": True}]},
        "spec": {"containers": [{"name": "model"}, {"name": SIDECAR_NAME}]},
        "status": {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip


def cluster(s: dict[str, Any], *, champion_replicas: int = 1) -> FakeKube:
    kube = FakeKube()
    champion = deployment("x", "dep-x", labels={"app": "x", "track": "stable"})
    challenger = deployment("x-v2", "dep-v2", labels={"app": "x", "track": "canary"})
    challenger["spec"]["template"]["spec"]["containers"][0].update(image="m:2", args=["--better"])
    kube.deployments["x"] = with_replicas(injected(champion, s), champion_replicas)
    kube.deployments["x-v2"] = injected(challenger, s)
    kube.replicasets = [
        {"metadata": {"name": name, "uid": name, "labels": {"app": "x", "pod-template-hash": h},
                      "ownerReferences": [{"kind": "Deployment", "uid": owner, "controller": True}]}}
        for name, h, owner in (("rs-a", "aaaa", "dep-x"), ("rs-b", "bbbb", "dep-v2"))
    ]  # fmt: skip
    kube.pods = [pod("x-aaaa-1", "rs-a"), pod("x-v2-bbbb-1", "rs-b")]
    return kube


class Run:
    """Evaluations a minute apart, the status carried from one to the next as the API server would."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, s: dict[str, Any], traffic: Traffic, kube: FakeKube
    ) -> None:
        self.spec, self.traffic, self.kube = s, traffic, kube
        self.status: dict[str, Any] = {}
        self.annotations: dict[str, str] = {}
        self.rec = reconciler(kube)
        monkeypatch.setattr(sidecars, "read_window", traffic.read)

    def step(self, minutes: float = 1.0) -> dict[str, Any]:
        self.traffic.now += datetime.timedelta(minutes=minutes)
        req = request(self.spec, now=self.traffic.now, status=self.status)
        req.annotations = dict(self.annotations)
        out = self.rec.reconcile(req)
        self.status = {**self.status, **out.status_patch}
        return self.status

    def until(self, state: str, limit: int = 30) -> int:
        for i in range(1, limit + 1):
            if self.step().get("experiment", {}).get("state") == state:
                return i
        raise AssertionError(f"not {state} after {limit} evaluations: {self.status.get('experiment')}")


def test_a_better_challenger_waits_for_approval_and_then_is_promoted(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = spec(prom, promote="manual")
    kube = cluster(s)
    run = Run(monkeypatch, s, Traffic({"champion": 0.75, "challenger": 0.9}), kube)

    first = run.step()["experiment"]
    assert first["state"] == "Running" and first["decision"] == "continue"
    assert first["champion"]["deployment"] == "x" and first["challenger"]["deployment"] == "x-v2"
    assert condition(run.status, "Experiment")["status"] == "False"
    assert run.status["experiment"]["traffic"]["mode"] == "replicas"

    looks = run.until("AwaitingApproval")
    exp = run.status["experiment"]
    c = condition(run.status, "Experiment")
    assert (c["status"], c["reason"]) == ("True", "AwaitingApproval")
    assert "kubectl annotate mm x modelmonitor.io/promote=approved" in c["message"]
    assert exp["winner"] == "challenger" and exp["effect"] > 0.05
    assert exp["interval"][0] > 0 and exp["pValue"] < 0.05
    assert min(exp["champion"]["rows"], exp["challenger"]["rows"]) >= 300
    assert exp["looks"] == looks + 1
    # Waiting changes nothing: no approval, no promotion, the experiment Condition stays out of the phase.
    run.step()
    assert kube.deployments["x"]["spec"]["template"]["spec"]["containers"][0]["image"] == "m:1"
    assert run.status["phase"] == "Pending"

    run.annotations = {"modelmonitor.io/promote": "approved"}
    run.step()
    model = next(
        c for c in kube.deployments["x"]["spec"]["template"]["spec"]["containers"] if c["name"] == "model"
    )
    assert (model["image"], model["args"]) == ("m:2", ["--better"])
    names = [c["name"] for c in kube.deployments["x"]["spec"]["template"]["spec"]["containers"]]
    assert SIDECAR_NAME in names
    assert kube.deployments["x-v2"]["spec"]["replicas"] == 0
    assert run.status["experiment"]["state"] == "Promoted"
    assert condition(run.status, "Experiment")["reason"] == "ChallengerPromoted"
    assert kube.monitor_annotations == {"modelmonitor.io/promote": None}  # the approval is used once
    promote = [a for a in run.status["actions"] if a["action"] == "promote"]
    assert [a["result"] for a in promote] == ["Done"]

    # Promoted stays promoted: the next evaluations promote nothing again.
    writes = kube.count("json_patch_deployment")
    run.step()
    run.step()
    assert run.status["experiment"]["state"] == "Promoted"
    assert kube.count("json_patch_deployment") == writes


def test_auto_promotion_needs_no_approval(monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus) -> None:
    s = spec(prom, promote="auto")
    kube = cluster(s)
    run = Run(monkeypatch, s, Traffic({"champion": 0.75, "challenger": 0.9}), kube)
    run.until("Promoted")
    assert kube.deployments["x"]["spec"]["template"]["spec"]["containers"][0]["image"] == "m:2"


def test_a_worse_challenger_is_stopped_and_the_champion_kept(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = spec(prom, promote="auto")
    kube = cluster(s)
    run = Run(monkeypatch, s, Traffic({"champion": 0.9, "challenger": 0.75}), kube)
    run.until("ChampionKept")
    assert run.status["experiment"]["winner"] == "champion"
    assert kube.deployments["x-v2"]["spec"]["replicas"] == 0
    assert kube.deployments["x"]["spec"]["template"]["spec"]["containers"][0]["image"] == "m:1"
    stops = [a for a in run.status["actions"] if a["action"] == "stop"]
    run.step()
    assert [a for a in run.status["actions"] if a["action"] == "stop"] == stops  # recorded once


def test_the_challenger_is_scaled_to_its_share_and_says_what_it_got(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = spec(prom, traffic={"share": 0.2})
    kube = cluster(s, champion_replicas=4)
    run = Run(monkeypatch, s, Traffic({"champion": 0.8, "challenger": 0.8}), kube)
    run.step()
    assert kube.deployments["x-v2"]["spec"]["replicas"] == 1  # 1 of 5 pods
    traffic = run.status["experiment"]["traffic"]
    assert (traffic["mode"], traffic["requested"]) == ("replicas", 0.2)
    assert traffic["actual"] == pytest.approx(0.2)


def test_no_difference_keeps_running_and_rows_count_once(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = spec(prom)
    kube = cluster(s)
    traffic = Traffic({"champion": 0.8, "challenger": 0.8})
    run = Run(monkeypatch, s, traffic, kube)
    for _ in range(5):
        run.step()
    exp = run.status["experiment"]
    assert exp["state"] == "Running"
    assert exp["interval"][0] < 0 < exp["interval"][1]
    # Every row labelled by now was counted, once, however many evaluations saw it; rows from before
    # the experiment began (its first evaluation, a minute after T0) do not count.
    seen = int((traffic.now - T0).total_seconds() - 60 - 5) * RATE
    assert exp["champion"]["rows"] == pytest.approx(seen, abs=2 * RATE)
    run.step(minutes=0)  # the same rows again
    assert run.status["experiment"]["champion"]["rows"] == exp["champion"]["rows"]


def test_a_challenger_that_errors_more_is_aborted(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = spec(prom, promote="auto")
    kube = cluster(s)
    prom.answers.errors["x-v2"] = 400.0  # 4 % against the champion's 0.1 %
    run = Run(monkeypatch, s, Traffic({"champion": 0.75, "challenger": 0.9}), kube)
    run.step()
    exp = run.status["experiment"]
    assert (exp["state"], exp["decision"]) == ("Aborted", "abort")
    c = condition(run.status, "Experiment")
    assert (c["status"], c["reason"]) == ("True", "ChallengerAborted") and "errors more" in c["message"]
    assert kube.deployments["x-v2"]["spec"]["replicas"] == 0
    assert kube.deployments["x"]["spec"]["template"]["spec"]["containers"][0]["image"] == "m:1"


def test_a_challenger_breaching_the_slo_is_aborted(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = {**spec(prom), "slos": {"latencyP95Ms": 0.5, "minRequests": 1}}  # Prometheus answers 1000 ms
    kube = cluster(s)
    run = Run(monkeypatch, s, Traffic({"champion": 0.75, "challenger": 0.9}), kube)
    run.step()
    c = condition(run.status, "Experiment")
    assert (c["status"], c["reason"]) == ("True", "ChallengerAborted") and "SLOBreached" in c["message"]


def test_no_promotion_while_prometheus_is_down(monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus) -> None:
    s = spec(prom, promote="auto")
    kube = cluster(s)
    run = Run(monkeypatch, s, Traffic({"champion": 0.75, "challenger": 0.9}), kube)
    prom.close()
    for _ in range(12):
        run.step()
    c = condition(run.status, "Experiment")
    assert (c["status"], c["reason"]) == ("Unknown", "GuardRailUnknown")
    assert "Prometheus" in c["message"] and run.status["experiment"]["decision"] == "continue"
    assert kube.deployments["x"]["spec"]["template"]["spec"]["containers"][0]["image"] == "m:1"


def test_a_missing_challenger_is_unknown_and_leaves_the_phase_alone(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = spec(prom)
    kube = cluster(s)
    del kube.deployments["x-v2"]
    run = Run(monkeypatch, s, Traffic({"champion": 0.8, "challenger": 0.8}), kube)
    run.step()
    c = condition(run.status, "Experiment")
    assert (c["status"], c["reason"]) == ("Unknown", "ChallengerNotFound") and "ns/x-v2" in c["message"]
    assert run.status["phase"] == "Pending"  # the reference is still being captured; nothing else


def test_a_challenger_that_did_not_opt_in_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = spec(prom)
    kube = cluster(s)
    kube.deployments["x-v2"]["metadata"]["labels"] = {}
    before = dict(kube.deployments["x-v2"])
    run = Run(monkeypatch, s, Traffic({"champion": 0.8, "challenger": 0.8}), kube)
    run.step()
    c = condition(run.status, "Experiment")
    assert (c["status"], c["reason"]) == ("Unknown", "NotOptedIn")
    assert kube.deployments["x-v2"] == before


def test_observe_mode_decides_and_touches_nothing(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = {**spec(prom, promote="auto"), "actions": {"mode": "observe"}}
    kube = cluster(s)
    run = Run(monkeypatch, s, Traffic({"champion": 0.75, "challenger": 0.9}), kube)
    run.until("Promoting")
    run.step()
    assert kube.count("json_patch_deployment") == 0
    observed = [a for a in run.status["actions"] if a["action"] == "promote"]
    assert [a["result"] for a in observed] == ["Observed"]


def test_changed_settings_start_the_evidence_afresh(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = spec(prom)
    kube = cluster(s)
    run = Run(monkeypatch, s, Traffic({"champion": 0.8, "challenger": 0.8}), kube)
    run.step()
    assert run.status["experiment"]["interval"] == []  # no interval yet: no nulls in a status list
    run.step()
    assert run.status["experiment"]["champion"]["rows"] > 0
    run.spec = spec(prom, confidence=0.99)
    run.step()
    exp = run.status["experiment"]
    assert exp["state"] == "Running" and exp["looks"] == 1 and exp["confidence"] == 0.99
    assert exp["champion"]["rows"] == 0  # rows before the new start do not count


def test_an_httproute_gets_the_weights_and_the_challenger_its_own_replicas(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    route = {"name": "r", "championBackend": "x", "challengerBackend": "x-v2"}
    s = spec(prom, traffic={"share": 0.1, "httpRoute": route})
    kube = cluster(s)
    kube.httproutes["r"] = {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"},
        "spec": {"rules": [{"backendRefs": [{"name": "x", "port": 80}, {"name": "x-v2", "port": 80}]}]},
    }  # fmt: skip
    run = Run(monkeypatch, s, Traffic({"champion": 0.8, "challenger": 0.8}), kube)
    run.step()
    refs = kube.httproutes["r"]["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [("x", 900), ("x-v2", 100)]
    traffic = run.status["experiment"]["traffic"]
    assert (traffic["mode"], traffic["actual"]) == ("httpRoute", pytest.approx(0.1))
    assert kube.deployments["x-v2"]["spec"]["replicas"] == 1  # not scaled to a share


class Clicks(Traffic):
    """A recommender's traffic: a click (feedback label 1) 5 s after a recommendation, with
    probability ``accuracy[variant]`` (the click-through rate); no feedback at all otherwise."""

    def read(self, endpoints: dict[str, str], **kw: Any) -> sidecars.Window:
        window = super().read(endpoints, **kw)
        frame = window.frame
        clicked = frame["__label"].notna() & (frame["__label"] == frame["__prediction"])
        frame.loc[clicked, "__label"] = 1
        frame.loc[~clicked, ["__label", "__label_ts"]] = None
        return window


def test_clicks_as_outcomes_with_no_click_counted_as_zero_after_the_wait(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = spec(prom, metric="outcome", outcome={"missing": 0, "after": "2m"}, promote="auto")
    kube = cluster(s)
    run = Run(monkeypatch, s, Clicks({"champion": 0.05, "challenger": 0.12}), kube)
    run.step()
    run.step()
    # A minute in, no request has waited its 2 minutes: none counts yet, not even the clicks (counting
    # them as they come and the others later would bias the rate up).
    assert run.status["experiment"]["champion"]["rows"] == 0
    run.until("Promoted", limit=40)
    exp = run.status["experiment"]
    assert 0.03 < exp["champion"]["value"] < 0.07 and 0.09 < exp["challenger"]["value"] < 0.15, exp
    assert kube.deployments["x"]["spec"]["template"]["spec"]["containers"][0]["image"] == "m:2"


def test_deleting_the_monitor_takes_the_sidecar_out_of_the_challenger_too(prom: FakePrometheus) -> None:
    s = spec(prom)
    kube = cluster(s)
    reconciler(kube).cleanup("ns", "x", s)
    for name in ("x", "x-v2"):
        names = [c["name"] for c in kube.deployments[name]["spec"]["template"]["spec"]["containers"]]
        assert names == ["model"], name


class Unfair(Traffic):
    """The challenger approves applicants of group B a third as often as those of group A."""

    def read(self, endpoints: dict[str, str], **kw: Any) -> sidecars.Window:
        window = super().read(endpoints, **kw)
        frame = window.frame
        frame["applicant_group"] = np.where(np.arange(len(frame)) % 2 == 0, "A", "B")
        challenger = frame["__pod"] == "x-v2-bbbb-1"
        frame.loc[challenger & (frame["applicant_group"] == "A"), "__prediction"] = 1
        denied = challenger & (frame["applicant_group"] == "B") & (np.arange(len(frame)) % 3 != 0)
        frame.loc[denied, "__prediction"] = 0
        return window


def test_a_challenger_that_fails_a_fairness_segment_is_aborted(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    segments = [{"feature": "applicant_group", "metric": "approval_rate", "minRatio": 0.8, "minRows": 50}]
    s = {**spec(prom), "performance": {"task": "binary-classification", "segments": segments}}
    kube = cluster(s)
    run = Run(monkeypatch, s, Unfair({"champion": 0.8, "challenger": 0.8}), kube)
    run.step()
    run.step()
    c = condition(run.status, "Experiment")
    assert (c["status"], c["reason"]) == ("True", "ChallengerAborted"), c
    assert "FairnessViolated" in c["message"] and "applicant_group=B" in c["message"]
    # The champion's own fairness is judged on its own rows: it treats both groups alike.
    assert condition(run.status, "FairnessViolated")["status"] == "False"
    assert kube.deployments["x-v2"]["spec"]["replicas"] == 0


def test_the_business_metric_is_queried_per_variant_and_guards_its_bound(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    query = 'sum(rate(revenue_total{pod=~"$pods"}[5m]))'
    s = spec(prom, businessMetric={"query": query, "min": 2})
    kube = cluster(s)
    run = Run(monkeypatch, s, Traffic({"champion": 0.8, "challenger": 0.8}), kube)
    run.step()
    asked = [q for q in prom.queries if q.startswith("sum(rate(revenue_total")]
    assert any("x-(aaaa)-" in q for q in asked) and any("x-v2-(bbbb)-" in q for q in asked), asked
    exp = run.status["experiment"]
    assert exp["champion"]["business"] == exp["challenger"]["business"] == 1.0
    assert exp["state"] == "Aborted" and "business metric 1 < 2" in exp["message"]


def test_the_error_guard_fires_even_when_the_first_looks_saw_no_error(
    monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus
) -> None:
    s = spec(prom)
    kube = cluster(s)
    prom.answers.errors = {"x": 0.0, "x-v2": 0.0}
    run = Run(monkeypatch, s, Traffic({"champion": 0.8, "challenger": 0.8}), kube)
    run.step()
    run.step()
    assert run.status["experiment"]["state"] == "Running"
    prom.answers.requests = {"x": 20_000.0, "x-v2": 20_000.0}
    prom.answers.errors = {"x": 0.0, "x-v2": 1_000.0}  # 5 % from now on
    run.step()
    c = condition(run.status, "Experiment")
    assert (c["status"], c["reason"]) == ("True", "ChallengerAborted") and "errors more" in c["message"]
