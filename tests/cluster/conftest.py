"""The cluster tier: a real kube-apiserver + kube-controller-manager (v1.36) and etcd on 127.0.0.1.

- ``k8s`` (session): the control plane started by ``tests/cluster/k8s/up.sh`` on free ports, with a
  cluster-admin kubeconfig, ``kubectl()`` and ``api`` (the kubernetes client). The binaries come from
  ``$KUBEBUILDER_ASSETS`` (the envtest convention), else ``.tools/k8s`` (``make k8s-assets`` unpacks
  them there from ``../shared/k8s/bin``); when neither holds them the tier fails saying how to get
  them. It never skips.
- ``namespace``: a fresh namespace per test, deleted after it.
- ``release`` (session): the Helm chart installed as a user would (``helm upgrade --install``).
- ``operator_kubeconfig`` (session): a kubeconfig holding a TokenRequest token of the chart's own
  ServiceAccount, so a process using it has exactly the chart's RBAC.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.kubelet_fixture import kubelet  # noqa: F401  (the stand-in kubelet, a fixture)
from tests.conftest import PrometheusProcess, prometheus_binary
from tests.helpers.kubelet import PodDiscovery, kubernetes_sd_supported, pod_scrape_config
from tests.helpers.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
UP = ROOT / "tests" / "cluster" / "k8s" / "up.sh"
DOWN = ROOT / "tests" / "cluster" / "k8s" / "down.sh"
CHART = ROOT / "charts" / "modelmonitor"
RELEASE = "modelmonitor"
RELEASE_NAMESPACE = "modelmonitor-system"
SERVICE_ACCOUNT = "modelmonitor"  # the chart's fullname for release "modelmonitor"

pytestmark = pytest.mark.cluster
# How the API server words an RBAC refusal (a terminating namespace is refused in other words).
RBAC_DENIAL = re.compile(r'forbidden: User "[^"]+" cannot ')


def tool(name: str) -> str:
    """helm and kubectl: the binaries `make setup` unpacks into .tools/bin, else the PATH's."""
    local = ROOT / ".tools" / "bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: `make setup` unpacks it into .tools/bin")
    return found


def assets() -> Path:
    env = os.environ.get("KUBEBUILDER_ASSETS")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT / ".tools" / "k8s")
    for folder in candidates:
        if (folder / "kube-apiserver").exists() and (folder / "kube-controller-manager").exists():
            return folder
    pytest.fail(
        "no Kubernetes v1.36 binaries for the cluster tests: set KUBEBUILDER_ASSETS to a folder holding "
        "kube-apiserver and kube-controller-manager (setup-envtest use -p path 1.36.x), or run "
        "`make k8s-assets`, which unpacks them from ../shared/k8s/bin"
    )


