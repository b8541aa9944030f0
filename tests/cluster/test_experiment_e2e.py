"""An A/B test end to end on the real API server: the champion (the demo model answering 30 % of
applicants wrongly) and a challenger Deployment (the demo model as it should be) behind one Service,
both run by the stand-in kubelet with the real sidecar; ground truth arrives a second later at a pod
of either variant; the operator, holding only the chart's RBAC, injects the challenger, scales it to
its share, judges the variants with the always-valid test, waits for the approval annotation, and
promotes: the champion's pod template gets the challenger's model, and the real Deployment
controller rolls it out in a new ReplicaSet while the challenger goes to zero.

Nothing in status is written by the test; the variants' accuracies come from the models' own answers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pandas as pd
import pytest

from modelmonitor.demo.data import make_rows
from modelmonitor.drift import build_profile
from modelmonitor.workload.injection import SIDECAR_NAME, template_hash
from tests.cluster.conftest import K8s
from tests.cluster.test_e2e import NAME, available_replicasets, condition, demo, monitor, watch
from tests.cluster.test_quality_e2e import LabelledTraffic, admin_token, labelled_traffic  # noqa: F401
from tests.conftest import PrometheusProcess
from tests.helpers.kubelet import Kubelet

pytestmark = pytest.mark.cluster

CHALLENGER = f"{NAME}-v2"


def variants() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The champion (1 replica, wrong on 30 % of applicants), the challenger (0 replicas: the
    operator gives it its share) and the Service that selects both by ``app``."""
    champion, service = demo()
    champion["spec"]["replicas"] = 1
    champion["spec"]["selector"]["matchLabels"]["track"] = "stable"
    champion["spec"]["template"]["metadata"]["labels"]["track"] = "stable"
    champion["spec"]["template"]["spec"]["containers"][0]["args"] += ["--flip-rate", "0.3", "--seed", "5"]
    challenger = copy.deepcopy(demo()[0])
    challenger["metadata"]["name"] = CHALLENGER
    challenger["spec"]["replicas"] = 0
    challenger["spec"]["selector"]["matchLabels"]["track"] = "canary"
    labels = challenger["spec"]["template"]["metadata"]["labels"]
    labels.update({"track": "canary", "app.kubernetes.io/version": "2.0.0"})
    args = challenger["spec"]["template"]["spec"]["containers"][0]["args"]
    args[args.index("--version") + 1] = "2.0.0"
    return champion, challenger, service


