"""`modelmonitor explain` through its transport seam: the real Kubernetes client against a stand-in for
the API server's pod proxy (the real kube-apiserver here refuses to proxy to the loopback addresses
the stand-in kubelet gives pods: "address not allowed"), which forwards, as the API server does, to
real sidecars with their admin token; the first pod has explanations off, the second explained the
request."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from modelmonitor.cli import build_parser
from modelmonitor.commands import explain as command
from modelmonitor.demo.data import make_payload, make_rows, path_for
from tests.helpers.processes import wait_until
from tests.helpers.sidecar import Sidecar, request

pytestmark = pytest.mark.integration

TOKEN = "adm-4f1c2b9e8d7a6b5c"
ADMIN_PORT = 9100  # the port in the proxy path (spec.sidecar.adminPort); the stand-in maps pods to sidecars


class PodProxy:
    """``/api/v1/namespaces/ml/pods/<pod>:9100/proxy/<path>`` -> that pod's sidecar; the user's bearer
    token is checked and dropped, ``X-ModelMonitor-Token`` passed on, as kube-apiserver 1.36 does."""

    def __init__(self, pods: dict[str, int]) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                assert self.headers.get("Authorization") == "Bearer user-token"
                prefix, _, rest = self.path.partition("/proxy")
                pod = prefix.rsplit("/", 1)[-1].removesuffix(f":{ADMIN_PORT}")
                forwarded = urllib.request.Request(f"http://127.0.0.1:{outer.pods[pod]}{rest}")
                forwarded.add_header("X-ModelMonitor-Token", self.headers.get("X-ModelMonitor-Token", ""))
                try:
                    with urllib.request.urlopen(forwarded, timeout=10) as answer:
                        status, body = answer.status, answer.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.pods = pods
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        config = kubernetes.client.Configuration(host=f"http://127.0.0.1:{self.server.server_address[1]}")
        config.api_key = {"authorization": "Bearer user-token"}
        self.api = kubernetes.client.ApiClient(config)


@pytest.fixture
def proxy(tmp_path: Path, make_model: Any, make_sidecar: Any) -> Iterator[tuple[PodProxy, Sidecar]]:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    model = make_model("--name", "credit")
    auth = ("--admin-token-file", str(token))
    off = make_sidecar(model.url, *auth)
    on = make_sidecar(model.url, *auth, "--explain-sample-rate", "1", "--explain-background", "3")
    stand_in = PodProxy({"credit-a": off.admin, "credit-b": on.admin})
    yield stand_in, on
    stand_in.server.shutdown()
    stand_in.server.server_close()


def test_explain_asks_each_pod_and_prints_the_attributions_largest_first(
    proxy: tuple[PodProxy, Sidecar], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stand_in, side = proxy
    for i, row in enumerate(make_rows(4, seed=2)):  # 3 background rows, then req-3 is explained
        body = json.dumps(make_payload("kserve-v1", [row])).encode()
        headers = {"Content-Type": "application/json", "X-Request-ID": f"req-{i}"}
        assert request(side.port, "POST", path_for("kserve-v1"), body, headers)[0] == 200
    pods = ["credit-a", "credit-b"]

    def explained() -> Any:
        return command.find(stand_in.api, "ml", pods, ADMIN_PORT, TOKEN, "req-3")[0]

    record = wait_until(explained, timeout=15)
    assert record["pod"] == "credit-b" and record["request_id"] == "req-3"
    _, notes = command.find(stand_in.api, "ml", pods, ADMIN_PORT, TOKEN, "req-3")
    assert notes == ["pod ml/credit-a: explanations are off there (not restarted with spec.explain yet?)"]
    refused = command.find(stand_in.api, "ml", pods, ADMIN_PORT, "wrong", "req-3")
    assert refused[0] is None and all("refused the monitor's admin token (HTTP 403)" in n for n in refused[1])

    monkeypatch.setattr(command, "_target", lambda *a: (stand_in.api, "ml", pods, ADMIN_PORT, TOKEN))
    parser = build_parser("explain")
    assert command.run_explain(parser.parse_args(["explain", "req-3", "--monitor", "credit"])) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("FEATURE"))
    ranked = sorted(record["attributions"], key=lambda k: -abs(record["attributions"][k]))
    assert [line.split()[0] for line in lines[header + 1 :]] == ranked
    assert "probabilities[1]: prediction" in lines[1] and "pod credit-b" in lines[0]

    assert command.run_explain(parser.parse_args(["explain", "req-3", "--monitor", "credit", "--json"])) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert sum(as_json["attributions"].values()) == pytest.approx(as_json["prediction"] - as_json["baseline"])

    assert command.run_explain(parser.parse_args(["explain", "req-0", "--monitor", "credit"])) == 1
    err = capsys.readouterr().err
    assert "no pod of ModelMonitor ml/credit has an explanation of request 'req-0'" in err
    assert "pods asked: credit-a, credit-b" in err and TOKEN not in err
