"""The short walk-through ``modelmonitor demo`` shows on the emulated API, and how it shows it.

Step 1 (:func:`step_validate`, the contract on the examples) and step 3 (:func:`walkthrough`, the
operator at work: apply, profile, deploy, traffic, drift, delete), with the parts the demo plays
itself (the client traffic, the Deployment controller and the kubelet) and the console output
(``kubectl get mm`` rows from the CRD's printer columns, the conditions). Starting the processes and
the emulated cluster the walk-through runs against is :mod:`modelmonitor.demo.emulated`'s part.
"""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def say(text: str = "") -> None:
    print(text, flush=True)


def mm_table(objects: list[dict[str, Any]]) -> str:
    """The ModelMonitor rows as `kubectl get mm` prints them, from the CRD's printer columns."""
    from modelmonitor.api.crd import PRINTER_COLUMNS

    def pick(obj: dict[str, Any], path: str) -> str:
        node: Any = obj
        for part in path.strip(".").split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return ""
        if path == ".metadata.creationTimestamp":
            created = datetime.datetime.fromisoformat(str(node).replace("Z", "+00:00"))
            return f"{int((datetime.datetime.now(tz=datetime.UTC) - created).total_seconds())}s"
        return f"{node:.3g}" if isinstance(node, float) else str(node)

    header = ["NAME", *(c["name"].upper() for c in PRINTER_COLUMNS)]
    rows = [[o["metadata"]["name"], *(pick(o, c["jsonPath"]) for c in PRINTER_COLUMNS)] for o in objects]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    )


def step_validate() -> None:
    import yaml

    from modelmonitor.api.validation import validate_manifest

    say("== 1. The contract: every example validates; a broken manifest is refused naming its fields")
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ModelMonitor":
                problems = validate_manifest(doc)
                say(f"   {path.name:32} {problems if problems else 'valid'}")
    broken = {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": "typo"},
        "spec": {"target": {"deployment": "credit-scoring"}, "slos": {"latencyP95Ms": -5}, "interval": "1d"},
    }
    say("   a broken one:")
    for problem in validate_manifest(broken):
        say(f"     {problem}")
    say()


