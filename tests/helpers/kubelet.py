"""A stand-in for the kubelet, for a real kube-apiserver that has none: it runs a namespace's Pods here.

``Kubelet(kubeconfig, namespace, workdir)`` polls the Pods of one namespace (every 0.2 s) and, for each
new Pod, does what a kubelet and its container runtime would:

- gives the pod its own loopback address (a random 127.a.b.c, never 127.0.0.1), after checking that
  every declared ``containerPort`` can be bound on it;
- starts the real process of each container this machine can run: this project's image
  (``.../modelmonitor/modelmonitor``, ENTRYPOINT ``modelmonitor``) with ``args`` and no ``command``, or
  ``command: [modelmonitor, ...]``, runs ``python -m modelmonitor.cli ...`` with this interpreter.
  Any other image or command cannot run here: that container waits with reason
  ``ImageNotRunnableHere`` and the pod is never Ready;
- sets the environment (``value``, ``valueFrom.fieldRef``, ``configMapKeyRef``, ``secretKeyRef``) on
  top of this process's own (PATH, PYTHONPATH...), expands ``$(VAR)`` in command and args, and maps
  ``0.0.0.0``, ``127.0.0.1`` and ``localhost`` in args and env values to the pod's address (containers
  of a pod share localhost on a cluster; here two pods would otherwise collide on the same ports);
- mounts Secret volumes: the Secret's ``items`` (or all its keys) are written, with ``mode`` or the
  volume's ``defaultMode`` (default 0644), to ``WORKDIR/<pod>/volumes/<volume>/``, and a container's
  ``mountPath`` (with its ``subPath``) in its args and env values becomes that folder, as it maps
  loopback addresses (the processes share this machine's filesystem, so ``/var/run/...`` cannot be
  theirs); a missing Secret that is not ``optional`` leaves the pod ``CreateContainerConfigError``
  (a kubelet would keep retrying the mount: the pod is never Ready either way);
- makes each ``emptyDir`` volume a fresh, empty folder ``WORKDIR/<pod>/volumes/<volume>/`` (its
  ``medium`` and ``sizeLimit`` are not enforced), mapped into args and env as the Secret mounts are
  and deleted when the pod's processes have stopped; ``emptydir(pod, volume)`` says where it is;
- probes readiness (``httpGet`` on the pod's address, ``tcpSocket``; no probe: alive for 0.5 s),
  restarts exited processes as ``restartPolicy`` says (at most ``max_restarts`` times, with backoff)
  and merge-patches ``pods/status`` whenever what it reports changes;
- when the Pod is deleted or gets a ``deletionTimestamp``, sends SIGTERM to each process group, SIGKILL
  after the grace period (at most ``max_grace`` s), releases the address and, if the Pod still exists
  (it was bound to a node, so deletion is graceful), deletes it with ``gracePeriodSeconds=0``.

What it does not do: images other than this project's, init containers (the pod stays Pending with
``Initialized`` False), liveness and startup probes (ignored), volumes other than Secrets and
emptyDirs, eviction (an emptyDir past its ``sizeLimit`` is not noticed), file
ownership (files belong to this user; ``fsGroup`` is ignored), users and resource limits
(processes run as this user, unconfined). Processes run in their own session and are killed with
their whole process group: nothing outlives ``stop()``. Their output goes to
``WORKDIR/<pod>/<container>.stdout|.stderr`` (``logs(pod, container)``); what the kubelet did goes to
``WORKDIR/kubelet.log``.

``pod_scrape_config(...)`` is the Prometheus job the chart's PodMonitor amounts to: Kubernetes pod
discovery against the API server, keeping the sidecar's ``mm-admin`` port. Debian's Prometheus is
built without Kubernetes discovery (its packaging removed it: ``kubernetes_sd_configs`` is an unknown
field there), so :class:`PodDiscovery` does that discovery for it: it reads a job's
``kubernetes_sd_configs`` (role pod), lists the pods from the same API server with the same CA and
token, and serves Prometheus's own target groups and ``__meta_kubernetes_*`` labels as HTTP service
discovery; the job's relabelling is kept unchanged (``PodDiscovery.scrape_config()``).
``kubernetes_sd_supported(binary)`` tells which of the two a Prometheus needs.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from kubernetes.client.exceptions import ApiException

NODE_NAME = "kubelet-stand-in"
HOST_IP = "127.0.0.1"
RUNNABLE_IMAGE = re.compile(
    r"^(?:[\w.:-]+/)*modelmonitor/modelmonitor(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)
ENTRYPOINT = "modelmonitor"
DEFAULT_CMD = ("run",)
# The pod's own localhost, as written in manifests (not inside longer names or addresses).
LOOPBACK = re.compile(r"(?<![\w.])(?:0\.0\.0\.0|127\.0\.0\.1|localhost)(?![\w]|\.\w)")
VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
FIELD_MAP = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
DEFAULT_MODE = 0o644  # a Secret volume's defaultMode when the manifest gives none

_allocated: set[str] = set()
_allocated_lock = threading.Lock()


def raw(response: Any) -> Any:
    """The JSON of a kubernetes-client call made with ``_preload_content=False`` (plain dicts, as served)."""
    return json.loads(response.data)


def now_rfc3339() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bindable(ip: str, port: int) -> bool:
    """True when a TCP socket can bind ``ip:port`` now (no SO_REUSEADDR: a wildcard listener counts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def allocate_address(ports: Iterable[int], preferred: str | None = None, attempts: int = 200) -> str | None:
    """A loopback address in 127.0.0.0/8 (not 127.0.0.1, not .0/.255) on which every port can be bound.

    Addresses are unique within this process until :func:`release_address`; ``None`` when none is found.
    """
    wanted = sorted(set(ports))
    candidates = [preferred] if preferred else []
    with _allocated_lock:
        for _ in range(attempts):
            ip = candidates.pop() if candidates else (
                f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
            )  # fmt: skip
            if not ip.startswith("127.") or ip == "127.0.0.1" or ip in _allocated:
                continue
            if all(bindable(ip, port) for port in wanted):
                _allocated.add(ip)
                return ip
    return None


def release_address(ip: str) -> None:
    with _allocated_lock:
        _allocated.discard(ip)


def map_loopback(text: str, ip: str) -> str:
    """``0.0.0.0``, ``127.0.0.1`` and ``localhost`` in ``text`` become the pod's address ``ip``."""
    return LOOPBACK.sub(ip, text)


def map_mounts(text: str, mounts: dict[str, Path]) -> str:
    """A ``mountPath`` in ``text`` (the whole path, or a path below it) becomes the folder that stands
    in for it here; the longest mount path wins, and ``/a/bc`` is not below ``/a/b``."""
    for mount in sorted(mounts, key=len, reverse=True):
        pattern = re.compile(r"(?<![\w./-])" + re.escape(mount.rstrip("/")) + r"(?=/|$|[^\w.-])")
        folder = str(mounts[mount])
        text = pattern.sub(lambda _, folder=folder: folder, text)  # type: ignore[misc]
    return text


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined variables are replaced, others kept, ``$$`` is ``$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return VAR_REF.sub(one, text)


def entrypoint_args(container: dict[str, Any]) -> list[str] | None:
    """The ``modelmonitor`` arguments the container runs, or None when it cannot run here."""
    if not RUNNABLE_IMAGE.match(str(container.get("image") or "")):
        return None
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if command:
        if Path(command[0]).name != ENTRYPOINT:
            return None
        return [*command[1:], *args]
    return args if container.get("args") is not None else list(DEFAULT_CMD)


class ConfigError(Exception):
    """The container's configuration cannot be resolved (the kubelet's CreateContainerConfigError)."""


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class Container:
    """One container of a pod: its process (when it runs here) and what its status says."""

    spec: dict[str, Any]
    ip: str
    logdir: Path
    argv: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    waiting: tuple[str, str] | None = ("ContainerCreating", "")
    proc: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    started_mono: float = 0.0
    restarts: int = 0
    terminated: dict[str, Any] | None = None
    last_terminated: dict[str, Any] | None = None
    next_restart: float | None = None
    ready: bool = False
    successes: int = 0
    failures: int = 0
    container_id: str = ""

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def image(self) -> str:
        return str(self.spec.get("image") or "")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> None:
        assert self.argv is not None
        self.logdir.mkdir(parents=True, exist_ok=True)
        with (
            (self.logdir / f"{self.name}.stdout").open("ab") as out,
            (self.logdir / f"{self.name}.stderr").open("ab") as err,
        ):
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env,
                cwd=self.logdir, start_new_session=True,
            )  # fmt: skip
        self.started_at = now_rfc3339()
        self.started_mono = time.monotonic()
        self.container_id = "process://" + hashlib.sha256(f"{self.ip}/{self.name}/{self.proc.pid}/{time.time()}".encode()).hexdigest()  # fmt: skip
        self.waiting = self.terminated = None
        self.ready = False
        self.successes = self.failures = 0

    def signal_group(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def status(self) -> dict[str, Any]:
        digest = hashlib.sha256(self.image.encode()).hexdigest()
        entry: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": f"{self.image.split('@')[0].rsplit(':', 1)[0]}@sha256:{digest}" if self.argv else "",
            "ready": self.ready,
            "started": self.proc is not None and self.terminated is None,
            "restartCount": self.restarts,
        }
        if self.container_id and self.waiting is None:
            entry["containerID"] = self.container_id
        if self.waiting is not None:
            reason, message = self.waiting
            entry["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        elif self.terminated is not None:
            entry["state"] = {"terminated": self.terminated}
        else:
            entry["state"] = {"running": {"startedAt": self.started_at}}
        if self.last_terminated is not None:
            entry["lastState"] = {"terminated": self.last_terminated}
        return entry


class PodWorker(threading.Thread):
    """Runs one Pod: address, processes, probes and status patches, until asked to stop."""

    def __init__(self, kubelet: Kubelet, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"kubelet-{meta['name']}", daemon=True)
        self.kubelet = kubelet
        self.pod = pod
        self.pod_name = str(meta["name"])
        self.uid = str(meta["uid"])
        self.ip: str | None = None
        self.containers: list[Container] = []
        self.stopping = threading.Event()
        self.start_time = now_rfc3339()
        self.transitions: dict[str, tuple[str, str]] = {}
        self.last_patch: dict[str, Any] | None = None
        self.pod_reason: tuple[str, str] | None = None
        self.volume_dirs: dict[str, Path] = {}  # Secret and emptyDir volumes mounted, by volume name
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ setup

    def log(self, text: str) -> None:
        self.kubelet.log(f"{self.pod_name}: {text}")

    def declared_ports(self) -> list[int]:
        spec = self.pod.get("spec") or {}
        return [
            int(p["containerPort"])
            for c in spec.get("containers") or []
            for p in c.get("ports") or []
            if str(p.get("protocol") or "TCP") == "TCP"
        ]

    def field_value(self, path: str) -> str:
        meta = self.pod.get("metadata") or {}
        spec = self.pod.get("spec") or {}
        simple = {
            "metadata.name": meta.get("name"),
            "metadata.namespace": meta.get("namespace"),
            "metadata.uid": meta.get("uid"),
            "spec.nodeName": spec.get("nodeName") or self.kubelet.node_name,
            "spec.serviceAccountName": spec.get("serviceAccountName"),
            "status.podIP": self.ip,
            "status.hostIP": HOST_IP,
        }
        if path in simple:
            return str(simple[path] or "")
        match = FIELD_MAP.match(path)
        if match:
            return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
        raise ConfigError(f"fieldRef {path!r} is not supported")

    def mount_volumes(self) -> None:
        """Write each Secret volume of the pod into its folder, make each emptyDir a fresh one (see
        the module docstring)."""
        for volume in (self.pod.get("spec") or {}).get("volumes") or []:
            folder = self.kubelet.workdir / self.pod_name / "volumes" / str(volume["name"])
            if "emptyDir" in volume:
                if folder.exists():
                    shutil.rmtree(folder)  # a pod's emptyDir starts empty
                folder.mkdir(parents=True)
                self.volume_dirs[str(volume["name"])] = folder
                continue
            source = volume.get("secret")
            if source is None:
                continue  # other volume types are not mounted here
            data = self.kubelet.secret_data(str(source["secretName"]), optional=bool(source.get("optional")))
            default = int(source.get("defaultMode", DEFAULT_MODE))
            items = source.get("items") or [{"key": k, "path": k} for k in sorted(data)]
            folder.mkdir(parents=True, exist_ok=True)
            for item in items:
                if item["key"] not in data:
                    if source.get("optional"):
                        continue
                    raise ConfigError(
                        f"volume {volume['name']}: key {item['key']!r} not in Secret {source['secretName']!r}"
                    )
                target = folder / str(item["path"])
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    target.chmod(0o600)
                target.write_bytes(data[item["key"]])
                target.chmod(int(item.get("mode", default)))
            self.volume_dirs[str(volume["name"])] = folder

    def mounts_of(self, container: dict[str, Any]) -> dict[str, Path]:
        """``{mountPath: folder here}`` of the container's mounts of Secret and emptyDir volumes."""
        out: dict[str, Path] = {}
        for mount in container.get("volumeMounts") or []:
            folder = self.volume_dirs.get(str(mount["name"]))
            if folder is not None:
                out[str(mount["mountPath"])] = folder / str(mount.get("subPath") or "")
        return out

    def env_for(self, container: dict[str, Any]) -> dict[str, str]:
        assert self.ip is not None
        own: dict[str, str] = {"HOSTNAME": self.pod_name}
        mounts = self.mounts_of(container)
        for entry in container.get("env") or []:
            name = str(entry["name"])
            source = entry.get("valueFrom")
            if source is None:
                plain = map_loopback(expand(str(entry.get("value") or ""), own), self.ip)
                own[name] = map_mounts(plain, mounts)
            elif "fieldRef" in source:
                own[name] = self.field_value(str(source["fieldRef"]["fieldPath"]))
            elif "configMapKeyRef" in source or "secretKeyRef" in source:
                value = self.kubelet.key_ref(source)
                if value is not None:
                    own[name] = map_loopback(value, self.ip)
            else:
                raise ConfigError(f"env {name}: valueFrom {sorted(source)} is not supported here")
        token_env = self.service_account_env()
        return {**os.environ, "PYTHONUNBUFFERED": "1", **token_env, **own}

    def service_account_env(self) -> dict[str, str]:
        """The pod's ServiceAccount credentials, as a kubelet mounts them: a TokenRequest token bound
        to this Pod. Here they arrive as a kubeconfig (KUBECONFIG), since the in-cluster paths under
        /var/run/secrets are the host's; without automountServiceAccountToken, none."""
        spec = self.pod.get("spec") or {}
        if spec.get("automountServiceAccountToken") is False:
            return {}
        path = self.kubelet.workdir / self.pod_name / "kubeconfig"
        if not path.exists():
            account = str(spec.get("serviceAccountName") or "default")
            token = self.kubelet.pod_token(account, self.pod_name, self.uid)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.kubelet.write_kubeconfig(path, token)
        return {"KUBECONFIG": str(path)}

    def prepare(self) -> None:
        spec = self.pod.get("spec") or {}
        logdir = self.kubelet.workdir / self.pod_name
        self.ip = allocate_address(
            self.declared_ports(), preferred=(self.pod.get("status") or {}).get("podIP")
        )
        for spec_c in spec.get("containers") or []:
            self.containers.append(Container(spec=spec_c, ip=self.ip or "", logdir=logdir))
        if self.ip is None:
            self.pod_reason = (
                "PortsUnavailable",
                f"no loopback address has ports {self.declared_ports()} free",
            )
            for c in self.containers:
                c.waiting = ("CreateContainerError", "no address with the container ports free")
            return
        if spec.get("initContainers"):
            self.pod_reason = (
                "InitContainersNotSupported",
                "the stand-in kubelet does not run init containers",
            )
            for c in self.containers:
                c.waiting = ("PodInitializing", "")
            return
        try:
            self.mount_volumes()
        except (ConfigError, ApiException) as exc:
            for c in self.containers:
                c.waiting = ("CreateContainerConfigError", str(exc))
            self.log(f"volumes not mounted: {exc}")
            return
        for c in self.containers:
            args = entrypoint_args(c.spec)
            if args is None:
                c.waiting = ("ImageNotRunnableHere",
                             f"image {c.image!r} with command {c.spec.get('command')!r} cannot run on this machine")  # fmt: skip
                self.log(f"container {c.name}: image {c.image} cannot run here")
                continue
            try:
                c.env = self.env_for(c.spec)
            except (ConfigError, ApiException) as exc:
                c.waiting = ("CreateContainerConfigError", str(exc))
                continue
            mounts = self.mounts_of(c.spec)
            c.argv = [sys.executable, "-m", "modelmonitor.cli",
                      *(map_mounts(map_loopback(expand(a, c.env), self.ip), mounts) for a in args)]  # fmt: skip

    # ------------------------------------------------------------------ running

    def run(self) -> None:
        try:
            self.prepare()
            for c in self.containers:
                if c.argv is not None and not self.stopping.is_set():
                    with self.lock:
                        c.start()
                    self.log(f"container {c.name} started, pid {c.pid}: {' '.join(c.argv[3:])}")
            while not self.stopping.is_set():
                try:
                    self.tick()
                except Exception as exc:  # a kubelet keeps going: report and retry on the next tick
                    self.log(f"tick failed: {exc!r}")
                self.stopping.wait(self.kubelet.interval)
        finally:
            self.shutdown()

    def tick(self) -> None:
        now = time.monotonic()
        policy = str((self.pod.get("spec") or {}).get("restartPolicy") or "Always")
        for c in self.containers:
            if c.proc is None:
                continue
            code = c.proc.poll()
            if code is not None and c.terminated is None:
                with self.lock:
                    c.terminated = {
                        "exitCode": _exit_code(code), "reason": "Completed" if code == 0 else "Error",
                        "startedAt": c.started_at, "finishedAt": now_rfc3339(), "containerID": c.container_id,
                    }  # fmt: skip
                    c.ready = False
                    c.signal_group(signal.SIGKILL)  # what the process left behind goes with it
                restart = policy == "Always" or (policy == "OnFailure" and code != 0)
                if restart and c.restarts < self.kubelet.max_restarts:
                    c.next_restart = now + min(0.5 * 2**c.restarts, 4.0)
                again = (
                    f"restart in {c.next_restart - now:.1f} s" if c.next_restart is not None else "no restart"
                )
                self.log(f"container {c.name} exited with {code}; {again}")
            elif c.terminated is not None and c.next_restart is not None and now >= c.next_restart:
                with self.lock:
                    c.last_terminated, c.next_restart = c.terminated, None
                    c.restarts += 1
                    c.start()
                self.log(f"container {c.name} restarted ({c.restarts}), pid {c.pid}")
            elif c.terminated is None:
                self.probe(c, now)
        self.report()

    def probe(self, c: Container, now: float) -> None:
        probe = c.spec.get("readinessProbe")
        if not probe:
            c.ready = now - c.started_mono >= 0.5
            return
        if now - c.started_mono < float(probe.get("initialDelaySeconds") or 0):
            return
        ok = self.probe_once(c, probe)
        if ok:
            c.successes, c.failures = c.successes + 1, 0
            if c.successes >= int(probe.get("successThreshold") or 1):
                c.ready = True
        else:
            c.successes, c.failures = 0, c.failures + 1
            if c.failures >= int(probe.get("failureThreshold") or 3):
                c.ready = False

    def resolve_port(self, c: Container, port: Any) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in c.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise ConfigError(f"probe port {port!r} is not a port of container {c.name}")

    def probe_once(self, c: Container, probe: dict[str, Any]) -> bool:
        assert self.ip is not None
        timeout = min(float(probe.get("timeoutSeconds") or 1), 2.0)
        try:
            if "httpGet" in probe:
                get = probe["httpGet"]
                port = self.resolve_port(c, get.get("port"))
                host = map_loopback(str(get.get("host") or self.ip), self.ip)
                conn: http.client.HTTPConnection
                if str(get.get("scheme") or "HTTP").upper() == "HTTPS":
                    context = ssl.create_default_context()
                    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
                    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
                else:
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                try:
                    headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
                    conn.request("GET", str(get.get("path") or "/"), headers={"User-Agent": "kube-probe/1.36", **headers})  # fmt: skip
                    return 200 <= conn.getresponse().status < 400
                finally:
                    conn.close()
            if "tcpSocket" in probe:
                port = self.resolve_port(c, probe["tcpSocket"].get("port"))
                with socket.create_connection((self.ip, port), timeout=timeout):
                    return True
        except (OSError, http.client.HTTPException, ConfigError):
            return False
        return False  # exec and grpc probes cannot run here: never ready

    # ------------------------------------------------------------------ status

    def condition(self, kind: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
        status = "True" if ok else "False"
        previous = self.transitions.get(kind)
        if previous is None or previous[0] != status:
            self.transitions[kind] = (status, now_rfc3339())
        out: dict[str, Any] = {"type": kind, "status": status, "lastProbeTime": None,
                               "lastTransitionTime": self.transitions[kind][1]}  # fmt: skip
        if not ok and reason:
            out.update(reason=reason, message=message)
        return out

    def status(self) -> dict[str, Any]:
        with self.lock:
            statuses = [c.status() for c in self.containers]
        ready = bool(statuses) and all(s["ready"] for s in statuses)
        not_ready = [s["name"] for s in statuses if not s["ready"]]
        message = f"containers with unready status: [{' '.join(not_ready)}]"
        states = [next(iter(s["state"])) for s in statuses]
        restarting = any(c.next_restart is not None for c in self.containers)
        if states and all(s == "terminated" for s in states) and not restarting:
            failed = any(s["state"]["terminated"]["exitCode"] != 0 for s in statuses)
            phase = "Failed" if failed else "Succeeded"
        elif any(s in ("running", "terminated") for s in states):
            phase = "Running"
        else:
            phase = "Pending"
        initialized = self.pod_reason is None or self.pod_reason[0] != "InitContainersNotSupported"
        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": HOST_IP,
            "hostIPs": [{"ip": HOST_IP}],
            "startTime": self.start_time,
            "conditions": [
                self.condition("PodReadyToStartContainers", self.ip is not None),
                self.condition("Initialized", initialized, *(self.pod_reason or ("", ""))),
                self.condition("Ready", ready, "ContainersNotReady", message),
                self.condition("ContainersReady", ready, "ContainersNotReady", message),
                self.condition("PodScheduled", True),
            ],
            "containerStatuses": statuses,
        }
        if self.ip is not None:
            status.update(podIP=self.ip, podIPs=[{"ip": self.ip}])
        return status

    def report(self) -> None:
        status = self.status()
        if status == self.last_patch:
            return
        try:
            self.kubelet.patch_status(self.pod_name, self.uid, status)
        except ApiException as exc:
            if exc.status in (404, 409):  # gone, or another pod under the same name: ours is over
                self.log(f"status patch refused ({exc.status}): stopping")
                self.stopping.set()
                return
            raise
        if (self.last_patch or {}).get("conditions") != status["conditions"]:
            ready = next(c["status"] for c in status["conditions"] if c["type"] == "Ready")
            self.log(f"status: phase {status['phase']}, ip {self.ip}, Ready {ready}")
        self.last_patch = status

    # ------------------------------------------------------------------ stop

    def shutdown(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after the grace period, free the address."""
        spec = self.pod.get("spec") or {}
        meta = self.pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds", 30))
        grace = min(float(grace if grace is not None else 30), self.kubelet.max_grace)
        with self.lock:
            for c in self.containers:
                c.next_restart = None
                if c.pid is not None:
                    c.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for c in self.containers:
            if c.proc is None:
                continue
            try:
                c.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"container {c.name} ignored SIGTERM for {grace:g}s: SIGKILL")
            c.signal_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.proc.wait(5)
        if self.ip is not None:
            release_address(self.ip)
        for volume in spec.get("volumes") or []:
            folder = self.volume_dirs.get(str(volume["name"]))
            if "emptyDir" in volume and folder is not None:  # deleted with the pod, as a kubelet does
                shutil.rmtree(folder, ignore_errors=True)
        self.log("processes stopped")
        self.kubelet.finish_deletion(self.pod_name, self.uid)

    def snapshot(self) -> tuple[str, dict[str, int | None]]:
        with self.lock:
            return self.ip or "", {c.name: c.pid for c in self.containers}


class Kubelet:
    """Runs the Pods of ``namespace`` as local processes (see the module docstring)."""

    def __init__(
        self,
        kubeconfig: str | os.PathLike[str],
        namespace: str,
        workdir: str | os.PathLike[str],
        *,
        node_name: str = NODE_NAME,
        interval: float = 0.2,
        max_restarts: int = 3,
        max_grace: float = 5.0,
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.namespace = namespace
        self.workdir = Path(workdir)
        self.node_name = node_name
        self.interval = interval
        self.max_restarts = max_restarts
        self.max_grace = max_grace
        self.workers: dict[str, PodWorker] = {}  # by uid
        self.done: set[str] = set()  # uids run and stopped: never run again
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._api = kubernetes.client.CoreV1Api(
            kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig), persist_config=False)  # type: ignore[no-untyped-call]
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Kubelet:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name=f"kubelet-{self.namespace}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching, then stop every process started (SIGTERM, SIGKILL after the grace period)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.stopping.set()
        for worker in workers:
            worker.join(self.max_grace + 10)
        with self._lock:
            self.workers.clear()

    def __enter__(self) -> Kubelet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ for tests

    def pods(self) -> dict[str, tuple[str, dict[str, int | None]]]:
        """``{pod name: (ip, {container: pid or None})}`` for the pods this kubelet runs now."""
        with self._lock:
            workers = [w for w in self.workers.values() if w.is_alive()]
        return {w.pod_name: w.snapshot() for w in workers}

    def emptydir(self, pod: str, volume: str) -> Path:
        """The folder that stands in for the pod's emptyDir ``volume`` (gone with the pod)."""
        return self.workdir / pod / "volumes" / volume

    def logs(self, pod: str, container: str) -> str:
        """What the container's processes wrote (stdout, then stderr), over all its restarts."""
        folder = self.workdir / pod
        parts = [folder / f"{container}.{stream}" for stream in ("stdout", "stderr")]
        return "".join(p.read_text(errors="replace") for p in parts if p.exists())

    def log(self, text: str) -> None:
        with self._log_lock, (self.workdir / "kubelet.log").open("a") as out:
            out.write(f"{now_rfc3339()} {text}\n")

    def journal(self) -> str:
        path = self.workdir / "kubelet.log"
        return path.read_text() if path.exists() else ""

    # ------------------------------------------------------------------ API

    def _list(self) -> list[dict[str, Any]]:
        resp = self._api.list_namespaced_pod(self.namespace, _preload_content=False, _request_timeout=10)
        return list(raw(resp)["items"])

    def patch_status(self, name: str, uid: str, status: dict[str, Any]) -> None:
        # The uid in the patch is a precondition: a new pod under the same name is not ours (409).
        body = {"metadata": {"uid": uid}, "status": status}
        self._api.patch_namespaced_pod_status(
            name, self.namespace, body, _content_type="application/merge-patch+json",
            _preload_content=False, _request_timeout=10,
        )  # fmt: skip

    def secret_data(self, name: str, *, optional: bool = False) -> dict[str, bytes]:
        """A Secret's data, decoded; ``{}`` when it is missing and ``optional``."""
        try:
            obj = raw(
                self._api.read_namespaced_secret(
                    name, self.namespace, _preload_content=False, _request_timeout=10
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                if optional:
                    return {}
                raise ConfigError(f"secret {name!r} not found") from exc
            raise
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}

    def key_ref(self, source: dict[str, Any]) -> str | None:
        """The value of a ``configMapKeyRef``/``secretKeyRef``; None when optional and missing."""
        ref = source.get("configMapKeyRef") or source.get("secretKeyRef") or {}
        secret = "secretKeyRef" in source
        try:
            read: Callable[..., Any] = (
                self._api.read_namespaced_secret if secret else self._api.read_namespaced_config_map
            )
            obj = raw(read(ref["name"], self.namespace, _preload_content=False, _request_timeout=10))
        except ApiException as exc:
            if exc.status == 404 and ref.get("optional"):
                return None
            raise ConfigError(f"{'secret' if secret else 'configmap'} {ref.get('name')!r} not found") from exc
        data = obj.get("data") or {}
        if ref["key"] not in data:
            if ref.get("optional"):
                return None
            raise ConfigError(f"key {ref['key']!r} not in {ref['name']!r}")
        value = str(data[ref["key"]])
        if secret:
            value = base64.b64decode(value).decode()
        return value

    def pod_token(self, account: str, pod: str, uid: str) -> str:
        """A token of ``account`` bound to the Pod (the TokenRequest API, as the kubelet asks for it)."""
        request = kubernetes.client.AuthenticationV1TokenRequest(
            spec=kubernetes.client.V1TokenRequestSpec(
                audiences=[], expiration_seconds=3600,
                bound_object_ref=kubernetes.client.V1BoundObjectReference(kind="Pod", api_version="v1", name=pod, uid=uid),
            )
        )  # fmt: skip
        created = self._api.create_namespaced_service_account_token(account, self.namespace, request)
        return str(created.status.token)

    def write_kubeconfig(self, path: Path, token: str) -> None:
        """This cluster's kubeconfig with ``token`` as the only credential."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        for user in config.get("users") or []:
            user["user"] = {"token": token}
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)

    def finish_deletion(self, name: str, uid: str) -> None:
        """A pod bound to a node stays, with a deletionTimestamp, until its kubelet deletes it at once."""
        try:
            resp = self._api.read_namespaced_pod(
                name, self.namespace, _preload_content=False, _request_timeout=10
            )
            pod = raw(resp)
            if pod["metadata"]["uid"] == uid and pod["metadata"].get("deletionTimestamp"):
                self._api.delete_namespaced_pod(
                    name, self.namespace, grace_period_seconds=0,
                    body=kubernetes.client.V1DeleteOptions(grace_period_seconds=0, preconditions=kubernetes.client.V1Preconditions(uid=uid)),
                    _preload_content=False, _request_timeout=10,
                )  # fmt: skip
                self.log(f"{name}: deleted with gracePeriodSeconds=0")
        except ApiException as exc:
            if exc.status not in (404, 409):
                self.log(f"{name}: final delete failed: {exc.status} {exc.reason}")
        except Exception as exc:  # the API server may be gone at session end
            self.log(f"{name}: final delete failed: {exc!r}")

    # ------------------------------------------------------------------ loop

    def _mine(self, pod: dict[str, Any]) -> bool:
        node = (pod.get("spec") or {}).get("nodeName")
        return not node or node == self.node_name

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync(self._list())
            except Exception as exc:  # API hiccups: try again on the next round
                self.errors.append(repr(exc))
                self.log(f"list failed: {exc!r}")
            self._stop.wait(self.interval)

    def _sync(self, pods: list[dict[str, Any]]) -> None:
        seen: set[str] = set()
        with self._lock:
            for pod in pods:
                meta = pod["metadata"]
                uid = str(meta["uid"])
                if not self._mine(pod):
                    continue
                seen.add(uid)
                worker = self.workers.get(uid)
                if meta.get("deletionTimestamp"):
                    if worker is not None:
                        worker.pod = pod  # the grace period the deletion asked for
                        worker.stopping.set()
                    elif uid not in self.done:
                        self.done.add(uid)
                        threading.Thread(
                            target=self.finish_deletion, args=(meta["name"], uid), daemon=True
                        ).start()
                    continue
                if worker is None and uid not in self.done and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):  # fmt: skip
                    worker = self.workers[uid] = PodWorker(self, pod)
                    self.done.add(uid)
                    self.log(f"{meta['name']}: new pod {uid}")
                    worker.start()
            for uid, worker in list(self.workers.items()):
                if uid not in seen and not worker.stopping.is_set():
                    self.log(f"{worker.pod_name}: pod deleted")
                    worker.stopping.set()
                if not worker.is_alive() and worker.stopping.is_set():
                    del self.workers[uid]


def pod_scrape_config(
    k8s_server: str, ca_file: str, token: str, namespace: str, *, job_name: str = "modelmonitor-sidecars"
) -> dict[str, Any]:
    """The Prometheus job the chart's PodMonitor generates: pods found through the API server, port
    ``mm-admin`` (the sidecar's admin server, which serves /metrics), labelled ``namespace`` and ``pod``."""
    return {
        "job_name": job_name,
        "metrics_path": "/metrics",
        "kubernetes_sd_configs": [
            {
                "role": "pod",
                "api_server": k8s_server,
                "tls_config": {"ca_file": ca_file},
                "authorization": {"type": "Bearer", "credentials": token},
                "namespaces": {"names": [namespace]},
            }
        ],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "mm-admin", "action": "keep"},
            {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)", "action": "drop"},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {"target_label": "endpoint", "replacement": "mm-admin"},
        ],
    }  # fmt: skip


# ---------------------------------------------------------------------------------------- discovery

LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def kubernetes_sd_supported(prometheus: str) -> bool:
    """Whether this Prometheus build knows ``kubernetes_sd_configs`` (Debian's does not), asked of the
    ``promtool`` beside it."""
    promtool = Path(prometheus).with_name("promtool")
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as config:
        config.write(
            json.dumps({"scrape_configs": [{"job_name": "k", "kubernetes_sd_configs": [{"role": "pod"}]}]})
        )
        config.flush()
        done = subprocess.run(
            [str(promtool), "check", "config", config.name], capture_output=True, text=True, timeout=30
        )
    return done.returncode == 0


def pod_target_groups(pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prometheus's Kubernetes discovery, role pod (one target per container port, a port-less target
    per container without ports; pods without an IP are skipped), as HTTP SD target groups."""
    groups: list[dict[str, Any]] = []
    for pod in pods:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        ip = status.get("podIP")
        if not ip:
            continue
        ready = next(
            (c["status"].lower() for c in status.get("conditions") or [] if c["type"] == "Ready"), "unknown"
        )
        controller: dict[str, Any] = next(
            (o for o in meta.get("ownerReferences") or [] if o.get("controller")), {}
        )
        common = {
            "__meta_kubernetes_namespace": meta["namespace"],
            "__meta_kubernetes_pod_name": meta["name"],
            "__meta_kubernetes_pod_ip": ip,
            "__meta_kubernetes_pod_ready": ready,
            "__meta_kubernetes_pod_phase": status.get("phase", ""),
            "__meta_kubernetes_pod_node_name": spec.get("nodeName", ""),
            "__meta_kubernetes_pod_host_ip": status.get("hostIP", ""),
            "__meta_kubernetes_pod_uid": meta.get("uid", ""),
            **({"__meta_kubernetes_pod_controller_kind": controller["kind"],
                "__meta_kubernetes_pod_controller_name": controller["name"]} if controller else {}),
        }  # fmt: skip
        for kind, key in (("label", "labels"), ("annotation", "annotations")):
            for k, v in (meta.get(key) or {}).items():
                name = LABEL_CHARS.sub("_", k)
                common[f"__meta_kubernetes_pod_{kind}_{name}"] = str(v)
                common[f"__meta_kubernetes_pod_{kind}present_{name}"] = "true"
        ids = {c["name"]: c.get("containerID", "") for c in status.get("containerStatuses") or []}
        for init, containers in (
            (False, spec.get("containers") or []),
            (True, spec.get("initContainers") or []),
        ):
            for c in containers:
                labels = {
                    **common,
                    "__meta_kubernetes_pod_container_name": c["name"],
                    "__meta_kubernetes_pod_container_image": c.get("image", ""),
                    "__meta_kubernetes_pod_container_init": str(init).lower(),
                    "__meta_kubernetes_pod_container_id": ids.get(c["name"], ""),
                }
                if not c.get("ports"):
                    groups.append({"targets": [ip], "labels": labels})
                for p in c.get("ports") or []:
                    groups.append({
                        "targets": [f"{ip}:{p['containerPort']}"],
                        "labels": {
                            **labels,
                            "__meta_kubernetes_pod_container_port_name": p.get("name", ""),
                            "__meta_kubernetes_pod_container_port_number": str(p["containerPort"]),
                            "__meta_kubernetes_pod_container_port_protocol": p.get("protocol", "TCP"),
                        },
                    })  # fmt: skip
    return groups


class PodDiscovery:
    """Kubernetes pod discovery for a Prometheus built without it, served as HTTP SD on 127.0.0.1.

    Built from a scrape config holding one ``kubernetes_sd_configs`` entry of role pod: each HTTP SD
    request lists the pods of its namespaces from its ``api_server`` with its CA file and bearer token,
    as Prometheus would. ``scrape_config()`` is the same job with ``http_sd_configs`` in its place.
    """

    def __init__(self, scrape_config: dict[str, Any], refresh_interval: str = "1s") -> None:
        (sd,) = scrape_config["kubernetes_sd_configs"]
        if sd.get("role") != "pod":
            raise ValueError(f"only role pod is served, not {sd.get('role')!r}")
        self.job = scrape_config
        self.api_server = str(sd["api_server"]).rstrip("/")
        self.namespaces = list((sd.get("namespaces") or {}).get("names") or [])
        auth = sd.get("authorization") or {}
        self.token = str(auth.get("credentials") or sd.get("bearer_token") or "")
        self.context = ssl.create_default_context(cafile=(sd.get("tls_config") or {}).get("ca_file"))
        self.refresh_interval = refresh_interval
        self.requests = 0
        self.errors: list[str] = []
        self.hangups = 0
        self._server: ThreadingHTTPServer | None = None

    def pods(self) -> list[dict[str, Any]]:
        paths = [f"/api/v1/namespaces/{ns}/pods" for ns in self.namespaces] or ["/api/v1/pods"]
        found: list[dict[str, Any]] = []
        for path in paths:
            request = urllib.request.Request(
                self.api_server + path, headers={"Authorization": f"Bearer {self.token}"}
            )
            with urllib.request.urlopen(request, context=self.context, timeout=10) as resp:
                found.extend(json.loads(resp.read())["items"])
        return found

    def start(self) -> PodDiscovery:
        discovery = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                discovery.requests += 1
                try:
                    body, code = json.dumps(pod_target_groups(discovery.pods())).encode(), 200
                except Exception as exc:  # Prometheus keeps the last targets and logs the failure
                    discovery.errors.append(repr(exc))
                    body, code = str(exc).encode(), 500
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    # Prometheus gave up on this refresh (its timeout, or it is stopping): it asks
                    # again at the next one, as it would of an API server that went quiet.
                    discovery.hangups += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="pod-discovery", daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/targets"

    def scrape_config(self) -> dict[str, Any]:
        job = {k: v for k, v in self.job.items() if k != "kubernetes_sd_configs"}
        return {**job, "http_sd_configs": [{"url": self.url, "refresh_interval": self.refresh_interval}]}

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> PodDiscovery:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
