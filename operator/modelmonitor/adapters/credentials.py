"""Kubernetes credentials, found as kubectl finds them: for the operator (in a pod, or a kubeconfig) and
for a user's commands (``--kubeconfig``), and the namespace a command reads when none is named."""

from __future__ import annotations

import os

import kubernetes


class CredentialsError(Exception):
    """No usable Kubernetes credentials: the message says where they were looked for."""


def load_credentials(kubeconfig: str | None = None) -> None:
    """``kubeconfig`` when given (a user's command); else the in-cluster service account when inside a
    pod, else KUBECONFIG / ~/.kube/config like kubectl. CredentialsError says where it looked."""
    if kubeconfig:
        try:
            kubernetes.config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        except (kubernetes.config.ConfigException, OSError, ValueError) as exc:
            raise CredentialsError(
                f"--kubeconfig {kubeconfig}: not a usable kubeconfig ({str(exc)[:200]})"
            ) from exc
        return
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
        return
    except kubernetes.config.ConfigException:
        pass
    try:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
    except (kubernetes.config.ConfigException, OSError, ValueError) as exc:
        where = os.environ.get("KUBECONFIG") or "~/.kube/config"
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise CredentialsError(
            f"no Kubernetes credentials: not running in a pod, and no usable kubeconfig at {where} ({detail})"
        ) from exc


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def default_namespace(kubeconfig: str | None = None) -> str:
    """The kubeconfig context's namespace, the pod's own in a cluster, else ``default``, as kubectl."""
    try:
        _, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        found = (active or {}).get("context", {}).get("namespace")
        if found:
            return str(found)
    except (kubernetes.config.ConfigException, OSError, ValueError, TypeError):
        pass
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"
