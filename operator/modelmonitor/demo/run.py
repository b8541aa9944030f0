"""The two ways the story runs: on a cluster the demo starts here, or on the user's (``--kubeconfig``).

:func:`run_local` starts :class:`modelmonitor.demo.cluster.LocalCluster` (control plane, stand-in
kubelet, Prometheus, operator), tells the story, and stops it all. :func:`run_remote` tells the same
story in a namespace of its own on the user's cluster, where the operator is the one installed with
the chart (it reaches the sidecars and Prometheus from inside the cluster); the demo reaches its
pods through ``kubectl port-forward`` and deletes the namespace at the end. Nothing is started here
but those port-forwards.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from modelmonitor.demo.cluster import ROOT, LocalCluster, Parts, stop_group
from modelmonitor.demo.kubectl import Console, DemoFailed, Kubectl, find_kubectl
from modelmonitor.demo.story import Stage, Story, summary
from modelmonitor.demo.traffic import ADMIN_PORT, PROXY_PORT


def _clients(kubeconfig: Path) -> tuple[Any, Any]:
    import kubernetes

    api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)  # type: ignore[no-untyped-call]
    return kubernetes.client.CoreV1Api(api), kubernetes.client.CustomObjectsApi(api)


def run_local(parts: Parts, console: Console, *, namespace: str, timeout: float, report: Path) -> None:
    started = time.monotonic()
    cluster = LocalCluster(parts, console, namespace)
    console.say(f"   every process of the demo runs under {cluster.work}; stopped at the end, or on Ctrl-C")
    story: Story | None = None
    try:
        kubectl = cluster.start()
        console.say(f"   the stand-in kubelet runs the pods on 127.x.y.z; Prometheus {cluster.prometheus_url} "
                    f"discovers them; the operator is `modelmonitor run` (pids {cluster.pids()})")  # fmt: skip
        console.say(
            f"   to look around meanwhile: export KUBECONFIG={cluster.kubeconfig}; kubectl -n {namespace} get mm"
        )
        core, custom = _clients(cluster.kubeconfig)
        stage = Stage(kubectl, console, core, custom, cluster.reach, namespace, cluster.kubeconfig,
                      cluster.work / "manifests", cluster.prometheus_url, timeout, report)  # fmt: skip
        story = Story(stage)
        facts = story.run()
    finally:
        cluster.close()
    assert story.traffic is not None
    console.say()
    summary(console, facts, story.traffic.counts, time.monotonic() - started,
            "a real API server and controller manager on this machine")  # fmt: skip
    console.say("   (everything the demo started is stopped, its folder removed)")


class PortForwards:
    """``kubectl port-forward`` to each pod's sidecar ports, started on first use, one per pod."""

    FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)")

    def __init__(self, kubectl: Kubectl) -> None:
        self.kubectl = kubectl
        self.forwards: dict[str, tuple[subprocess.Popen[bytes], tuple[str, int, int] | None]] = {}

    def reach(self, pod: dict[str, Any]) -> tuple[str, int, int] | None:
        name = str(pod["metadata"]["name"])
        if name not in self.forwards:
            self.forwards[name] = self._start(name)
        proc, where = self.forwards[name]
        return where if proc.poll() is None else None

    def _start(self, pod: str) -> tuple[subprocess.Popen[bytes], tuple[str, int, int] | None]:
        k = self.kubectl
        proc = subprocess.Popen(
            [k.binary, "--kubeconfig", str(k.kubeconfig), "-n", k.namespace, "port-forward", f"pod/{pod}",
             f":{PROXY_PORT}", f":{ADMIN_PORT}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        ports: dict[int, int] = {}
        deadline = time.monotonic() + 15
        while len(ports) < 2 and time.monotonic() < deadline and proc.stdout is not None:
            line = proc.stdout.readline().decode(errors="replace")
            if not line:
                break
            found = self.FORWARDING.search(line)
            if found:
                ports[int(found.group(2))] = int(found.group(1))
        if len(ports) < 2:
            return proc, None
        return proc, ("127.0.0.1", ports[PROXY_PORT], ports[ADMIN_PORT])

    def close(self) -> None:
        for proc, _ in self.forwards.values():
            stop_group(proc, grace=5)
        self.forwards.clear()


def run_remote(console: Console, *, kubeconfig: Path, namespace: str, timeout: float, report: Path) -> None:
    started = time.monotonic()
    binary = find_kubectl(ROOT)
    if binary is None:
        raise DemoFailed("kubectl is not installed: `make setup` unpacks it into .tools/bin")
    with tempfile.TemporaryDirectory(prefix="modelmonitor-demo-") as work:
        kubectl = Kubectl(binary, kubeconfig, namespace, console, Path(work) / "kube-cache")
        crd = kubectl.run("get", "crd", "modelmonitors.modelmonitor.io", check=False)
        if not crd.strip():
            raise DemoFailed(
                "no ModelMonitor CRD on this cluster: install the operator with the chart first "
                "(helm install modelmonitor charts/modelmonitor -n modelmonitor-system --create-namespace "
                "--set operator.prometheusUrl=http://<your Prometheus>:9090), see docs/demo.md"
            )
        if kubectl.run("get", "namespace", namespace, check=False).strip():
            raise DemoFailed(f"namespace {namespace} exists already: pass --namespace with a new name")
        kubectl.run("create", "namespace", namespace)
        forwards = PortForwards(kubectl)
        story: Story | None = None
        try:
            kubectl.run("label", "namespace", namespace, "modelmonitor.io/enabled=true")
            console.say(f"   namespace {namespace} (deleted at the end); the operator is the chart's")
            core, custom = _clients(kubeconfig)
            stage = Stage(kubectl, console, core, custom, forwards.reach, namespace, kubeconfig,
                          Path(work) / "manifests", None, timeout, report)  # fmt: skip
            story = Story(stage)
            facts = story.run()
        finally:
            forwards.close()
            with contextlib.suppress(Exception):
                kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)
    assert story.traffic is not None
    console.say()
    summary(console, facts, story.traffic.counts, time.monotonic() - started, f"your cluster ({kubeconfig})")
