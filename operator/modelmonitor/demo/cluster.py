"""The cluster ``modelmonitor demo`` runs its story on, on this machine, and everything in it.

:func:`find_parts` says whether this machine has what a real local cluster needs: kube-apiserver and
kube-controller-manager (``$KUBEBUILDER_ASSETS``, else ``.tools/k8s`` from ``make setup``), etcd,
kubectl, Prometheus, and the source tree's scripts and stand-in kubelet. :class:`LocalCluster` then
starts, all on 127.0.0.1 and all under one temporary folder (named in every process's command line,
working directory or environment):

- etcd, the API server and the controller manager (``tests/cluster/k8s/up.sh``, as the cluster
  tests start them), the ModelMonitor CRD, and the demo's namespace, opted in to monitoring;
- the stand-in kubelet (``tests/helpers/kubelet.py``), which runs the namespace's pods as local
  processes on addresses of their own: the real demo model and the real sidecar;
- Prometheus, discovering the pods through the API server as the chart's PodMonitor does;
- the operator: ``modelmonitor run --standalone`` with the admin kubeconfig.

``close()`` stops them newest first, each by its own process group or recorded pid, and removes the
folder; it is safe to call at any point of the start, and twice.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmonitor.demo.kubectl import Console, DemoFailed, Kubectl, find_kubectl

ROOT = Path(__file__).resolve().parents[3]
CRD = ROOT / "crds" / "modelmonitor.yaml"
SCRIPTS = ROOT / "tests" / "cluster" / "k8s"


@dataclass(frozen=True)
class Parts:
    assets: Path
    kubectl: str
    prometheus: str


def find_parts() -> tuple[Parts | None, str]:
    """The binaries of a local cluster, or None and what is missing (with how to get it)."""
    env = os.environ.get("KUBEBUILDER_ASSETS")
    folders = [Path(env)] if env else []
    folders.append(ROOT / ".tools" / "k8s")
    assets = next(
        (f for f in folders if (f / "kube-apiserver").exists() and (f / "kube-controller-manager").exists()),
        None,
    )
    kubectl, prometheus = find_kubectl(ROOT), shutil.which("prometheus")
    missing = []
    if not (SCRIPTS / "up.sh").exists() or not (ROOT / "tests" / "helpers" / "kubelet.py").exists():
        missing.append("the source tree (tests/cluster/k8s, tests/helpers/kubelet.py)")
    if assets is None:
        missing.append("kube-apiserver and kube-controller-manager (`make setup`, or KUBEBUILDER_ASSETS)")
    if shutil.which("etcd") is None and not Path("/usr/bin/etcd").exists():
        missing.append("etcd (apt-get install etcd-server)")
    if kubectl is None:
        missing.append("kubectl (`make setup` unpacks it into .tools/bin)")
    if prometheus is None:
        missing.append("Prometheus (apt-get install prometheus)")
    if missing or assets is None or kubectl is None or prometheus is None:
        return None, "; ".join(missing)
    return Parts(assets, kubectl, prometheus), ""


def source_tree_helper() -> Any:
    """``tests/helpers/kubelet.py`` of the source tree: the stand-in kubelet and the pod discovery."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("tests.helpers.kubelet")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DemoFailed(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.1)
    raise DemoFailed(f"{what} not ready at {url} after {timeout:.0f}s")


def stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group (each process here leads its own), SIGKILL after ``grace`` s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class LocalCluster:
    """A control plane, a kubelet, Prometheus and the operator on this machine (module docstring)."""

    def __init__(self, parts: Parts, console: Console, namespace: str) -> None:
        self.parts, self.console, self.namespace = parts, console, namespace
        self.work = Path(tempfile.mkdtemp(prefix="modelmonitor-demo-"))
        self.kubeconfig = self.work / "k8s" / "kubeconfig"
        self.prometheus_url = ""
        self.kubelet: Any = None
        self._env: dict[str, str] = {}
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._discovery: Any = None
        self._up = False

    def start(self) -> Kubectl:
        kubelet = source_tree_helper()
        started = time.monotonic()
        ports = {"API_PORT": free_port(), "ETCD_PORT": free_port(), "ETCD_PEER_PORT": free_port()}
        self._env = {
            **os.environ, **{k: str(v) for k, v in ports.items()}, "K8S_STATE": str(self.work / "k8s"),
            "ETCD_DATA_DIR": str(self.work / "etcd"), "KUBEBUILDER_ASSETS": str(self.parts.assets),
        }  # fmt: skip
        self._up = True  # from here on, close() runs down.sh: it stops whatever up.sh recorded
        up = subprocess.run(["bash", str(SCRIPTS / "up.sh")], env=self._env, capture_output=True, text=True,
                            timeout=120, start_new_session=True)  # fmt: skip
        if up.returncode != 0:
            raise DemoFailed(f"the control plane did not start:\n{up.stderr[-2000:]}")
        kubectl = Kubectl(
            self.parts.kubectl, self.kubeconfig, self.namespace, self.console, self.work / "kube-cache"
        )
        self.console.say(
            f"   etcd, kube-apiserver and kube-controller-manager up in {time.monotonic() - started:.0f}s "
            f"({json.loads(kubectl.run('version', '-o', 'json'))['serverVersion']['gitVersion']})"
        )
        kubectl.run("apply", "--server-side", "-f", str(CRD))
        self._wait_established(kubectl)
        kubectl.run("create", "namespace", self.namespace)
        kubectl.run("label", "namespace", self.namespace, "modelmonitor.io/enabled=true")
        self._wait(
            lambda: kubectl.run("get", "serviceaccount", "default", check=False), "ServiceAccount default"
        )
        self.kubelet = kubelet.Kubelet(self.kubeconfig, self.namespace, self.work / "kubelet").start()
        self._start_prometheus()
        self._start_operator()
        return kubectl

    def _wait(self, probe: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            if time.monotonic() > deadline:
                raise DemoFailed(f"no {what} after {timeout:.0f}s")
            time.sleep(0.2)

    def _wait_established(self, kubectl: Kubectl) -> None:
        def established() -> bool:
            out = kubectl.run("get", "crd", "modelmonitors.modelmonitor.io", "-o", "json", check=False)
            conditions = (json.loads(out).get("status") or {}).get("conditions") if out else None
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions or [])

        self._wait(established, "CRD modelmonitors.modelmonitor.io Established")

    def _start_prometheus(self) -> None:
        import yaml

        helper = source_tree_helper()
        config = yaml.safe_load(self.kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        job = helper.pod_scrape_config(
            cluster["server"], cluster["certificate-authority"], user["token"], self.namespace
        )
        if not helper.kubernetes_sd_supported(self.parts.prometheus):
            # Debian's Prometheus is built without Kubernetes discovery: the same discovery, served to it.
            self._discovery = helper.PodDiscovery(job).start()
            job = self._discovery.scrape_config()
        path = self.work / "prometheus.yml"
        path.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": [job]}))
        port = free_port()
        proc = self._spawn("prometheus", [
            self.parts.prometheus, f"--config.file={path}", f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={self.work / 'tsdb'}",
        ])  # fmt: skip
        self.prometheus_url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.prometheus_url}/-/ready", 30, "Prometheus", proc)

    def _start_operator(self) -> None:
        self._spawn("operator", [
            sys.executable, "-m", "modelmonitor.cli", "run", "--standalone", "--namespace", self.namespace,
            "--tick", "1s", "--log-format", "plain", "--liveness", "", "--metrics", "",
        ], env={**os.environ, "KUBECONFIG": str(self.kubeconfig), "MODELMONITOR_DEMO_STATE": str(self.work)})  # fmt: skip

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.work / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=env, cwd=self.work, start_new_session=True)  # fmt: skip
        self._procs.append((name, proc))
        return proc

    def reach(self, pod: dict[str, Any]) -> tuple[str, int, int] | None:
        """A pod of this cluster listens on its own loopback address: its sidecar's ports are there."""
        from modelmonitor.demo.traffic import ADMIN_PORT, PROXY_PORT

        ip = (pod.get("status") or {}).get("podIP")
        return (str(ip), PROXY_PORT, ADMIN_PORT) if ip else None

    def pids(self) -> list[int]:
        """The pids of the processes started here (the pods' processes are the kubelet's)."""
        return [p.pid for _, p in self._procs if p.poll() is None]

    def close(self) -> None:
        """Stop everything, newest first, and remove the folder. Idempotent; a Ctrl-C meanwhile is
        ignored (the cleanup it would interrupt is what it asks for)."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self._close()
        finally:
            signal.signal(signal.SIGINT, previous)

    def _close(self) -> None:
        for _, proc in reversed(self._procs):
            stop_group(proc)
        self._procs.clear()
        if self.kubelet is not None:
            self.kubelet.stop()
            self.kubelet = None
        if self._discovery is not None:
            self._discovery.stop()
            self._discovery = None
        if self._up:
            subprocess.run(["bash", str(SCRIPTS / "down.sh")], env=self._env, capture_output=True, timeout=60)
            self._up = False
        shutil.rmtree(self.work, ignore_errors=True)
