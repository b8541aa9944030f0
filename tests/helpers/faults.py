"""Fault scenarios on the real API server tier, shared by tests/cluster/test_faults.py (which asserts
their effects) and benchmarks/reliability.py (which records their figures in docs/reliability.md).

Each scenario drives the real pieces — the operator process (chart RBAC), the stand-in kubelet's pod
processes, a real Prometheus, the kube-apiserver — injects one fault, and returns what it measured:
seconds to detection and to recovery, and what the operator did meanwhile (actions, Events, alerts,
Deployment generations). Times are wall-clock seconds on this machine, for the record only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from modelmonitor.act.rollback import STAMP_ANNOTATION, roll_back
from modelmonitor.act.state import save_state
from modelmonitor.adapters.kubernetes import KubernetesClient
from modelmonitor.adapters.ports import KubernetesError
from modelmonitor.api.durations import parse_duration
from modelmonitor.api.times import iso_ts, parse_iso
from modelmonitor.demo.data import make_payload, make_rows, path_for
from modelmonitor.drift import build_profile
from modelmonitor.policy.actions import Decision
from modelmonitor.workload.injection import SIDECAR_NAME, template_hash
from modelmonitor.workload.state import configmap, state_name
from tests.helpers.kubelet import Kubelet
from tests.helpers.sidecar import request

NAME = "credit-scoring"
PROXY_PORT = 8480  # spec.sidecar.listenPort's default
ROOT = Path(__file__).resolve().parents[2]


def now() -> float:
    return time.monotonic()


# ------------------------------------------------------------------------------------------ pieces


class AlertReceiver:
    """A webhook receiver on 127.0.0.1: keeps every body; ``hold(match)`` makes the first body that
    matches wait (the sender blocked mid-evaluation) until ``release()``; ``held`` is set then."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.held = threading.Event()
        self._release = threading.Event()
        self._match: Callable[[str], bool] | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                receiver.bodies.append(body)
                if receiver._match is not None and receiver._match(body) and not receiver.held.is_set():
                    receiver.held.set()
                    receiver._release.wait(60)
                with contextlib.suppress(OSError):  # the sender may be dead by now
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alert"

    def hold(self, match: Callable[[str], bool]) -> None:
        self._match = match

    def release(self) -> None:
        self._release.set()

    def actions(self, action: str, result: str | None = None) -> list[dict[str, Any]]:
        """The alerts (format json) about ``action`` decisions, with that ``result`` (Done, Skipped...)."""
        found = []
        for body in self.bodies:
            with contextlib.suppress(ValueError):
                alert = json.loads(body)
                if isinstance(alert, dict) and alert.get("action") == action:
                    found.append(alert)
        return [a for a in found if result is None or a.get("reason") == result]

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Sample:
    t: float
    ip: str
    ok: bool
    ms: float


class Load:
    """KServe v1 requests, in turn, to every pod the kubelet runs, in a thread; each one recorded."""

    def __init__(self, kubelet: Kubelet, *, shift: float = 0.0, seed: int = 5) -> None:
        self.kubelet, self.shift, self.seed = kubelet, shift, seed
        self.samples: list[Sample] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        path, n = path_for("kserve-v1", NAME), 0
        deadline = now() + 600
        while not self.stopped.is_set() and now() < deadline:
            ips = sorted(ip for ip, _ in self.kubelet.pods().values() if ip)
            if not ips:
                self.stopped.wait(0.1)
                continue
            ip = ips[n % len(ips)]
            body = json.dumps(make_payload("kserve-v1", make_rows(5, seed=self.seed * 100_000 + n), NAME))
            start = now()
            try:
                code, _, _ = request(PROXY_PORT, "POST", path, body.encode(),
                                     {"Content-Type": "application/json"}, host=ip, timeout=5)  # fmt: skip
                ok = code == 200
            except OSError:
                ok = False
            self.samples.append(Sample(start, ip, ok, (now() - start) * 1000))
            n += 1
            self.stopped.wait(0.02)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.t < end]

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)


def p95(values: list[float]) -> float | None:
    return round(float(pd.Series(values).quantile(0.95)), 1) if values else None


