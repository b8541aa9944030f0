"""Explanations through a real sidecar and real model processes on 127.0.0.1.

A linear model f = b + sum w_j x_j (a small server in this file, counting its calls) answers KServe
v1, KServe v2 and MLflow: a sampled request of each protocol is explained in one batch call of its
own protocol, with attributions w_j (x_j - mean_bg_j) summing to prediction - baseline; the calls
appear in no window, request counter or audit request line, and traffic is answered byte for byte.
With the demo model: the per-minute budget holds, a single JSON record (no batch form) is counted,
and the background survives a restart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import free_port, start_process, wait_until
from tests.helpers.sidecar import Model, Sidecar, request

pytestmark = pytest.mark.integration

WEIGHTS = {"a": 2.0, "b": -0.5, "c": 0.25}
BIAS = 1.5

LINEAR_MODEL = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from modelmonitor.sidecar import codecs
W, B = json.loads(sys.argv[2]), float(sys.argv[3])
calls = {"n": 0}

def f(rows):
    return [B + sum(w * r[k] for k, w in W.items()) for r in rows]

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.reply(calls)
    def do_POST(self):
        calls["n"] += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        proto = codecs.sniff(self.path, body)
        preds = f(codecs._DECODERS[proto](body))
        if proto == "kserve-v2":
            self.reply({"outputs": [{"name": "score", "shape": [len(preds)], "datatype": "FP64", "data": preds}]})
        else:
            self.reply({"predictions": preds})

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

BACKGROUND = [{"a": float(i), "b": 10.0 - 3 * i, "c": i * i / 2} for i in range(5)]
X = {"a": 7.5, "b": -4.0, "c": 3.0}


def bodies(x: dict[str, float]) -> dict[str, tuple[str, dict[str, Any]]]:
    names = list(x)
    return {
        "kserve-v1": ("/v1/models/lin:predict", {"instances": [x]}),
        "kserve-v2": ("/v2/models/lin/infer", {"inputs": [
            {"name": k, "shape": [1], "datatype": "FP64", "data": [x[k]]} for k in names]}),
        "mlflow": ("/invocations", {"dataframe_split": {"columns": names, "data": [[x[k] for k in names]]}}),
    }  # fmt: skip


def post(port: int, path: str, body: Any, rid: str) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json", "X-Request-ID": rid}
    status, _, data = request(port, "POST", path, json.dumps(body).encode(), headers)
    return status, data


def explanation(side: Sidecar, rid: str) -> dict[str, Any]:
    def found() -> Any:
        status, _, body = request(side.admin, "GET", f"/v1/explanations?id={rid}")
        return json.loads(body) if status == 200 else None

    return wait_until(found, timeout=15)  # type: ignore[no-any-return]


def test_a_linear_model_is_explained_in_each_protocol_off_the_traffic(
    tmp_path: Path, make_sidecar: Any
) -> None:
    port = free_port()
    code = [sys.executable, "-c", LINEAR_MODEL, str(port), json.dumps(WEIGHTS), str(BIAS)]
    model = Model(start_process(code, ready_url=f"http://127.0.0.1:{port}/calls"), port)
    try:
        audit = tmp_path / "audit"
        side = make_sidecar(model.url, "--audit-dir", str(audit), "--explain-sample-rate", "1",
                            "--explain-background", "5", "--explain-calls-per-minute", "600")  # fmt: skip
        for i, row in enumerate(BACKGROUND):  # the reference: the first 5 rows captured
            assert post(side.port, "/v1/models/lin:predict", {"instances": [row]}, f"bg-{i}")[0] == 200
        wait_until(lambda: (audit / "explain-background.json").exists(), timeout=10)
        for proto, (path, body) in bodies(X).items():
            status, through = post(side.port, path, body, f"x-{proto}")
            direct = post(model.port, path, body, "direct")
            assert status == 200 and through == direct[1]  # the client's answer, byte for byte

        means = {k: sum(r[k] for r in BACKGROUND) / len(BACKGROUND) for k in WEIGHTS}
        for proto in bodies(X):
            got = explanation(side, f"x-{proto}")
            assert got["protocol"] == proto and got["exact"] is True and got["model_calls"] == 1
            assert got["coalitions"] == 6 and got["rows"] == 5 * 7 + 1
            for k, w in WEIGHTS.items():
                assert got["attributions"][k] == pytest.approx(w * (X[k] - means[k]), abs=1e-9)
            assert got["prediction"] == pytest.approx(BIAS + sum(w * X[k] for k, w in WEIGHTS.items()))
            assert sum(got["attributions"].values()) == pytest.approx(
                got["prediction"] - got["baseline"], abs=1e-9
            )

        requests = len(BACKGROUND) + 3
        model_calls = json.loads(request(model.port, "GET", "/calls")[2])["n"]
        assert model_calls == requests + 3 + 3  # + the 3 direct posts + one call per explanation
        assert side.metric("modelmonitor_sidecar_requests_total") == requests
        assert side.metric("modelmonitor_sidecar_explain_model_calls_total") == 3
        assert side.metric("modelmonitor_sidecar_explanations_total", result="explained") == 3
        window = side.admin_get("/v1/window?since=0")
        assert len(window["rows"]["id"]) == requests
        recent = side.admin_get("/v1/explanations?since=0")
        drift = recent["drift"]
        assert drift["explanations"] == 3
        assert sum(drift["attribution"].values()) == pytest.approx(drift["shift"], abs=1e-9)
        assert list(drift["attribution"]) == ["a", "b", "c"]  # by size: 11, 4, 0
        assert side.admin_get(f"/v1/explanations?since={recent['cursor']}")["explanations"] == []
        mapped = Path(f"/proc/{side.handle.pid}/maps").read_text()  # pure Python: no numeric library loaded
        assert not [lib for lib in ("numpy", "pandas", "scipy") if f"/{lib}/" in mapped]

        side.handle.stop()
        lines = [
            json.loads(x) for p in sorted(audit.glob("audit-*.jsonl")) for x in p.read_text().splitlines()
        ]
        assert sum(1 for x in lines if x["msg"] == "request") == requests
        kept = {x["request_id"] for x in lines if x["msg"] == "explanation"}
        assert kept == {f"x-{p}" for p in bodies(X)}
    finally:
        model.handle.stop()


def test_the_budget_holds_a_single_record_is_counted_and_the_background_survives_a_restart(
    tmp_path: Path, make_model: Any, make_sidecar: Any
) -> None:
    from modelmonitor.demo.data import make_payload, make_rows, path_for

    model = make_model("--name", "credit")
    args = ("--audit-dir", str(tmp_path), "--explain-sample-rate", "1", "--explain-background", "3",
            "--explain-calls-per-minute", "2")  # fmt: skip
    side = make_sidecar(model.url, *args)
    path = path_for("kserve-v1")
    for i, row in enumerate(make_rows(9, seed=4)):  # 3 background rows, then 6 to explain
        assert post(side.port, path, make_payload("kserve-v1", [row]), f"r{i}")[0] == 200
    single = make_payload("json", make_rows(1, seed=5))
    assert post(side.port, path_for("json"), single, "one")[0] == 200

    def counted() -> dict[str, float]:
        results = ("explained", "budget", "unencodable_single_record")
        got = {r: side.metric("modelmonitor_sidecar_explanations_total", result=r) for r in results}
        return got if sum(got.values()) == 7 else {}

    counts = wait_until(counted, timeout=15)
    # 2 a minute, held one at a time: the first sample is explained, the next five dropped, not queued
    assert counts == {"explained": 1, "budget": 5, "unencodable_single_record": 1}
    assert side.metric("modelmonitor_sidecar_explain_model_calls_total") == 1
    assert side.metric("modelmonitor_sidecar_requests_total") == 10
    for rid in ("r3",):  # the logistic demo model: still prediction - baseline
        got = explanation(side, rid)
        assert got["output"] == "probabilities[1]" and got["exact"] is False
        assert sum(got["attributions"].values()) == pytest.approx(
            got["prediction"] - got["baseline"], abs=1e-9
        )
    status, _, body = request(side.admin, "GET", "/v1/explanations?id=r4")
    assert status == 404 and "no explanation of request 'r4'" in json.loads(body)["error"]

    side.handle.stop()
    again = make_sidecar(model.url, *args)
    recent = again.admin_get("/v1/explanations?since=0")
    assert recent["background"] == {"rows": 3, "target": 3, "ready": True}  # read back from the audit volume
    after = make_rows(1, seed=6)[0]
    assert post(again.port, path, make_payload("kserve-v1", [after]), "after")[0] == 200
    assert explanation(again, "after")["background"] == 3

    # erasure reaches both: the explanation of the subject's request, a background row holding the value
    first_background = make_rows(9, seed=4)[0]
    for row in (after, first_background):
        status, erased = again.admin_post("/v1/erase", {"field": "income", "value": row["income"]})
        assert status == 200, erased
    assert request(again.admin, "GET", "/v1/explanations?id=after")[0] == 404
    assert again.admin_get("/v1/explanations?since=0")["background"]["rows"] == 2
    assert str(first_background["income"]) not in (tmp_path / "explain-background.json").read_text()
