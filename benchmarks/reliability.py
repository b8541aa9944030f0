"""The operator under faults, measured: runs the scenarios of tests/helpers/faults.py (the same code
tests/cluster/test_faults.py asserts on) on a real control plane of its own, and writes
benchmarks/results/reliability.json and docs/reliability.md.

    .venv/bin/python benchmarks/reliability.py            # every scenario, ~4 minutes
    .venv/bin/python benchmarks/reliability.py --repeat 3 # each figure: the median of 3 runs, all kept
    .venv/bin/python benchmarks/reliability.py --only apiserver --no-write

Needs what the cluster test tier needs (`make setup`, `make k8s-assets`, Debian's prometheus).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

from tests.cluster.conftest import control_plane  # noqa: E402
from tests.conftest import PrometheusProcess, prometheus_binary  # noqa: E402
from tests.helpers import faults  # noqa: E402
from tests.helpers.kubelet import Kubelet, PodDiscovery, kubernetes_sd_supported, pod_scrape_config  # noqa: E402
from tests.helpers.processes import free_port  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "reliability.json"
DOC = ROOT / "docs" / "reliability.md"
SCENARIOS = ("stack", "apiserver", "apiserver-graceful", "conflicts")


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    mem = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem / 1024 / 1024, 1),
        "python": platform.python_version(), "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip


async def start_prometheus(
    k8s: Any, namespace: str, workdir: Path, stack: contextlib.ExitStack
) -> PrometheusProcess:
    """A real Prometheus discovering the namespace's pods, as the fixture ``pod_prometheus`` starts it."""
    import yaml

    job = pod_scrape_config(k8s.server, str(k8s.ca), k8s.token, namespace)
    if not kubernetes_sd_supported(prometheus_binary()):
        job = stack.enter_context(PodDiscovery(job)).scrape_config()
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                                      "scrape_configs": [job]}))  # fmt: skip
    args = [prometheus_binary(), f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={workdir / 'data'}"]  # fmt: skip
    handle = PrometheusProcess(args, f"http://127.0.0.1:{port}", workdir)
    await handle.start()
    return handle


async def run_stack(k8s: Any, release: dict[str, Any], work: Path) -> dict[str, Any]:
    """Sidecar killed, Prometheus outage, operator killed mid-rollback: one model, one operator."""
    namespace = f"faults-{os.getpid() % 10000}"
    k8s.kubectl("create", "namespace", namespace)
    k8s.wait_for(lambda: k8s.kubectl("-n", namespace, "get", "sa", "default", check=False).returncode == 0)
    starter = faults.OperatorStarter(k8s, release, work / "operator")
    receiver = faults.AlertReceiver()
    prom: PrometheusProcess | None = None
    bench: faults.Stack | None = None
    with (
        contextlib.ExitStack() as stack,
        Kubelet(k8s.kubeconfig, namespace, work / "kubelet", max_restarts=0) as node,
    ):
        try:
            faults.deploy_model(k8s, namespace, replicas=2)
            prom = await start_prometheus(k8s, namespace, work / "prometheus", stack)
            bench = faults.Stack(k8s, namespace, node, prom, starter, receiver)
            bench.restart_operator()
            faults.watch_until_healthy(bench)
            out = {"sidecar_killed": faults.sidecar_killed(bench)}
            out["prometheus_outage"] = await faults.prometheus_outage(bench)
            out["killed_mid_rollback"] = faults.killed_mid_rollback(bench)
            return out
        finally:
            if bench is not None and bench.load is not None:
                bench.load.stop()
            starter.stop_all()
            receiver.close()
            if prom is not None:
                await prom.stop()


def run_apiserver(work: Path, sig: int) -> dict[str, Any]:
    """On a control plane of its own (no controller manager), stopped with ``sig``."""
    with control_plane(controller_manager=False) as k8s:
        starter = faults.OperatorStarter(k8s, faults.install_release(k8s), work / "operator")
        try:
            return faults.apiserver_restart(k8s, starter, sig=sig, wait=60)
        finally:
            starter.stop_all()


async def run_once(only: set[str], work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if only & {"stack", "conflicts"}:
        with control_plane() as k8s:
            release = faults.install_release(k8s)
            if "conflicts" in only:
                k8s.kubectl("create", "namespace", "conflicts")
                k8s.wait_for(
                    lambda: (
                        k8s.kubectl("-n", "conflicts", "get", "sa", "default", check=False).returncode == 0
                    )
                )
                out["conflicts"] = faults.conflicts(k8s, "conflicts", k8s.kubeconfig)
            if "stack" in only:
                out.update(await run_stack(k8s, release, work / "stack"))
    if "apiserver" in only:
        out["apiserver_restart"] = run_apiserver(work / "apiserver", signal.SIGKILL)
    if "apiserver-graceful" in only:
        out["apiserver_graceful_restart"] = run_apiserver(work / "apiserver-graceful", signal.SIGTERM)
    return out


def median_of(runs: list[dict[str, Any]], scenario: str, key: str) -> Any:
    values = [r[scenario][key] for r in runs if isinstance(r.get(scenario, {}).get(key), int | float)]
    return round(statistics.median(values), 1) if values else None


def render(runs: list[dict[str, Any]], host: dict[str, Any]) -> str:
    first = runs[0]
    m = lambda s, k: median_of(runs, s, k)  # noqa: E731
    dead, prom, crash = (
        first.get("sidecar_killed", {}),
        first.get("prometheus_outage", {}),
        first.get("killed_mid_rollback", {}),
    )
    api, race = first.get("apiserver_restart", {}), first.get("conflicts", {})
    slow = first.get("apiserver_graceful_restart", {})
    rows = [
        ("Operator SIGKILLed mid-evaluation (after its rollback patch, before its status write), restarted",
         "the model rolled back once; `status.actions` says so after the restart "
         f"({crash.get('rollback_message', '')[:90]}...)",
         f"recorded the rollback it found on the Deployment ({crash.get('rollbacks_in_status')} in status, "
         f"{crash.get('rollback_events')} Event, {crash.get('rollback_alerts')} alert of it "
         f"(later decisions alerted: {', '.join(crash.get('other_rollback_alerts') or []) or 'none'}), "
         f"{crash.get('deployment_generations_after_restart')} further Deployment changes); phase {crash.get('phase')}",
         f"{m('killed_mid_rollback', 'seconds_restart_to_evaluation')} s restart → next evaluation (peering: see below); "
         f"{m('killed_mid_rollback', 'seconds_restart_to_recorded')} s → rollback recorded",
         "kill while the rollback's alert is held by the receiver; clock from the new process's start"),
        ("Prometheus stopped, started again (same port and data)",
         f"SLOBreached Unknown, reason {prom.get('reason_while_down')}; phase {prom.get('phase_while_down')}",
         f"nothing: {prom.get('actions_while_down')} actions, {prom.get('deployment_generations_while_down')} "
         "Deployment changes during the evaluations without data",
         f"{m('prometheus_outage', 'seconds_to_unknown')} s to Unknown; {m('prometheus_outage', 'seconds_to_recovery')} s "
         "from restart to SLOBreached False",
         "status polled every 0.25 s"),
        ("One of two pods' sidecar SIGKILLed (not restarted: CrashLoopBackOff)",
         f"requests sent straight to that pod: {dead.get('failed_to_pod_while_down')}/{dead.get('requests_to_pod_while_down')} "
         f"failed (connection refused); to the other pod {dead.get('failed_to_other_pods')}/{dead.get('requests_to_other_pods')} "
         f"failed, p95 {dead.get('p95_ms_other_pods_while_down')} ms (before: {dead.get('p95_ms_before')} ms)",
         "SidecarInjected names the pod and why (`... left out of this evaluation ...: <pod>: container "
         "modelmonitor-sidecar terminated (Error, exit code 137)`); drift evaluated on the other pod's window "
         f"(DataDrift {dead.get('drift_status_after')}, {dead.get('drift_rows_after')} rows)",
         f"{m('sidecar_killed', 'seconds_to_named')} s to the pod named; {m('sidecar_killed', 'seconds_to_recovery_after_replacement')} s "
         "from the pod's deletion to every pod read again",
         "client: the load thread's own requests by pod IP; no Service proxy here"),
        ("kube-apiserver killed (SIGKILL) and started again under the running operator (same etcd)",
         "nothing, once it is back: the spec change and the new monitor made after the restart are acted on",
         f"watches resumed (operator alive: {api.get('operator_alive')}; observedGeneration "
         f"{api.get('observed_generation')} = generation {api.get('generation')})",
         f"{m('apiserver_restart', 'seconds_to_act_after_restart')} s from /readyz to both injected "
         f"(the server: {m('apiserver_restart', 'seconds_apiserver_stopping')} s to stop, "
         f"{m('apiserver_restart', 'seconds_apiserver_starting')} s to start)",
         "a control plane of its own, no controller manager"),
        ("kube-apiserver stopped gracefully (SIGTERM: it drains for about a minute) and started again",
         f"spec change acted on: {slow.get('spec_change_acted_on')}; a monitor created afterwards: "
         f"{slow.get('new_monitor_acted_on')}"
         + ("" if slow.get("spec_change_acted_on") else " — the monitor evaluated during the outage is not evaluated again"),
         "the status patch of the evaluation that ran during the outage is retried until the server is back "
         f"(given up: {slow.get('status_patch_given_up')}; the operator's API retries never run out, 21 s apart "
         "after Kopf's first delays), so that monitor's timer goes on",
         f"none within 60 s after /readyz (the server: {m('apiserver_graceful_restart', 'seconds_apiserver_stopping')} s "
         f"to stop, {m('apiserver_graceful_restart', 'seconds_apiserver_starting')} s to start)"
         if not slow.get("spec_change_acted_on") else f"{m('apiserver_graceful_restart', 'seconds_to_act_after_restart')} s",
         "same as above, SIGTERM"),
        ("Writes from a stale read (another writer changed the object meanwhile)",
         "the other writer's change is kept; a pod template another writer changed after the decision is not "
         "rolled back over",
         f"rollback JSON patch from the stale read refused by the server, planned again on a fresh read and "
         f"{race.get('stale_rollback', ['?'])[0]} in the same evaluation (the patches answered "
         f"{', '.join(map(str, race.get('rollback_patches') or []))}: applied once, "
         f"{race.get('rollback_generations')} Deployment generation); after another writer changed the pod template: "
         f"refused ({', '.join(map(str, race.get('changed_patches') or []))}), not planned again, "
         f"{race.get('changed_rollback', ['?'])[0]} (their template kept: {race.get('other_template_kept')}); "
         f"state ConfigMap write refused ({', '.join(race.get('stale_state_write') or [])}), done on a fresh read",
         "rollback: the same evaluation (up to 5 reads of the Deployment); state ConfigMap: the next evaluation",
         "two writers on the real API server, through the operator's own port (its patches' answers logged)"),
    ]  # fmt: skip
    table = "\n".join(f"| {' | '.join(r)} |" for r in rows)
    return f"""# Reliability: the operator under faults

Produced by `benchmarks/reliability.py` ({len(runs)} run(s), {host["date"]}); figures are medians
over the runs, every run is in `benchmarks/results/reliability.json`. Machine: {host["cpu"]},
{host["cores"]} cores, {host["ram_gib"]} GiB, Python {host["python"]}, load average
{" ".join(map(str, host["load_average"]))} at the start (a shared machine: times are noisy).

Everything is real but the kubelet: kube-apiserver and kube-controller-manager v1.36 with etcd, the
operator as a process with only the chart's RBAC, the stand-in kubelet running the model and sidecar
processes of each pod on its own 127.x address, a real Prometheus. The monitor evaluates every 5 s
(`interval: 5s`, window 12 s, rollback after 2 consecutive SLOBreached).

| Fault | What the user sees | What the operator did | Recovery time | How measured |
|---|---|---|---|---|
{table}

## What is guaranteed, and what is not

- **A rollback is never done twice, nor lost.** The rollback patch stamps the Deployment
  (`modelmonitor.io/rolled-back`: when, by which monitor, to which template, why); an evaluation that finds a stamp
  from the last 24 h missing from `status.actionState.rollbacks` records it (`... (recorded after
  an operator restart)`) and counts it for the cooldown and `maxPerDay`. Its alert is not sent
  again: an alert in flight when the operator died may have arrived (at most once).
- **No action on missing data.** Prometheus down makes SLOBreached Unknown; Unknown keeps a
  rollback streak where it was, so no rollback, Job or scale happens while it is down.
- **A pod whose sidecar is down is named**, in the SidecarInjected condition's message, and the
  evaluation goes on with the others' windows. The pod's own traffic fails while its sidecar is
  down (the sidecar is the pod's serving port): on a cluster the pod goes unready and the Service
  stops sending to it after the readiness probe fails.
- **Writes to the user's objects are never blind.** Deployment and Service patches are JSON
  patches that `test` the resourceVersion and the entries they touch (422 on a concurrent change);
  the state ConfigMap's merge patch carries the resourceVersion (409). Either way the next
  evaluation reads afresh and tries again; a rollback does it within the same evaluation (up to 5
  reads), while the pod template is still the one the decision judged: a template another writer
  changed meanwhile is not rolled back over (Skipped), and the next evaluation judges it.
- **An API outage of any length is waited out.** Kopf's own API retries end after 9 attempts
  (1+1+2+3+5+8+13+21 s); when they ran out on a timer's status patch, that timer ended and Kopf
  never started it again for the object. The operator sets `settings.networking.error_backoffs` to
  delays that never run out (Kopf's, then 21 s apart; `operator/handlers.py`), so a timer waits the
  outage out; the graceful-restart row measures it with an outage of over a minute.
- **After a SIGKILL the new process may stand by** for up to 60 s: the killed replica's peering
  record keeps its (random) priority until its lifetime expires, and a process of lower priority
  pauses until then. The test restarts it at the highest priority; the benchmark does not.
- **Status** is written by Kopf as a merge patch of the fields that changed, without a
  resourceVersion: one active replica (peering) is the only writer.

## Rerun

    make setup k8s-assets
    .venv/bin/python benchmarks/reliability.py --repeat 3

The assertions on the same scenarios are `tests/cluster/test_faults.py`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", action="append", choices=SCENARIOS)
    parser.add_argument("--no-write", action="store_true", help="print the figures, write nothing")
    parser.add_argument(
        "--keep", type=Path, help="keep the logs (operator, kubelet, Prometheus) in this folder"
    )
    opts = parser.parse_args()
    host = machine()
    runs = []
    for i in range(opts.repeat):
        with contextlib.ExitStack() as scope:
            work = (
                opts.keep / f"run-{i}"
                if opts.keep
                else Path(scope.enter_context(tempfile.TemporaryDirectory()))
            )
            runs.append(asyncio.run(run_once(set(opts.only or SCENARIOS), work)))
        print(json.dumps(runs[-1], indent=1), flush=True)
    if opts.no_write:
        return
    RESULTS.write_text(json.dumps({"machine": host, "runs": runs}, indent=1) + "\n")
    DOC.write_text(render(runs, host))
    print(f"wrote {RESULTS.relative_to(ROOT)} and {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