async def test_a_better_challenger_is_promoted_once_approved_and_the_replicasets_follow(
    k8s: K8s, namespace: str, kubelet: Kubelet, start_operator: Any,
    pod_prometheus: Callable[[str], Awaitable[PrometheusProcess]],
    labelled_traffic: Callable[..., LabelledTraffic],  # noqa: F811
) -> None:  # fmt: skip
    champion, challenger, service = variants()
    profile = build_profile(pd.DataFrame(make_rows(3000, seed=1)))
    k8s.apply([champion, challenger, service], namespace)
    k8s.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "credit-reference"},
               "data": {"profile.json": profile.to_json()}}, namespace)  # fmt: skip
    k8s.kubectl("-n", namespace, "rollout", "status", f"deployment/{NAME}", "--timeout=90s", timeout=120)
    prom = await pod_prometheus(namespace)
    start_operator(prometheus_url=prom.url)
    experiment = {"challenger": {"deployment": CHALLENGER}, "metric": "accuracy", "minRows": 100,
                  "confidence": 0.95, "promote": "manual"}  # fmt: skip
    k8s.apply(monitor(prom.url, performance={"task": "binary-classification", "minLabels": 50},
                      experiment=experiment), namespace)  # fmt: skip

    # The operator injects the challenger too and scales it to half of the pods (1 of 2).
    obj = watch(
        k8s, namespace, "the experiment running on two ready pods",
        lambda o: (o["status"].get("experiment") or {}).get("state") == "Running"
        and ((o["status"]["experiment"].get("traffic") or {}).get("actual") == 0.5),
    )  # fmt: skip
    assert obj["status"]["experiment"]["traffic"]["mode"] == "replicas"
    deployed = k8s.get("-n", namespace, "deployment", CHALLENGER)
    assert deployed["spec"]["replicas"] == 1
    assert [c["name"] for c in deployed["spec"]["template"]["spec"]["containers"]] == ["model", SIDECAR_NAME]
    before = k8s.get("-n", namespace, "deployment", NAME)
    old_hash, old_rs = template_hash(before), available_replicasets(k8s, namespace)

    # Requests go to both variants' pods in turn; labels, a second later, to another pod.
    load = labelled_traffic(kubelet, admin_token(k8s, namespace))
    obj = watch(
        k8s, namespace, "the challenger winning",
        lambda o: (o["status"].get("experiment") or {}).get("state") == "AwaitingApproval", timeout=180,
    )  # fmt: skip
    exp = obj["status"]["experiment"]
    print(
        "decided:",
        json.dumps(
            {k: exp.get(k) for k in ("effect", "interval", "pValue", "looks", "champion", "challenger")}
        ),
    )
    won = condition(obj, "Experiment")
    assert (won["status"], won["reason"]) == ("True", "AwaitingApproval"), won
    assert f"kubectl annotate mm {NAME} modelmonitor.io/promote=approved" in won["message"]
    assert exp["winner"] == "challenger" and exp["decision"] == "promote"
    assert exp["challenger"]["value"] > 0.95 and 0.55 < exp["champion"]["value"] < 0.85, exp
    assert exp["interval"][0] > 0 and exp["pValue"] < 0.05, exp
    assert min(exp["champion"]["rows"], exp["challenger"]["rows"]) >= 100, exp
    assert exp["challenger"]["requests"] and exp["champion"]["requests"], exp
    # Nothing is promoted before the approval.
    assert template_hash(k8s.get("-n", namespace, "deployment", NAME)) == old_hash

    k8s.kubectl("-n", namespace, "annotate", "mm", NAME, "modelmonitor.io/promote=approved")
    obj = watch(
        k8s, namespace, "the challenger promoted",
        lambda o: (o["status"].get("experiment") or {}).get("state") == "Promoted", timeout=60,
    )  # fmt: skip
    load.stop()
    assert condition(obj, "Experiment")["reason"] == "ChallengerPromoted"
    (done,) = [a for a in obj["status"]["actions"] if a["action"] == "promote"]
    assert (done["result"], done["reason"]) == ("Done", "Experiment"), done
    assert "modelmonitor.io/promote" not in (obj["metadata"].get("annotations") or {})  # used once

    # The real Deployment controller rolls the champion out with the challenger's model.
    k8s.kubectl("-n", namespace, "rollout", "status", f"deployment/{NAME}", "--timeout=90s", timeout=120)
    after = k8s.get("-n", namespace, "deployment", NAME)
    model = after["spec"]["template"]["spec"]["containers"][0]
    assert model["args"] == challenger["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--flip-rate" not in model["args"]
    assert [c["name"] for c in after["spec"]["template"]["spec"]["containers"]] == ["model", SIDECAR_NAME]
    assert after["spec"]["selector"] == champion["spec"]["selector"]  # the champion's own pods still
    assert after["metadata"]["annotations"]["modelmonitor.io/promoted-from"].startswith(f"{CHALLENGER}@")
    assert template_hash(after) != old_hash
    k8s.wait_for(
        lambda: (lambda rs: rs if rs and not rs & old_rs else None)(available_replicasets(k8s, namespace)),
        timeout=60, what="a new ReplicaSet of the champion serving, the old one scaled down",
    )  # fmt: skip
    assert k8s.get("-n", namespace, "deployment", CHALLENGER)["spec"]["replicas"] == 0
    events = k8s.get("events", "-n", namespace, "--field-selector", f"involvedObject.name={NAME}")["items"]
    assert any(e["reason"] == "PromoteDone" for e in events), json.dumps([e["reason"] for e in events])