@dataclass
class Stack:
    """One model (the demo Deployment, ``replicas`` pods) with a monitor, Prometheus and the operator."""

    k8s: Any  # tests.cluster.conftest.K8s
    namespace: str
    kubelet: Kubelet
    prometheus: Any  # tests.conftest.PrometheusProcess
    start_operator: Callable[..., Any]  # -> tests.cluster.conftest.ClusterOperator
    receiver: AlertReceiver
    operator: Any = None
    load: Load | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    def monitor(self) -> dict[str, Any]:
        obj: dict[str, Any] = self.k8s.get("mm", "-n", self.namespace, NAME)
        return obj

    def restart_operator(self, priority: int | None = None) -> None:
        """A new operator process; with ``priority``, that Kopf peering priority (else a random one, as
        the chart's replicas get: below a killed replica's, it stands by until that one's peering
        record expires, up to 60 s)."""
        env = {"MODELMONITOR_PRIORITY": str(priority)} if priority is not None else {}
        self.operator = self.start_operator(prometheus_url=self.prometheus.url, env=env)

    def wait(self, test: Callable[[dict[str, Any]], Any], what: str, timeout: float = 90) -> dict[str, Any]:
        found: dict[str, Any] = self.k8s.wait_for(
            lambda: (lambda o: o if test(o) else None)(self.monitor()),
            timeout=timeout,
            interval=0.25,
            what=what,
        )
        return found

    def evaluations(self, count: int, timeout: float = 90) -> dict[str, Any]:
        """After ``count`` more evaluations (status.lastEvaluation moved that many times)."""
        seen = {self.monitor()["status"].get("lastEvaluation")}

        def moved(obj: dict[str, Any]) -> bool:
            seen.add(obj["status"].get("lastEvaluation"))
            return len(seen) > count

        return self.wait(moved, f"{count} more evaluations", timeout)

    def evaluated_after(self, moment: float, timeout: float = 90) -> dict[str, Any]:
        """The monitor once an evaluation started at or after ``moment`` (a ``time.time()``)."""

        def after(obj: dict[str, Any]) -> bool:
            last = parse_iso(obj["status"].get("lastEvaluation"))
            return last is not None and last.timestamp() >= moment

        return self.wait(after, f"an evaluation after {iso_ts(moment)}", timeout)

    def events(self, reason: str) -> int:
        items = self.k8s.get("events", "-n", self.namespace)["items"]
        return sum(e.get("count", 1) for e in items if e.get("reason") == reason
                   and e["involvedObject"].get("kind") == "ModelMonitor")  # fmt: skip

    def generation(self) -> int:
        return int(self.k8s.get("-n", self.namespace, "deployment", NAME)["metadata"]["generation"])


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def rollbacks(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        a for a in obj["status"].get("actions") or [] if a["action"] == "rollback" and a["result"] == "Done"
    ]


def monitor_manifest(prometheus_url: str, alert_url: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": NAME},
        "spec": {
            "target": {"deployment": NAME, "port": 8080, "protocol": "kserve-v1"},
            "interval": "5s",
            "window": {"maxRows": 400, "maxAge": "12s"},
            "prometheus": {"url": prometheus_url, "timeout": "2s"},
            "slos": {"latencyP95Ms": 100, "minRequests": 10},
            "drift": {"reference": {"configMapRef": {"name": "credit-reference"}}, "minRows": 30},
            "actions": {
                "rollback": {"when": ["SLOBreached"], "consecutive": 2, "cooldown": "10m"},
                "alerts": [{"webhook": {"url": alert_url}, "when": ["SLOBreached"], "format": "json"}],
            },
        },
    }


def deploy_model(k8s: Any, namespace: str, replicas: int = 2) -> None:
    docs = list(yaml.safe_load_all((ROOT / "examples" / "demo-model.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["replicas"] = replicas
    k8s.apply([deployment, next(d for d in docs if d["kind"] == "Service")], namespace)
    profile = build_profile(pd.DataFrame(make_rows(3000, seed=1)))
    k8s.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "credit-reference"},
               "data": {"profile.json": profile.to_json()}}, namespace)  # fmt: skip
    k8s.kubectl("-n", namespace, "rollout", "status", f"deployment/{NAME}", "--timeout=90s", timeout=120)


