"""The manifests of the demo's story: the model, its Service, its reference profile, its monitor, and
the challenger of the A/B test. Plain dicts, written to files the story applies with ``kubectl``.

The model is the demo credit-scoring model of ``examples/demo-model.yaml``, with ``--flip-rate 0.2``:
it decides the opposite of its own score for one applicant in five (the ground truth is its unflipped
decision, so its accuracy is about 0.8); the challenger is the same model without flips (about 1.0).
Every bound of the monitor is set well clear of what the seeded traffic produces (docs/demo.md
gives the figures), so the verdicts are the same at every run.
"""

from __future__ import annotations

from typing import Any

NAME = "credit-scoring"
CHALLENGER = f"{NAME}-v2"
IMAGE = "ghcr.io/modelmonitor/modelmonitor:0.1.0"
FLIP_RATE = "0.2"
SLOW_MS = "200"  # the slow revision's --delay-ms: twice spec.slos.latencyP95Ms
LATENCY_P95_MS = 100
ACCURACY_MIN = 0.7
FAIRNESS_MIN_RATIO = 0.5
MIN_EFFECT = 0.2


def model(name: str = NAME, *, version: str = "1.0.0", track: str = "stable", replicas: int = 1,
          extra: tuple[str, ...] = ("--flip-rate", FLIP_RATE, "--seed", "5")) -> dict[str, Any]:  # fmt: skip
    labels = {"app": NAME, "track": track}
    args = ["demo-model", "--host", "0.0.0.0", "--port", "8080", "--name", NAME, "--version", version, *extra]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": NAME}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, "app.kubernetes.io/version": version}},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [{
                        "name": "model", "image": IMAGE, "args": args,
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    }],
                },
            },
        },
    }  # fmt: skip


def challenger() -> dict[str, Any]:
    """Version 2.0.0, without flips; 0 replicas: the operator gives it its share of the pods."""
    return model(CHALLENGER, version="2.0.0", track="canary", replicas=0, extra=())


def service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME},
        "spec": {"selector": {"app": NAME}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }


def reference(profile_json: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "credit-reference"},
        "data": {"profile.json": profile_json},
    }


def monitor(prometheus_url: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "target": {"deployment": NAME, "port": 8080, "protocol": "kserve-v1"},
        "interval": "5s",
        "window": {"maxRows": 1000, "maxAge": "15s"},
        "slos": {"latencyP95Ms": LATENCY_P95_MS, "errorRate": 0.05, "minRequests": 10},
        "drift": {
            "reference": {"configMapRef": {"name": "credit-reference"}},
            "correction": "bh",  # the default from this release on; said here anyway
            "minEffect": MIN_EFFECT,
            "driftShare": 0.2,
            "minRows": 200,
        },
        "performance": {
            "task": "binary-classification",
            "metrics": [{"name": "accuracy", "min": ACCURACY_MIN}],
            "minLabels": 200,
            "segments": [{"feature": "applicant_group", "metric": "approval_rate",
                          "minRatio": FAIRNESS_MIN_RATIO, "minRows": 100}],
        },
        "actions": {"rollback": {"when": ["SLOBreached"], "consecutive": 2, "cooldown": "10m"}},
    }  # fmt: skip
    if prometheus_url:
        spec["prometheus"] = {"url": prometheus_url, "timeout": "2s"}
    return {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": NAME},
        "spec": spec,
    }


def experiment() -> dict[str, Any]:
    """The merge patch that starts the A/B test."""
    return {
        "spec": {
            "experiment": {
                "challenger": {"deployment": CHALLENGER},
                "metric": "accuracy",
                "minRows": 100,
                "confidence": 0.95,
                "promote": "manual",
            }
        }
    }


def slow_revision() -> list[dict[str, Any]]:
    """The JSON patch that ships revision 1.1.0: the same model, ``SLOW_MS`` ms slower per request."""
    return [
        {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--delay-ms"},
        {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": SLOW_MS},
        {
            "op": "replace",
            "path": "/spec/template/metadata/labels/app.kubernetes.io~1version",
            "value": "1.1.0",
        },
    ]
