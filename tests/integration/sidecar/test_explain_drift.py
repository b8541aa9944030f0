"""The drift attribution from real sidecars: the operator's reader merges the pods' mean attributions
weighted by their counts (a pod with explanations off, or unreachable, adds nothing), the gatherer
shapes it as status.drift.attribution (valid against the status model), and the HTML report shows it.
The reference is the demo's usual applicants; the explained ones earn less and owe more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelmonitor.adapters.sidecars import HTTPSidecars, read_explanations
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import DriftStatus
from modelmonitor.demo.data import make_payload, make_rows, path_for
from modelmonitor.gather.sidecars import drift_attribution
from modelmonitor.report import Bundle, render
from tests.helpers.processes import free_port, wait_until
from tests.helpers.sidecar import Sidecar, request

pytestmark = pytest.mark.integration


def send(side: Sidecar, rows: list[dict[str, Any]], prefix: str) -> None:
    for i, row in enumerate(rows):
        body = json.dumps(make_payload("kserve-v1", [row])).encode()
        headers = {"Content-Type": "application/json", "X-Request-ID": f"{prefix}-{i}"}
        assert request(side.port, "POST", path_for("kserve-v1"), body, headers)[0] == 200


def test_the_pods_attributions_are_merged_into_status_and_the_report(
    make_model: Any, make_sidecar: Any
) -> None:
    model = make_model("--name", "credit")
    on = ("--explain-sample-rate", "1", "--explain-background", "5", "--explain-calls-per-minute", "600")
    pods = {
        "a": make_sidecar(model.url, *on),
        "b": make_sidecar(model.url, *on),
        "off": make_sidecar(model.url),
    }
    for name, n in (("a", 2), ("b", 4)):
        send(pods[name], make_rows(5, seed=1), f"{name}-bg")
        send(pods[name], make_rows(n, seed=2, shift=2.0), name)
    send(pods["off"], make_rows(3, seed=1), "off")
    urls = {name: f"http://127.0.0.1:{side.admin}" for name, side in pods.items()}
    urls["gone"] = f"http://127.0.0.1:{free_port()}"

    def explained(side: Sidecar, n: int) -> bool:
        return bool(side.admin_get("/v1/explanations?since=0")["drift"]["explanations"] == n)

    wait_until(lambda: explained(pods["a"], 2) and explained(pods["b"], 4), timeout=15)
    per_pod = {k: pods[k].admin_get("/v1/explanations?since=0")["drift"] for k in ("a", "b")}
    merged = read_explanations(urls, timeout=5)
    assert merged is not None and merged["explanations"] == 6
    for key in ("reference", "recent", "shift"):
        assert merged[key] == pytest.approx((2 * per_pod["a"][key] + 4 * per_pod["b"][key]) / 6)
    assert sum(merged["attribution"].values()) == pytest.approx(merged["shift"], abs=1e-9)
    # the explained applicants earn less: income takes the largest part of the fall in approvals
    assert merged["shift"] < 0 and next(iter(merged["attribution"].items()))[0] == "income"
    assert merged["attribution"]["income"] < 0

    spec = ModelMonitorSpec.model_validate({"target": {"deployment": "credit"}, "explain": {"sampleRate": 1}})
    status = drift_attribution(HTTPSidecars(), spec, urls, timeout=5, token=None)
    assert status is not None and status["explanations"] == 6 and len(status["features"]) == 10
    assert status["features"][0]["name"] == next(iter(merged["attribution"]))
    DriftStatus.model_validate({"attribution": status})  # the shape the CRD's status schema holds
    off = ModelMonitorSpec.model_validate({"target": {"deployment": "credit"}})
    assert drift_attribution(HTTPSidecars(), off, urls, timeout=5, token=None) is None

    html = render(Bundle({"metadata": {"name": "credit"}, "spec": {"target": {"deployment": "credit"}},
                          "status": {"drift": {"attribution": status}}}))  # fmt: skip
    assert "Drift attribution" in html and "from 6 explanations" in html
    assert html.index(status["features"][0]["name"]) < html.index(status["features"][-1]["name"])