def watch_until_healthy(stack: Stack) -> dict[str, Any]:
    """The monitor in place, traffic on, until Healthy with a known-good revision recorded."""
    stack.k8s.apply(monitor_manifest(stack.prometheus.url, stack.receiver.url), stack.namespace)
    stack.load = stack.load or Load(stack.kubelet)
    return stack.wait(lambda o: o.get("status", {}).get("phase") == "Healthy"
                      and o["status"].get("lastKnownGoodRevision"), "Healthy, known-good recorded", 150)  # fmt: skip


def install_release(k8s: Any) -> dict[str, Any]:
    """The chart installed as the README says; its rendered objects by ``Kind/name``."""
    from tests.cluster.conftest import CHART, RELEASE, RELEASE_NAMESPACE

    k8s.helm(
        "upgrade", "--install", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, "--create-namespace"
    )
    k8s.wait_established()
    manifest = k8s.helm("get", "manifest", RELEASE, "--namespace", RELEASE_NAMESPACE).stdout
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(manifest) if d}


class OperatorStarter:
    """``modelmonitor run`` processes started as the chart's Deployment starts them, with a token of
    the chart's ServiceAccount (the fixture ``start_operator`` of tests/cluster does the same, for
    the session's cluster); ``stop_all()`` ends them."""

    def __init__(self, k8s: Any, release: dict[str, Any], workdir: Path) -> None:
        from tests.cluster.conftest import RELEASE_NAMESPACE, SERVICE_ACCOUNT

        self.k8s, self.release, self.workdir = k8s, release, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        token = k8s.kubectl(
            "-n", RELEASE_NAMESPACE, "create", "token", SERVICE_ACCOUNT, "--duration", "4h"
        ).stdout
        self.kubeconfig = k8s.kubeconfig_for_token(token.strip(), workdir / "kubeconfig")
        self.started: list[Any] = []

    def __call__(self, *extra: str, prometheus_url: str = "", env: dict[str, str] | None = None) -> Any:
        from tests.cluster.conftest import launch_operator

        handle = launch_operator(self.release, self.kubeconfig, self.workdir, len(self.started), *extra,
                                 prometheus_url=prometheus_url, env=env)  # fmt: skip
        self.started.append(handle)
        return handle

    def stop_all(self) -> None:
        for handle in self.started:
            handle.stop()


# ---------------------------------------------------------------------------------------- scenarios


def sidecar_killed(stack: Stack) -> dict[str, Any]:
    """SIGKILL one pod's sidecar (the stand-in kubelet does not restart it: as in CrashLoopBackOff).
    The client's requests to that pod and to the other while it is down; the monitor naming the pod
    and evaluating the other pod's window; recovery once the pod is replaced."""
    assert stack.load is not None
    pods = stack.kubelet.pods()
    victim = sorted(pods)[0]
    ip, pids = pods[victim]
    others = {p_ip for p, (p_ip, _) in pods.items() if p != victim}
    base = stack.load.between(now() - 10, now())
    killed = now()
    os.killpg(int(pids[SIDECAR_NAME] or 0), signal.SIGKILL)
    named = stack.wait(lambda o: victim in condition(o, "SidecarInjected").get("message", ""),
                       "the monitor naming the pod whose sidecar is gone")  # fmt: skip
    detected = now() - killed
    after = stack.evaluations(1)
    down_until = now()
    during = stack.load.between(killed, down_until)
    to_victim = [s for s in during if s.ip == ip]
    to_others = [s for s in during if s.ip in others]
    # Recovery: the pod replaced (what a restart by a real kubelet, or `kubectl delete pod`, does).
    replaced = now()
    stack.k8s.kubectl("-n", stack.namespace, "delete", "pod", victim, "--wait=false")
    stack.wait(lambda o: "left out" not in condition(o, "SidecarInjected").get("message", "")
               and o["status"].get("lastEvaluation") != after["status"].get("lastEvaluation"),
               "an evaluation with every pod read again", 120)  # fmt: skip
    return {
        "pod": victim,
        "message": condition(named, "SidecarInjected")["message"],
        "drift_status_after": condition(after, "DataDrift").get("status"),
        "drift_rows_after": (after["status"].get("drift") or {}).get("rows"),
        "phase_after": after["status"].get("phase"),
        "seconds_to_named": round(detected, 1),
        "seconds_to_recovery_after_replacement": round(now() - replaced, 1),
        "requests_to_pod_while_down": len(to_victim),
        "failed_to_pod_while_down": sum(not s.ok for s in to_victim),
        "requests_to_other_pods": len(to_others),
        "failed_to_other_pods": sum(not s.ok for s in to_others),
        "p95_ms_other_pods_while_down": p95([s.ms for s in to_others if s.ok]),
        "p95_ms_before": p95([s.ms for s in base if s.ok]),
    }


