"""The story ``modelmonitor demo`` tells on a real API server, step by step, in real kubectl output.

1. a credit-scoring model is served, the monitor applied, the sidecar injected: Healthy, and the
   revision recorded as known-good; 2. traffic shifts: Drifting, naming the two shifted features;
3. the ground truth (arriving 2 s after each answer) and the approvals per group: one group's
   approvals fall, FairnessViolated names it; 4. a slower revision ships: SLOBreached, then the
   rollback to the known-good revision, in the ReplicaSets; 5. a challenger wins an A/B test and is
   promoted once approved; 6. the HTML report. Then a summary with the figures measured.

The cluster is given (:class:`Stage`): the demo's own on this machine, or the user's. Every figure
printed comes from the API server's answers; nothing here writes a status.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelmonitor.demo import manifests as m
from modelmonitor.demo.kubectl import Console, Kubectl
from modelmonitor.demo.traffic import Reach, Traffic
from modelmonitor.workload.injection import template_hash

CONDITIONS = (
    'jsonpath={range .status.conditions[?(@.status=="True")]}{.type}{"\\t"}{.reason}{"\\t"}'
    '{.message}{"\\n"}{end}'
)
# The Events of the actions, of the many the monitor posts (one per condition change).
ACTION_EVENTS = (
    "REASON",
    "KnownGoodRevision",
    "RollbackDone",
    "RollbackSkipped",
    "AwaitingApproval",
    "PromoteDone",
)
FEATURES = 'jsonpath={range .status.drift.features[*]}{.name}{"\\t"}{.method}{"\\t"}{.score}{"\\t"}{.drifted}{"\\n"}{end}'


@dataclass
class Stage:
    kubectl: Kubectl
    console: Console
    core: Any  # kubernetes CoreV1Api
    custom: Any  # kubernetes CustomObjectsApi
    reach: Reach
    namespace: str
    kubeconfig: Path
    files: Path  # where the manifests are written
    prometheus_url: str | None  # None: the operator's own default
    timeout: float
    report: Path


@dataclass
class Facts:
    """What the story measured, for the summary."""

    known_good: dict[str, Any] = field(default_factory=dict)
    drifted: list[dict[str, Any]] = field(default_factory=list)
    undrifted: int = 0
    accuracy: float | None = None
    fairness: dict[str, Any] = field(default_factory=dict)
    slo: dict[str, Any] = field(default_factory=dict)
    rollback: str = ""
    experiment: dict[str, Any] = field(default_factory=dict)
    report: str = ""


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def is_true(obj: dict[str, Any], kind: str) -> bool:
    return condition(obj, kind).get("status") == "True"


def phase(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("phase") or "-")


class Story:
    def __init__(self, stage: Stage) -> None:
        self.s, self.k, self.say = stage, stage.kubectl, stage.console.say
        self.facts = Facts()
        self.traffic: Traffic | None = None

    # ------------------------------------------------------------------ helpers

    def monitor(self) -> dict[str, Any]:
        got: dict[str, Any] = self.s.custom.get_namespaced_custom_object(
            "modelmonitor.io", "v1alpha1", self.s.namespace, "modelmonitors", m.NAME, _request_timeout=10
        )
        return got

    def progress(self) -> str:
        obj = self.monitor()
        sent = self.traffic.counts if self.traffic else None
        load = f", {sent.requests} requests and {sent.labels} labels sent" if sent else ""
        return f"(phase {phase(obj)}{load})"

    def wait_mm(self, what: str, test: Callable[[dict[str, Any]], bool], args: tuple[str, ...] = ("get", "mm", m.NAME),
                timeout: float | None = None) -> dict[str, Any]:  # fmt: skip
        def until() -> dict[str, Any] | None:
            obj = self.monitor()
            return obj if test(obj) else None

        return self.k.watch(args, until, what, timeout or self.s.timeout, self.progress)

    def apply(self, name: str, *docs: dict[str, Any]) -> None:
        import yaml

        path = self.s.files / name
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        self.k.show("apply", "-f", str(path), shown=f"apply -f {name}")

    def true_conditions(self) -> None:
        self.k.show(
            "get",
            "mm",
            m.NAME,
            "-o",
            CONDITIONS,
            shown=f"get mm {m.NAME} -o jsonpath='<the True conditions>'",
        )

    # ------------------------------------------------------------------ the steps

    def run(self) -> Facts:
        self.s.files.mkdir(parents=True, exist_ok=True)
        self.traffic = Traffic(self.s.core, self.s.namespace, self.s.reach)
        try:
            for step in (self.served, self.drift, self.fairness, self.slow, self.experiment):
                self.say()
                step()
        finally:
            self.traffic.stop()
        self.say()
        self.report()
        return self.facts

    def served(self) -> None:
        import pandas as pd

        from modelmonitor.demo.data import make_rows
        from modelmonitor.drift import build_profile

        self.say("== 1. A credit-scoring model, served and monitored")
        self.apply("credit-scoring.yaml", m.model(), m.service())
        profile = build_profile(pd.DataFrame(make_rows(3000, seed=1)))
        self.say("   # the reference: `modelmonitor profile` of 3000 training rows, in a ConfigMap")
        self.apply("credit-reference.yaml", m.reference(profile.to_json()))
        self.apply("credit-scoring-monitor.yaml", m.monitor(self.s.prometheus_url))
        self.say("   # applicants arrive, 5 per request; each one's ground truth comes back 2 s later")
        assert self.traffic is not None
        self.traffic.start()
        self.wait_mm(
            "the sidecar injected, Healthy", lambda o: is_true(o, "SidecarInjected") and phase(o) == "Healthy"
        )
        self.k.show("get", "pods", "-o", "custom-columns=NAME:.metadata.name,CONTAINERS:.spec.containers[*].name,"
                    "IP:.status.podIP,PHASE:.status.phase")  # fmt: skip
        obj = self.wait_mm("Healthy for a whole window (spec.window.maxAge 15s): the revision is known-good",
                           lambda o: bool((o.get("status") or {}).get("lastKnownGoodRevision")))  # fmt: skip
        self.facts.known_good = obj["status"]["lastKnownGoodRevision"]
        self.facts.accuracy = ((obj["status"].get("performance") or {}).get("metrics") or {}).get("accuracy")
        good = self.facts.known_good
        self.say(
            f"   known-good: revision {good.get('revision')} (pod template {good.get('podTemplateHash')})"
        )

    def drift(self) -> None:
        self.say("== 2. Traffic shifts: applicants with lower incomes and lower debt")
        assert self.traffic is not None
        self.traffic.kind = "shifted"
        obj = self.wait_mm("DataDrift", lambda o: is_true(o, "DataDrift") and phase(o) == "Drifting")
        self.k.show("get", "mm", m.NAME, "-o", FEATURES, shown=f"get mm {m.NAME} -o jsonpath='<feature, method, score, drifted>'")  # fmt: skip
        self.true_conditions()
        features = obj["status"]["drift"]["features"]
        self.facts.drifted = [f for f in features if f.get("drifted")]
        self.facts.undrifted = sum(1 for f in features if not f.get("drifted"))
        shown = ", ".join(f"{f['name']} (KS D {f['score']:.2f})" for f in self.facts.drifted)
        self.say(
            f"   drifted: {shown}; the {self.facts.undrifted} others stay under minEffect {m.MIN_EFFECT}"
        )

    def fairness(self) -> None:
        self.say("== 3. The ground truth has been arriving, late; now group B gets the riskiest applicants")
        self.say("   # every feature keeps its distribution (no drift), but the model approves B far less")
        assert self.traffic is not None
        self.traffic.kind = "unfair"
        obj = self.wait_mm(
            "FairnessViolated", lambda o: is_true(o, "FairnessViolated") and not is_true(o, "DataDrift")
        )
        self.true_conditions()
        segments = (obj["status"].get("performance") or {}).get("segments") or [{}]
        self.facts.fairness = segments[0]
        self.facts.accuracy = (obj["status"]["performance"].get("metrics") or {}).get(
            "accuracy", self.facts.accuracy
        )

    def slow(self) -> None:
        self.say(f"== 4. Revision 1.1.0 ships: the same model, {m.SLOW_MS} ms slower per request")
        assert self.traffic is not None
        self.traffic.kind = "normal"
        self.k.show("patch", "deployment", m.NAME, "--type=json", "-p", json.dumps(m.slow_revision()),
                    shown=f"patch deployment {m.NAME} --type=json -p '<add --delay-ms {m.SLOW_MS}, version 1.1.0>'")  # fmt: skip
        obj = self.wait_mm("SLOBreached", lambda o: is_true(o, "SLOBreached"))
        self.facts.slo = dict(obj["status"].get("slo") or {})
        self.true_conditions()
        good = self.facts.known_good["podTemplateHash"]

        def rolled_back() -> dict[str, Any] | None:
            obj = self.monitor()
            done = [
                a
                for a in obj["status"].get("actions") or []
                if a["action"] == "rollback" and a["result"] == "Done"
            ]
            deployment = self.k.json("deployment", m.NAME)
            serving = {template_hash(rs) for rs in self.k.json("rs", "-l", "track=stable")["items"]
                       if rs["status"].get("availableReplicas")}  # fmt: skip
            status, want = deployment.get("status") or {}, deployment["spec"]["replicas"]
            current = status.get("updatedReplicas") == want and status.get("availableReplicas") == want
            back = template_hash(deployment) == good and serving == {good} and current
            return done[-1] if done and back else None

        action = self.k.watch(("get", "rs", "-l", f"app={m.NAME}"), rolled_back,
                              f"the rollback to pod template {good}", self.s.timeout, self.progress)  # fmt: skip
        self.facts.rollback = str(action.get("message") or "")
        self.say(f"   rollback: {self.facts.rollback}")

    def experiment(self) -> None:
        self.say("== 5. An A/B test: challenger 2.0.0 (right more often) against the champion")
        self.apply("credit-scoring-v2.yaml", m.challenger())
        patch = json.dumps(m.experiment())
        self.k.show(
            "patch",
            "mm",
            m.NAME,
            "--type=merge",
            "-p",
            patch,
            shown=f"patch mm {m.NAME} --type=merge -p '{patch}'",
        )

        def state(name: str) -> Callable[[dict[str, Any]], bool]:
            return lambda o: ((o.get("status") or {}).get("experiment") or {}).get("state") == name

        obj = self.wait_mm("the challenger winning", state("AwaitingApproval"), ("get", "deploy", "-l", f"app={m.NAME}"),
                           timeout=self.s.timeout * 2)  # fmt: skip
        exp = obj["status"]["experiment"]
        self.facts.experiment = {
            k: exp.get(k) for k in ("champion", "challenger", "effect", "interval", "pValue", "looks")
        }
        self.say(f"   {condition(obj, 'Experiment').get('message')}")
        self.k.show("annotate", "mm", m.NAME, "modelmonitor.io/promote=approved")
        before = {rs["metadata"]["name"] for rs in self.k.json("rs", "-l", "track=stable")["items"]
                  if rs["status"].get("availableReplicas")}  # fmt: skip

        def promoted() -> bool:
            serving = {rs["metadata"]["name"] for rs in self.k.json("rs", "-l", "track=stable")["items"]
                       if rs["status"].get("availableReplicas")}  # fmt: skip
            return state("Promoted")(self.monitor()) and bool(serving) and not serving & before

        self.k.watch(("get", "rs", "-l", f"app={m.NAME}"), lambda: promoted() or None,
                     "the promotion rolled out", self.s.timeout, self.progress)  # fmt: skip
        self.k.show("get", "deploy", "-l", f"app={m.NAME}", "-o", "custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas,"
                    "MODEL-ARGS:.spec.template.spec.containers[0].args")  # fmt: skip
        self.k.show("get", "events", "--field-selector", f"involvedObject.kind=ModelMonitor,involvedObject.name={m.NAME}",
                    "--sort-by=.lastTimestamp", "-o", "custom-columns=REASON:.reason,MESSAGE:.message",
                    keep=lambda out: "\n".join(line[:160] for line in out.splitlines()
                                               if (line.split() or [''])[0] in ACTION_EVENTS))  # fmt: skip

    def report(self) -> None:
        self.say("== 6. The HTML report")
        cli = [sys.executable, "-m", "modelmonitor.cli"]
        probe = subprocess.run([*cli, "report", "--help"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            self.say("   report: not available in this build")
            self.facts.report = "not available in this build"
            return
        saved = self.s.files / "report"
        args = ["report", m.NAME, "-n", self.s.namespace, "--kubeconfig", str(self.s.kubeconfig),
                "--save", str(saved), "-o", str(self.s.report)]  # fmt: skip
        self.say(f"   $ modelmonitor {' '.join(args)}")
        done = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            self.say(f"   report: `modelmonitor report` failed (exit {done.returncode}): {last}")
            self.facts.report = f"failed (exit {done.returncode})"
            return
        for line in done.stdout.strip().splitlines()[-5:]:
            self.say(f"     {line}")
        if not any(saved.glob("window.*")) and self._save_window(saved / "window.jsonl"):
            # An API server does not proxy to loopback pod addresses (this machine's pods): the
            # windows read straight from the sidecars, as the operator reads them, complete the folder.
            args = ["report", "--from", str(saved), "-o", str(self.s.report)]
            self.say("   # the API server's pod proxy does not reach this machine's 127.x pods: the windows,")
            self.say("   # read from the sidecars with the monitor's admin token, go in the saved folder")
            self.say(f"   $ modelmonitor {' '.join(args)}")
            done = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120)
            for line in (done.stdout or done.stderr).strip().splitlines()[-3:]:
                self.say(f"     {line}")
        self.facts.report = str(self.s.report)

    def _save_window(self, path: Path) -> bool:
        """The target's captured rows, from its sidecars, as JSON lines; False when none were read."""
        from modelmonitor.adapters import sidecars
        from modelmonitor.demo.traffic import admin_token, ready_pods

        token = admin_token(self.s.core, self.s.namespace)
        found = {}
        for pod in ready_pods(self.s.core, self.s.namespace):
            where = self.s.reach(pod)
            owner = ((pod["metadata"].get("ownerReferences") or [{}])[0]).get("name", "")
            if where is not None and not str(owner).startswith(f"{m.NAME}-v2"):
                found[pod["metadata"]["name"]] = f"http://{where[0]}:{where[2]}"
        if not found or token is None:
            return False
        window = sidecars.read_window(found, timeout=10, max_rows=100_000, token=token)
        if not window.rows:
            return False
        with path.open("w", encoding="utf-8") as fh:
            fh.write(window.frame.to_json(orient="records", lines=True))
        return True


