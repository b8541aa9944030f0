"""``modelmonitor erase``'s transport seam and output: POST /v1/erase through a stand-in for the API
server's pod proxy with the real kubernetes client (a real kube-apiserver refuses to proxy to the
loopback pod addresses of this machine: "address not allowed"), pods not reached make the erasure
not done (exit 1), and the value is never printed."""

from __future__ import annotations

import argparse
import http.server
import io
import json
import threading
from typing import Any

import kubernetes
import pytest

from modelmonitor.commands import erase as command

TOKEN = "adm-0123456789abcdef"
VALUE = "jane.doe@example.org"


class Proxy:
    """HTTP on 127.0.0.1 (port 0) playing the pod proxy in front of four pods: ``ok`` erases, ``old``
    runs a sidecar without /v1/erase, ``gone`` cannot be dialled, and any pod refuses a wrong token."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                proxy.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                pod = self.path.split("/pods/")[1].split(":")[0]
                if self.headers.get("X-ModelMonitor-Token") != TOKEN:
                    self._send(401, b'{"error": "send the token of the monitor\'s admin Secret '
                                    b'(credit-modelmonitor-admin, key token)"}')  # fmt: skip
                elif pod == "old":
                    self._send(404, b"404: Not Found", "text/plain")
                elif pod == "gone":
                    self._send(503, json.dumps({"kind": "Status", "message": "error trying to reach service: "
                                                "dial tcp 10.0.0.9:8481: connect: connection refused"}).encode())  # fmt: skip
                elif "ids" in body:  # the second round: labels waiting here for another pod's rows
                    self._send(200, json.dumps({"removed": {"window": 0, "labels": 1}, "requests": 0,
                                                "ids": body["ids"]}).encode())  # fmt: skip
                else:
                    self._send(200, json.dumps({"removed": {"window": 2, "labels": 1, "audit": 3,
                                                            "explanations": 1}, "requests": 2,
                                                "ids": [f"req-{pod}"]}).encode())  # fmt: skip

            def _send(self, code: int, data: bytes, kind: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        config = kubernetes.client.Configuration(host=f"http://127.0.0.1:{self.server.server_address[1]}")
        config.api_key = {"authorization": "Bearer user-token"}
        self.api = kubernetes.client.ApiClient(config)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy() -> Any:
    p = Proxy()
    yield p
    p.close()


def test_each_pod_gets_the_erasure_with_the_token_in_its_own_header(proxy: Proxy) -> None:
    outcome = command.Outcome("ml", "credit", "email")
    pods = {"ok": ("credit", 8481), "old": ("credit", 8481), "gone": ("credit-v2", 8481)}
    body = {"field": "email", "value": VALUE}
    command.erase_pods(outcome, pods, TOKEN, body, command.proxy_transport(proxy.api))
    path, headers, sent = next(r for r in proxy.requests if "/ok:" in r[0])
    assert path == "/api/v1/namespaces/ml/pods/ok:8481/proxy/v1/erase" and sent == body
    assert headers["x-modelmonitor-token"] == TOKEN and headers["authorization"] == "Bearer user-token"
    assert outcome.removed == {"ok": {"window": 2, "labels": 1, "audit": 3, "explanations": 1}}
    assert outcome.deployments["gone"] == "credit-v2" and not outcome.complete
    assert "older image" in outcome.unreachable["old"]
    assert "HTTP 503" in outcome.unreachable["gone"] and "connection refused" in outcome.unreachable["gone"]
    wrong = command.Outcome("ml", "credit", "email")
    command.erase_pods(wrong, {"ok": ("credit", 8481)}, "wrong", body, command.proxy_transport(proxy.api))
    assert wrong.unreachable["ok"] == (
        "the sidecar of pod ml/ok through the API server's pod proxy refused the monitor's admin token (HTTP 401)"
    )
    for result in (outcome, wrong):
        said = command.table(result) + json.dumps(result.to_json())
        assert VALUE not in said and TOKEN not in said


def test_the_ids_found_on_one_pod_reach_every_other_pod(proxy: Proxy) -> None:
    outcome = command.Outcome("ml", "credit", "email")
    pods = {"a": ("credit", 8481), "b": ("credit", 8481)}
    command.erase_pods(
        outcome, pods, TOKEN, {"field": "email", "value": VALUE}, command.proxy_transport(proxy.api)
    )
    second = [(path, body) for path, _, body in proxy.requests if "ids" in body]
    assert sorted(path.split("/pods/")[1].split(":")[0] for path, _ in second) == ["a", "b"]
    assert all(body == {"ids": ["req-a", "req-b"]} for _, body in second)
    assert (
        outcome.removed["a"] == {"window": 2, "labels": 2, "audit": 3, "explanations": 1} and outcome.complete
    )


def outcome(unreachable: dict[str, str]) -> command.Outcome:
    out = command.Outcome("ml", "credit", "email", deployments={"a": "credit", "b": "credit-v2"})
    out.removed = {"a": {"window": 2, "labels": 1, "audit": 3}, "b": {"window": 0, "labels": 0, "audit": 1,
                                                                     "explanations": 2}}  # fmt: skip
    out.requests = {"a": 2, "b": 1}
    out.unreachable = unreachable
    return out


def test_the_table_counts_per_pod_and_store_and_says_when_it_is_not_done() -> None:
    lines = command.table(
        outcome({"c": "container modelmonitor-sidecar waiting (CrashLoopBackOff)"})
    ).splitlines()
    assert lines[1].split() == ["POD", "DEPLOYMENT", "WINDOW", "LABELS", "AUDIT", "EXPLANATIONS", "REQUESTS"]
    assert lines[2].split() == ["a", "credit", "2", "1", "3", "0", "2"]
    assert lines[4].split() == ["total", "2", "1", "4", "2", "3"]
    assert lines[-2].startswith("NOT DONE") and "CrashLoopBackOff" in lines[-1]
    assert command.table(outcome({})).splitlines()[-1] == "done: every pod of the monitor reached (2)"


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], result: command.Outcome,
        *argv: str, stdin: str = "") -> tuple[int, str, list[str]]:  # fmt: skip
    asked: list[str] = []

    def erase_cluster(name: str, namespace: Any, kubeconfig: Any, field: str, value: str) -> command.Outcome:
        asked.append(value)
        return result

    monkeypatch.setattr(command, "erase_cluster", erase_cluster)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["erase", "credit", "--field", "email", *argv])
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out + out.err, asked


def test_exit_codes_and_the_value_from_stdin_never_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said, asked = run(monkeypatch, capsys, outcome({}), "--value-from-stdin", stdin=VALUE + "\n")
    assert code == 0 and asked == [VALUE] and VALUE not in said and "done" in said
    code, said, _ = run(monkeypatch, capsys, outcome({"c": "pod not ready"}), "--value", VALUE, "--json")
    assert code == 1 and json.loads(said)["complete"] is False and VALUE not in said
    code, said, asked = run(monkeypatch, capsys, outcome({}), "--value-from-stdin", stdin="\n")
    assert code == 2 and asked == [] and "the value is empty" in said