async def prometheus_outage(stack: Stack) -> dict[str, Any]:
    """Prometheus stopped for two more evaluations, then started again on the same port and data."""
    before = stack.monitor()
    actions, generation = len(before["status"].get("actions") or []), stack.generation()
    stopped = now()
    await stack.prometheus.stop()
    down = stack.wait(lambda o: condition(o, "SLOBreached").get("status") == "Unknown",
                      "SLOBreached Unknown")  # fmt: skip
    detected = now() - stopped
    during = stack.evaluations(2)
    acted = len(during["status"].get("actions") or []) - actions
    moved = stack.generation() - generation
    started = now()
    await stack.prometheus.start()
    back = stack.wait(lambda o: condition(o, "SLOBreached").get("status") in ("True", "False"),
                      "SLOBreached True or False again", 120)  # fmt: skip
    return {
        "reason_while_down": condition(down, "SLOBreached").get("reason"),
        "message_while_down": condition(down, "SLOBreached").get("message", "")[:200],
        "phase_while_down": during["status"].get("phase"),
        "actions_while_down": acted,
        "deployment_generations_while_down": moved,
        "status_after": condition(back, "SLOBreached").get("status"),
        "seconds_down": round(started - stopped, 1),
        "seconds_to_unknown": round(detected, 1),
        "seconds_to_recovery": round(now() - started, 1),
    }