def summary(console: Console, facts: Facts, sent: Any, elapsed: float, where: str) -> None:
    """What happened, with the figures measured, and what to try next. ``sent``: the traffic's counts."""
    say = console.say
    say("== What happened")
    good = facts.known_good
    say(f"   1. served, injected, Healthy; revision {good.get('revision')} recorded as known-good"
        + (f" (accuracy {facts.accuracy:.2f} on the labels)" if facts.accuracy is not None else ""))  # fmt: skip
    drifted = ", ".join(f"{f['name']} (KS D {f['score']:.2f})" for f in facts.drifted)
    say(f"   2. Drifting: {drifted}; {facts.undrifted} other features unmoved")
    fair = facts.fairness
    if fair:
        say(f"   3. FairnessViolated: approval rate of {fair.get('feature')}={fair.get('worstGroup')} "
            f"{fair.get('worstValue', 0):.2f} against {fair.get('bestValue', 0):.2f} for {fair.get('bestGroup')} "
            f"(ratio {fair.get('ratio', 0):.2f} < {m.FAIRNESS_MIN_RATIO}); no feature drifted")  # fmt: skip
    p95 = facts.slo.get("latencyP95Ms")
    breach = f" (p95 {p95:.0f} ms > {m.LATENCY_P95_MS} ms)" if p95 else ""
    say(f"   4. SLOBreached{breach}; {facts.rollback}")
    exp = facts.experiment
    if exp:
        champ, chall = exp.get("champion") or {}, exp.get("challenger") or {}
        say(f"   5. A/B: accuracy {chall.get('value', 0):.2f} (challenger, {chall.get('rows')} rows) against "
            f"{champ.get('value', 0):.2f} (champion, {champ.get('rows')} rows), p = {exp.get('pValue', 0):.2g} "
            f"after {exp.get('looks')} looks; approved and promoted")  # fmt: skip
    say(f"   6. report: {facts.report}")
    say(
        f"   {sent.requests} requests ({sent.rows} applicants) and {sent.labels} labels sent; "
        f"{elapsed:.0f}s in all, on {where}"
    )
    say()
    say("== Try next")
    say("   modelmonitor demo --kubeconfig ~/.kube/config   # the same story on your cluster (docs/demo.md)")
    say("   modelmonitor validate examples/*.yaml            # the contract, offline")
    say("   modelmonitor profile train.csv -o profile.json   # a reference profile of your own data")
    say("   helm install modelmonitor charts/modelmonitor -n modelmonitor-system --create-namespace")
    say("   docs: docs/demo.md, docs/user-guide.md, docs/drift.md, docs/experiments.md, docs/runbooks/")