@dataclass
class K8s:
    kubeconfig: Path
    server: str
    ca: Path
    token: str
    state: Path
    env: dict[str, str]

    def kubectl(self, *args: str, kubeconfig: Path | None = None, check: bool = True,
                stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
        done = subprocess.run(
            [tool("kubectl"), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args],
            input=stdin, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} -> {done.returncode}:\n{done.stderr}")
        return done

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def apply(self, obj: dict[str, Any] | list[dict[str, Any]], namespace: str | None = None) -> None:
        docs = obj if isinstance(obj, list) else [obj]
        ns = ["-n", namespace] if namespace else []
        self.kubectl("apply", *ns, "-f", "-", stdin=yaml.safe_dump_all(docs))

    def helm(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [tool("helm"), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True, text=True, timeout=timeout, env={**os.environ, **self.env},
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} -> {done.returncode}:\n{done.stderr}")
        return done

    def wait_established(self, crd: str = "modelmonitors.modelmonitor.io", timeout: float = 60) -> None:
        """Until the CRD is Established. (`kubectl wait` fails instead of waiting while a new CRD has no
        status.conditions yet: seen on a clean CI run.)"""

        def established() -> bool:
            done = self.kubectl("get", "crd", crd, "-o", "json", check=False)
            conditions = (
                (json.loads(done.stdout).get("status") or {}).get("conditions")
                if done.returncode == 0
                else None
            )
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions or [])

        self.wait_for(established, timeout=timeout, what=f"CRD {crd} Established")

    def kubeconfig_for_token(self, token: str, path: Path) -> Path:
        config = yaml.safe_load(self.kubeconfig.read_text())
        config["users"][0]["user"] = {"token": token}
        config["users"][0]["name"] = "token"
        config["contexts"][0]["context"]["user"] = "token"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def wait_for(
        self, probe: Any, *, timeout: float = 60, interval: float = 0.2, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                value = probe()
            except (AssertionError, KeyError, IndexError, TypeError) as exc:
                value, last = None, exc
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
            time.sleep(interval)


@contextlib.contextmanager
def control_plane(*, controller_manager: bool = True) -> Iterator[K8s]:
    """Start etcd + kube-apiserver (+ kube-controller-manager) on free ports; stop and wipe after."""
    folder = assets()
    for attempt in range(PORT_ATTEMPTS):
        state = Path(tempfile.mkdtemp(prefix="modelmonitor-k8s-"))
        ports = {"API_PORT": free_port(), "ETCD_PORT": free_port(), "ETCD_PEER_PORT": free_port()}
        env = {
            **os.environ,
            **{k: str(v) for k, v in ports.items()},
            "K8S_STATE": str(state),
            "KUBEBUILDER_ASSETS": str(folder),
            "NO_KCM": "0" if controller_manager else "1",
        }
        started = subprocess.run(["bash", str(UP)], env=env, capture_output=True, text=True, timeout=120)
        # A free port can be taken by another process (the other test worker's) before it is bound:
        # start again on new ports.
        if started.returncode == 0 or "already in use" not in started.stderr:
            break
        if attempt < PORT_ATTEMPTS - 1:
            _stop(env, ports, state)
    try:
        if started.returncode != 0:
            pytest.fail(f"the Kubernetes control plane did not start:\n{started.stderr[-3000:]}")
        kubeconfig = Path(started.stdout.strip().splitlines()[-1])
        config = yaml.safe_load(kubeconfig.read_text())
        helm_home = state / "helm"
        yield K8s(
            kubeconfig=kubeconfig,
            server=config["clusters"][0]["cluster"]["server"],
            ca=Path(config["clusters"][0]["cluster"]["certificate-authority"]),
            token=config["users"][0]["user"]["token"],
            state=state,
            env={f"HELM_{k}_HOME": str(helm_home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")},
        )
    finally:
        _stop(env, ports, state)


PORT_ATTEMPTS = 3  # control-plane starts tried when a port was taken between choosing and binding it


def _stop(env: dict[str, str], ports: dict[str, int], state: Path) -> None:
    subprocess.run(["bash", str(DOWN)], env=env, capture_output=True, timeout=60)
    shutil.rmtree(f"/dev/shm/modelmonitor-etcd-{ports['ETCD_PORT']}", ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def k8s() -> Iterator[K8s]:
    """The shared cluster, with controllers: Deployments make ReplicaSets make Pods."""
    with control_plane() as cluster:
        yield cluster


@pytest.fixture
def bare_api() -> Iterator[K8s]:
    """A fresh, empty API server of one test's own (no controllers; about 3 s to start)."""
    with control_plane(controller_manager=False) as cluster:
        yield cluster


@pytest.fixture
def namespace(k8s: K8s, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-") + f"-{os.getpid() % 1000}"
    name = "".join(c for c in name if c.isalnum() or c == "-")[:60].strip("-")
    k8s.kubectl("create", "namespace", name)
    # The ServiceAccount controller creates `default`; Pods need it to be admitted.
    k8s.wait_for(lambda: k8s.kubectl("-n", name, "get", "sa", "default", check=False).returncode == 0,
                 what=f"ServiceAccount {name}/default")  # fmt: skip
    yield name
    # The test's operator has stopped by now: drop the finalizers it left, or the namespace (and its
    # monitors) would stay Terminating until some later test's operator cleaned up after this one.
    left = k8s.kubectl("get", "mm", "-n", name, "-o", "name", check=False)  # no CRD: nothing left
    for mm in left.stdout.split() if left.returncode == 0 else []:
        k8s.kubectl(
            "-n", name, "patch", mm, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False
        )
    k8s.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
async def pod_prometheus(
    k8s: K8s, prometheus: Callable[..., Awaitable[PrometheusProcess]]
) -> AsyncIterator[Callable[..., Awaitable[PrometheusProcess]]]:
    """Factory: a real Prometheus scraping the sidecars of a namespace's pods, found the way the chart's
    PodMonitor finds them (Kubernetes pod discovery on this API server; Debian's Prometheus is built
    without it, so the same discovery is then served to it as HTTP service discovery)."""
    with contextlib.ExitStack() as stack:

        async def start(namespace: str, k8s: K8s = k8s, host: str = "127.0.0.1") -> PrometheusProcess:
            job = pod_scrape_config(k8s.server, str(k8s.ca), k8s.token, namespace)
            if not kubernetes_sd_supported(prometheus_binary()):
                job = stack.enter_context(PodDiscovery(job)).scrape_config()
            return await prometheus(scrape_configs=[job], host=host)

        yield start


@pytest.fixture(scope="session")
def release(k8s: K8s) -> dict[str, Any]:
    """The chart, installed as the README says (two replicas: peering, its CRDs and RBAC, included)."""
    k8s.helm(
        "upgrade", "--install", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, "--create-namespace",
        "--set", "replicaCount=2",
    )  # fmt: skip
    k8s.wait_established()
    manifest = k8s.helm("get", "manifest", RELEASE, "--namespace", RELEASE_NAMESPACE).stdout
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(manifest) if d}


@pytest.fixture(scope="session")
def operator_kubeconfig(k8s: K8s, release: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Credentials of the chart's ServiceAccount (TokenRequest API): the operator gets only the chart's RBAC."""
    token = k8s.kubectl(
        "-n", RELEASE_NAMESPACE, "create", "token", SERVICE_ACCOUNT, "--duration", "4h"
    ).stdout.strip()  # fmt: skip
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == f"system:serviceaccount:{RELEASE_NAMESPACE}:{SERVICE_ACCOUNT}"
    return k8s.kubeconfig_for_token(token, tmp_path_factory.mktemp("operator") / "kubeconfig")


class ClusterOperator:
    """A `modelmonitor run` process started exactly as the chart's Deployment starts it (its args and
    env), with the chart's ServiceAccount token; ports moved to free loopback ones."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, name: str, metrics_url: str) -> None:
        self.proc, self.log, self.name, self.metrics_url = proc, log, name, metrics_url

    def evaluations(self) -> float:
        """modelmonitor_evaluations_total summed over results, from this process's own /metrics."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return 0.0
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("modelmonitor_evaluations_total{")
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, grace: float = 20) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(grace)

    def kill(self) -> None:
        """SIGKILL, as a node failure or an OOM kill would: no cleanup, no goodbye to the peers."""
        self.stop(signal.SIGKILL)


def chart_command(release: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The operator container's args and env values, as the chart renders them; of the Downward API,
    the pod's namespace is resolved (the release namespace), as a kubelet would."""
    deployment = release["Deployment/modelmonitor"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}
    for e in container.get("env") or []:
        if ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") == "metadata.namespace":
            env[e["name"]] = deployment["metadata"]["namespace"]
    return list(container.get("command") or []) + list(container["args"]), env


def launch_operator(
    release: dict[str, Any], kubeconfig: Path, workdir: Path, index: int, *extra: str,
    prometheus_url: str = "", env: dict[str, str] | None = None,
) -> ClusterOperator:  # fmt: skip
    """The operator as the chart runs it, as a process here: the chart's args and env, with its
    liveness and metrics on free loopback ports, plain logs to ``workdir/operator-INDEX.log``, a 1 s
    tick and ``kubeconfig`` (the chart's ServiceAccount)."""
    args, chart_env = chart_command(release)
    assert args[0] == "run", args
    moved, metrics_port = [], free_port()
    for arg in args[1:]:
        if arg.startswith("--liveness="):
            arg = f"--liveness=http://127.0.0.1:{free_port()}/healthz"
        elif arg.startswith("--metrics="):
            arg = f"--metrics=127.0.0.1:{metrics_port}"
        elif arg.startswith("--log-format="):
            arg = "--log-format=plain"  # for a reader of the test log
        moved.append(arg)
    if prometheus_url:
        moved.append(f"--prometheus-url={prometheus_url}")
    name = f"modelmonitor-{index}"
    log = workdir / f"operator-{index}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelmonitor.cli", "run", *moved, *extra],
        env={**os.environ, **chart_env, "MODELMONITOR_TICK": "1s", "POD_ID": name,
             "KUBECONFIG": str(kubeconfig), **(env or {})},
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    return ClusterOperator(proc, log, name, f"http://127.0.0.1:{metrics_port}/metrics")


@pytest.fixture
def start_operator(
    k8s: K8s, release: dict[str, Any], operator_kubeconfig: Path, tmp_path: Path
) -> Iterator[Callable[..., ClusterOperator]]:
    """Factory: ``start_operator(prometheus_url=..., env={...})`` runs the operator as the chart does,
    authenticated as the chart's ServiceAccount. After the test, any call the chart's RBAC refused
    (a 403 in the log) fails the test, unless the test said ``forbidden_expected=True``."""
    started: list[tuple[ClusterOperator, bool]] = []

    def start(
        *extra: str, prometheus_url: str = "", env: dict[str, str] | None = None,
        forbidden_expected: bool = False,
    ) -> ClusterOperator:  # fmt: skip
        handle = launch_operator(release, operator_kubeconfig, tmp_path, len(started), *extra,
                                 prometheus_url=prometheus_url, env=env)  # fmt: skip
        started.append((handle, forbidden_expected))
        return handle

    yield start
    refused = []
    for handle, forbidden_expected in started:
        handle.stop()
        text = handle.output()
        print(f"--- {handle.name} log:\n{text[-6000:]}")
        if not forbidden_expected and RBAC_DENIAL.search(text):
            refused.append(handle.name)
    assert not refused, f"the chart's RBAC refused calls of {refused}: see the logs above"