def ship_slow_model(stack: Stack) -> None:
    ops = [
        {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": a}
        for a in ("--delay-ms", "150")
    ]
    ops.append(
        {
            "op": "replace",
            "path": "/spec/template/metadata/labels/app.kubernetes.io~1version",
            "value": "1.1.0",
        }
    )
    stack.k8s.kubectl(
        "-n", stack.namespace, "patch", "deployment", NAME, "--type=json", "-p", json.dumps(ops)
    )


def killed_mid_rollback(stack: Stack, *, outrank: bool = False) -> dict[str, Any]:
    """A slower model shipped; the evaluation that rolls it back is caught after its Deployment patch,
    while it sends the rollback alert (the receiver holds it), and the operator is SIGKILLed there —
    before its status write. Then restarted: with ``outrank``, at the highest peering priority (it
    does not wait for the dead replica's peering record to expire)."""
    known = stack.monitor()["status"]["lastKnownGoodRevision"]
    stack.receiver.hold(lambda body: '"rollback"' in body)
    ship_slow_model(stack)
    stack.k8s.wait_for(stack.receiver.held.is_set, timeout=120, interval=0.05, what="the rollback's alert")
    stack.operator.kill()
    killed = now()
    at_kill = stack.monitor()
    stack.receiver.release()
    generation = stack.generation()
    stack.restart_operator(2**31 if outrank else None)
    restarted = now()
    first = stack.evaluations(1)
    to_evaluation = now() - restarted
    recorded = stack.wait(lambda o: bool(rollbacks(o)), "the rollback in status.actions")
    to_recorded = now() - restarted
    stack.k8s.kubectl(
        "-n", stack.namespace, "rollout", "status", f"deployment/{NAME}", "--timeout=90s", timeout=120
    )
    # The slow pods are gone once the rollout is done (their processes stop a moment later). The
    # judgement that counts is the first whose latency window (spec.window.maxAge) holds none of their
    # requests; the margin covers that moment, Prometheus' 1 s scrape and whole-second timestamps.
    window = parse_duration(monitor_manifest("", "")["spec"]["window"]["maxAge"])
    final = stack.evaluated_after(time.time() + window + 3)
    deployment = stack.k8s.get("-n", stack.namespace, "deployment", NAME)
    stack.k8s.wait_for(lambda: stack.events("RollbackDone"), timeout=30, what="the RollbackDone Event")
    return {
        "recorded_at_kill": len(rollbacks(at_kill)),
        "rollbacks_in_status": len(rollbacks(final)),
        "rollback_message": rollbacks(recorded)[0]["message"][:300],
        "rollback_events": stack.events("RollbackDone"),
        "rollback_alerts": len(stack.receiver.actions("rollback", "Done")),
        "other_rollback_alerts": sorted(
            str(a.get("reason")) for a in stack.receiver.actions("rollback") if a.get("reason") != "Done"
        ),
        "deployment_generations_after_restart": stack.generation() - generation,
        "template_is_known_good": template_hash(deployment) == known["podTemplateHash"],
        "phase": final["status"].get("phase"),
        "slo_breached": condition(final, "SLOBreached").get("status"),
        "rollbacks_in_action_state": len(final["status"]["actionState"]["rollbacks"]),
        "seconds_killed_to_restart": round(restarted - killed, 1),
        "seconds_restart_to_evaluation": round(to_evaluation, 1),
        "seconds_restart_to_recorded": round(to_recorded, 1),
        "outranked_the_dead_replica": outrank,
        "phase_first_after_restart": first["status"].get("phase"),
    }


def restart_apiserver(k8s: Any, sig: int = signal.SIGTERM) -> tuple[float, float]:
    """Stop the kube-apiserver of ``k8s`` (``sig`` to its recorded pid) and start it again with the same
    command line on the same etcd: (seconds until it exited, seconds from the new start to /readyz)."""
    pids = (k8s.state / "pids").read_text().split()
    pid = next(p for p in pids if Path(f"/proc/{p}/exe").resolve().name == "kube-apiserver")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    stopped = now()
    os.kill(int(pid), sig)
    while Path(f"/proc/{pid}").exists() and now() - stopped < 120:
        time.sleep(0.05)
    exited = now()
    log = (k8s.state / "logs" / "kube-apiserver.log").open("ab")
    proc = subprocess.Popen([a.decode() for a in argv], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    (k8s.state / "pids").write_text("\n".join(str(proc.pid) if p == pid else p for p in pids) + "\n")
    k8s.wait_for(lambda: k8s.kubectl("get", "--raw", "/readyz", check=False).returncode == 0,
                 timeout=60, interval=0.1, what="the restarted kube-apiserver ready")  # fmt: skip
    return exited - stopped, now() - exited


def bare_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, "modelmonitor.io/enabled": "true"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "model", "image": "ghcr.io/modelmonitor/modelmonitor:0.1.0",
                                     "args": ["demo-model", "--port", "8080"], "ports": [{"containerPort": 8080}]}]},
        }},
    }  # fmt: skip


def injected(k8s: Any, namespace: str, name: str) -> bool:
    done = k8s.kubectl("-n", namespace, "get", "deployment", name, "-o", "json", check=False)
    containers = (
        json.loads(done.stdout)["spec"]["template"]["spec"]["containers"] if done.returncode == 0 else []
    )
    return any(c["name"] == SIDECAR_NAME for c in containers)