async def walkthrough(
    api: Any, mm: str, examples: dict[str, Any], model_port: int, listen: int, admin: int,
    prom_url: str | None, timeout: float, sidecar: Any,
) -> None:  # fmt: skip
    import pandas as pd

    from modelmonitor.demo.data import make_rows
    from modelmonitor.drift import build_profile

    say("\n== 3. The operator: a real `modelmonitor run` against an emulated Kubernetes API")
    monitor = examples["ModelMonitor"]
    monitor["spec"] = {
        "target": {"deployment": "credit-scoring", "port": model_port, "protocol": "kserve-v1"},
        "interval": "5s",
        "window": {"maxRows": 400},
        "sidecar": {"listenPort": listen, "adminPort": admin, "redact": ["ssn"]},
        "drift": {"reference": {"configMapRef": {"name": "credit-reference"}}, "driftShare": 0.2, "minRows": 200},
        "actions": {"mode": "observe", "retrain": {"when": ["DataDrift"], "serviceAccountName": "trainer",
                                                   "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "train", "image": "trainer:1"}]}}}}}},
    }  # fmt: skip
    if prom_url:
        monitor["spec"]["prometheus"] = {"url": prom_url}
        monitor["spec"]["slos"] = {"latencyP95Ms": 250, "errorRate": 0.05, "minRequests": 20}
    say("   $ kubectl apply -f credit-scoring-monitor.yaml      # the model is not deployed yet")
    await api.create(mm, "default", monitor)
    await _wait(api, mm, timeout, lambda o: _reason(o, "Ready") == "TargetNotFound")
    await _show(api, mm, "Ready")

    say("   $ modelmonitor profile reference.csv -o profile.json  # 3000 rows of training data")
    say("   $ kubectl create configmap credit-reference --from-file=profile.json")
    profile = build_profile(pd.DataFrame(make_rows(3000, seed=1)))
    await api.create(
        "v1/configmaps",
        "default",
        {"metadata": {"name": "credit-reference"}, "data": {"profile.json": profile.to_json()}},
    )
    say(
        f"     profile: {len(profile.to_json()) // 1024} KiB for {len(profile.to_dict()['features'])} features"
    )
    say("   $ kubectl apply -f examples/demo-model.yaml          # now it is")
    dep = examples["Deployment"]
    dep["spec"]["replicas"] = 1
    # The model process listens on a free port here, not 8080: say so in the pod template too.
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = model_port
    await api.create("apps/v1/deployments", "default", dep)
    await api.create("v1/services", "default", examples["Service"])
    await _wait(api, mm, timeout, lambda o: _reason(o, "SidecarInjected") == "RolloutInProgress")
    got = await api.get("apps/v1/deployments", "default", "credit-scoring")
    say(f"     containers now: {[c['name'] for c in got['spec']['template']['spec']['containers']]}")
    say(
        "     (the Deployment controller and the kubelet are played by the demo: rollout done, pod on 127.0.0.1)"
    )
    await _play_kubelet(api, admin)
    await _wait(api, mm, timeout, lambda o: _status(o, "SidecarInjected") == "True")
    svc = await api.get("v1/services", "default", "credit-scoring")
    say(f"     Service credit-scoring now targets port {svc['spec']['ports'][0]['targetPort']} (the sidecar)")

    say("\n   ... normal traffic through the sidecar (KServe v1, with an ssn field that is redacted)")
    stop = _traffic(listen, shift=0.0, seed=2)
    try:
        await _wait(api, mm, timeout * 2, lambda o: (o.get("status") or {}).get("phase") == "Healthy")
    finally:
        stop.set()
    await _show(api, mm, "SLOBreached", "DataDrift")
    say("\n   ... now applicants with lower incomes and higher debt arrive")
    stop = _traffic(listen, shift=1.5, seed=3)
    try:
        await _wait(api, mm, timeout * 2, lambda o: _status(o, "DataDrift") == "True")
    finally:
        stop.set()
    obj = await _show(api, mm, "DataDrift")
    for f in obj["status"]["drift"]["features"][:4]:
        say(
            f"     {f['name']:24} {f.get('method') or '':12} score {f.get('score', 0):.3f}  drifted={f['drifted']}"
        )
    for action in obj["status"].get("actions", [])[-2:]:
        say(f"     action: {action['action']} {action['result']}: {action['message']}")
    line = _last_log_line(sidecar)
    if line:
        say(f"     a sidecar log line: {line}")
    say("\n   $ kubectl delete mm credit-scoring                    # removes exactly what was added")
    await api.delete(mm, "default", "credit-scoring")
    for _ in range(int(timeout * 5)):
        dep = await api.get("apps/v1/deployments", "default", "credit-scoring")
        if all(c["name"] != "modelmonitor-sidecar" for c in dep["spec"]["template"]["spec"]["containers"]):
            break
        await asyncio.sleep(0.2)
    svc = await api.get("v1/services", "default", "credit-scoring")
    say(f"     containers: {[c['name'] for c in dep['spec']['template']['spec']['containers']]}; "
        f"Service targetPort back to {svc['spec']['ports'][0]['targetPort']!r}")  # fmt: skip


def _last_log_line(sidecar: Any) -> str | None:
    """The newest request log line of the sidecar process, shortened to what shows the redaction."""
    import json

    for raw in reversed(sidecar.stdout_text().splitlines()):
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        inputs = line.get("inputs")
        first = inputs[0] if isinstance(inputs, list) and inputs else inputs
        ssn = first.get("ssn") if isinstance(first, dict) else None
        keys = ("time", "request_id", "model", "version", "status", "latency_ms")
        shown = {k: line[k] for k in keys if k in line}
        return f"{json.dumps(shown)} inputs[0].ssn={ssn!r}"
    return None


def _traffic(port: int, *, shift: float, seed: int) -> Any:
    import http.client
    import json
    import threading
    import time

    from modelmonitor.demo.data import make_payload, make_rows

    stop = threading.Event()

    def run() -> None:
        deadline, n = time.monotonic() + 300, 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.is_set() and time.monotonic() < deadline:
            rows = [
                {**r, "ssn": f"123-45-{n:04d}"} for r in make_rows(5, seed=seed * 100_000 + n, shift=shift)
            ]
            body = json.dumps(make_payload("kserve-v1", rows, "credit-scoring")).encode()
            try:
                conn.request(
                    "POST", "/v1/models/credit-scoring:predict", body, {"Content-Type": "application/json"}
                )
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            n += 1
            stop.wait(0.02)
        conn.close()

    threading.Thread(target=run, daemon=True).start()
    return stop


async def _play_kubelet(api: Any, admin: int) -> None:
    dep = await api.get("apps/v1/deployments", "default", "credit-scoring")
    n = dep["spec"].get("replicas", 1)
    await api.patch("apps/v1/deployments", "default", "credit-scoring", {"status": {
        "observedGeneration": dep["metadata"]["generation"], "replicas": n, "updatedReplicas": n,
        "availableReplicas": n, "readyReplicas": n}})  # fmt: skip
    # The Deployment controller's part: a ReplicaSet it controls, which controls the Pod (the operator
    # reads the pods of the Deployment's own ReplicaSets only).
    labels = {"app": "credit-scoring", "pod-template-hash": "5d4f8b7c9"}
    rs = await api.create("apps/v1/replicasets", "default", {
        "metadata": {"name": "credit-scoring-5d4f8b7c9", "labels": labels, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "credit-scoring",
             "uid": dep["metadata"]["uid"], "controller": True}]},
        "spec": {"template": dep["spec"]["template"]},
    })  # fmt: skip
    await api.create("v1/pods", "default", {
        "metadata": {"name": "credit-scoring-5d4f8b7c9-x2x7q", "labels": labels, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
             "uid": rs["metadata"]["uid"], "controller": True}]},
        "spec": {"containers": [{"name": "model"}, {"name": "modelmonitor-sidecar"}]},
        "status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
    })  # fmt: skip


def _cond(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def _reason(obj: dict[str, Any], kind: str) -> str | None:
    return _cond(obj, kind).get("reason")


def _status(obj: dict[str, Any], kind: str) -> str | None:
    return _cond(obj, kind).get("status")


async def _wait(api: Any, resource: str, timeout: float, test: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        obj: dict[str, Any] = await api.get(resource, "default", "credit-scoring")
        if test(obj):
            return obj
        await asyncio.sleep(0.2)
    raise SystemExit(f"demo: the monitor did not get there in {timeout}s; status: {obj.get('status')}")


async def _show(api: Any, resource: str, *kinds: str) -> dict[str, Any]:
    obj: dict[str, Any] = await api.get(resource, "default", "credit-scoring")
    say("   $ kubectl get mm")
    for line in mm_table([obj]).splitlines():
        say(f"   {line}")
    for cond in obj["status"]["conditions"]:
        if not kinds or cond["type"] in kinds:
            say(f"   condition {cond['type']}={cond['status']} {cond['reason']}: {cond['message']}")
    return obj