def apiserver_restart(
    k8s: Any, start_operator: Callable[..., Any], *, sig: int = signal.SIGKILL, wait: float = 60,
    namespace: str = "default",
) -> dict[str, Any]:  # fmt: skip
    """On a control plane of its own: the operator running, the API server stopped with ``sig`` and
    started again under it; a spec change and a new monitor made after the restart must be acted on
    (within ``wait`` seconds: ``acted_on`` says whether they were)."""
    mm: dict[str, Any] = {"apiVersion": "modelmonitor.io/v1alpha1", "kind": "ModelMonitor",
                          "spec": {"interval": "5s", "prometheus": {"url": "http://127.0.0.1:9"}}}  # fmt: skip
    k8s.apply([bare_deployment("model-a"), bare_deployment("model-b"), bare_deployment("model-c")], namespace)
    operator = start_operator()
    k8s.apply({**mm, "metadata": {"name": "watched"}, "spec": {**mm["spec"], "target": {"deployment": "model-a"}}},
              namespace)  # fmt: skip
    k8s.wait_for(lambda: injected(k8s, namespace, "model-a"), timeout=60, what="model-a injected")
    stopping, starting = restart_apiserver(k8s, sig)
    ready = now()
    k8s.kubectl("-n", namespace, "patch", "mm", "watched", "--type=merge", "-p",
                json.dumps({"spec": {"target": {"deployment": "model-b"}}}))  # fmt: skip
    k8s.apply({**mm, "metadata": {"name": "created-after"}, "spec": {**mm["spec"], "target": {"deployment": "model-c"}}},
              namespace)  # fmt: skip
    changed = new = False
    while now() - ready < wait and not (changed and new):
        changed, new = injected(k8s, namespace, "model-b"), injected(k8s, namespace, "model-c")
        time.sleep(0.2)
    resumed = now() - ready
    watched = k8s.get("mm", "-n", namespace, "watched")
    return {
        "signal": signal.Signals(sig).name,
        "seconds_apiserver_stopping": round(stopping, 1),
        "seconds_apiserver_starting": round(starting, 1),
        "spec_change_acted_on": changed,
        "new_monitor_acted_on": new,
        "seconds_to_act_after_restart": round(resumed, 1) if changed and new else None,
        "operator_alive": operator.alive(),
        "observed_generation": (watched.get("status") or {}).get("observedGeneration"),
        "generation": watched["metadata"]["generation"],
        "created_after_status": bool(k8s.get("mm", "-n", namespace, "created-after").get("status")),
        "status_patch_given_up": "9/9 failed; escalating: PATCH" in operator.output(),
    }


class PatchLog(KubernetesClient):
    """The operator's own port, with each Deployment patch's answer kept in ``patches``: (the
    resourceVersion its ``test`` op holds, the HTTP status: 200 when it was applied)."""

    def __init__(self, api_client: Any) -> None:
        super().__init__(api_client)
        self.patches: list[tuple[str | None, int]] = []

    def json_patch_deployment(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        tested = next(
            (o["value"] for o in ops if o["op"] == "test" and o["path"] == "/metadata/resourceVersion"), None
        )
        try:
            super().json_patch_deployment(namespace, name, ops)
        except KubernetesError as exc:
            self.patches.append((tested, exc.status))
            raise
        self.patches.append((tested, 200))


def conflicts(k8s: Any, namespace: str, kubeconfig: Path) -> dict[str, Any]:
    """Two writers on the real API server: the operator's rollback patch and state ConfigMap write
    made from a stale read, after another writer changed the object. Never applied blind: the stale
    patch is refused by the server; the rollback is planned again on a fresh read within the same
    call (the other writer's annotation kept), but not over another writer's change of the pod
    template; the state write is done on a fresh read."""
    from kubernetes import config as kube_config

    kube = PatchLog(kube_config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]
    k8s.apply(bare_deployment("raced"), namespace)
    k8s.apply({"apiVersion": "modelmonitor.io/v1alpha1", "kind": "ModelMonitor", "metadata": {"name": "raced"},
               "spec": {"target": {"deployment": "raced"}}}, namespace)  # fmt: skip
    uid = k8s.get("mm", "-n", namespace, "raced")["metadata"]["uid"]  # the state ConfigMap's owner
    good = kube.get_deployment(namespace, "raced")
    assert good is not None
    k8s.kubectl("-n", namespace, "set", "env", "deployment/raced", "-c", "model", "VERSION=2")
    k8s.wait_for(lambda: len(kube.list_replicasets(namespace, {"matchLabels": {"app": "raced"}})) >= 2,
                 timeout=60, what="two ReplicaSets")  # fmt: skip
    stale = kube.get_deployment(namespace, "raced")
    assert stale is not None
    k8s.kubectl("-n", namespace, "annotate", "deployment/raced", "other-writer=was-here")  # metadata only
    annotated = kube.get_deployment(namespace, "raced") or {}  # its generation: annotations bump it too
    decision = Decision("rollback", "SLOBreached", "Planned", "SLOBreached twice",
                        target={"podTemplateHash": template_hash(good)})  # fmt: skip
    # One call on the stale read: its patch is refused (the annotation moved the resourceVersion), the
    # template is still the one judged, so it is planned again on a fresh read. The Deployment
    # controller (the VERSION=2 rollout is still going) may write between a read and its patch: that
    # read is refused whole too, up to five reads in all.
    stale_rollback = roll_back(kube, namespace, stale, decision, stamp="2026-01-01T00:00:00Z")
    rollback_patches = list(kube.patches)
    done = kube.get_deployment(namespace, "raced") or {}
    # A template changed by another writer (a GitOps sync of VERSION=4) after the read the decision
    # judged (the user's VERSION=3): refused on the stale read, and not rolled back over. The user
    # and GitOps write through a client of their own (our port logs only the operator's patches).
    other = KubernetesClient(kube_config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]

    def version(value: str) -> list[dict[str, Any]]:
        env = [{"name": "VERSION", "value": value}]
        return [{"op": "add", "path": "/spec/template/spec/containers/0/env", "value": env}]

    other.json_patch_deployment(namespace, "raced", version("3"))
    judged = kube.get_deployment(namespace, "raced")
    assert judged is not None
    other.json_patch_deployment(namespace, "raced", version("4"))
    theirs = kube.get_deployment(namespace, "raced") or {}
    del kube.patches[:]
    changed_rollback = roll_back(kube, namespace, judged, decision, stamp="2026-01-01T00:01:00Z")
    after_change = kube.get_deployment(namespace, "raced") or {}
    # The state ConfigMap: written from a read that another writer has since changed.
    kube.create_configmap(namespace, configmap("raced", uid, namespace, {"n": 1}))
    read = kube.get_configmap(namespace, state_name("raced"))
    k8s.kubectl("-n", namespace, "label", "configmap", state_name("raced"), "other-writer=was-here")
    notes = save_state(kube, namespace, "raced", uid, {"n": 2}, read)
    cm = kube.get_configmap(namespace, state_name("raced")) or {}
    second = save_state(kube, namespace, "raced", uid, {"n": 2}, cm)
    cm2 = kube.get_configmap(namespace, state_name("raced")) or {}
    try:
        kube.merge_patch_configmap(namespace, state_name("raced"), {"metadata": {"resourceVersion": "1"}})
        stale_code: int | None = None
    except KubernetesError as exc:
        stale_code = exc.status
    return {
        "stale_rollback": stale_rollback,
        "rollback_patches": [status for _, status in rollback_patches],
        "first_patch_on_stale_read": bool(rollback_patches)
        and rollback_patches[0][0] == stale["metadata"]["resourceVersion"],
        "rollback_applied": template_hash(done) == template_hash(good),
        "rollback_generations": done["metadata"]["generation"] - annotated["metadata"]["generation"],
        "rollback_stamped": STAMP_ANNOTATION in (done["metadata"].get("annotations") or {}),
        "other_writer_kept": (done["metadata"].get("annotations") or {}).get("other-writer"),
        "changed_rollback": changed_rollback,
        "changed_patches": [status for _, status in kube.patches],
        "other_template_kept": template_hash(after_change) == template_hash(theirs) != template_hash(judged),
        "changed_generations": after_change["metadata"]["generation"] - theirs["metadata"]["generation"],
        "stale_state_write": [n.reason for n in notes],
        "state_after_stale_write": (cm.get("data") or {}),
        "other_label_kept": (cm.get("metadata", {}).get("labels") or {}).get("other-writer"),
        "fresh_state_write": [n.reason for n in second],
        "state_after_fresh_write": (cm2.get("data") or {}),
        "stale_resource_version_status": stale_code,
    }
