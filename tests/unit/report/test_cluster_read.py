"""``report NAME`` reads the sidecars' windows through the API server's pod proxy with the monitor's
admin token in X-ModelMonitor-Token (the proxy drops Authorization); what it may not read is a note
that never shows the token."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import urllib.parse
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from modelmonitor.adapters.ports import KubernetesError
from modelmonitor.commands import report_cluster as report

TOKEN = "adm-0123456789abcdef"


class Proxy:
    """An HTTP server on 127.0.0.1 (port 0) playing the API server's pod proxy: two pages of one
    sidecar's window, each request recorded; a wrong token answers 401 as the sidecar would."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if self.headers.get("X-ModelMonitor-Token") != TOKEN:
                    self._send(
                        401,
                        {"error": "send the token of the monitor's admin Secret (credit-modelmonitor-admin)"},
                    )
                    return
                since = int(urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["since"][0])
                ids = ["a", "b"] if since == 0 else ["c"]
                rows = {"id": ids, "ts": [1.0] * len(ids), "features": {"x": [1] * len(ids)}}
                self._send(200, {"rows": rows, "cursor": since + len(ids), "more": since == 0})

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        config = kubernetes.client.Configuration(host=f"http://127.0.0.1:{self.server.server_address[1]}")
        config.api_key = {"authorization": "Bearer user-token"}
        self.api = kubernetes.client.ApiClient(config)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_pods_window_is_paged_with_the_token_in_its_own_header_by_the_real_client() -> None:
    proxy = Proxy()
    try:
        frame = report._pod_window(proxy.api, "ml", "credit-abc-1", 8481, TOKEN)
        assert list(frame["__id"]) == ["a", "b", "c"]
        (first, headers), (second, _) = proxy.requests
        assert first.startswith("/api/v1/namespaces/ml/pods/credit-abc-1:8481/proxy/v1/window?")
        assert "since=0" in first and "since=2" in second
        assert headers["x-modelmonitor-token"] == TOKEN
        assert headers["authorization"] == "Bearer user-token"  # the user's own, for the API server
        with pytest.raises(ApiException) as refused:
            report._pod_window(proxy.api, "ml", "credit-abc-1", 8481, "wrong")
        note = report._proxy_refused("ml", "credit-abc-1", refused.value)
        assert "refused the monitor's admin token (HTTP 401)" in note and "wrong" not in note
    finally:
        proxy.close()


class Kube:
    def __init__(self, secret: dict[str, Any] | None = None, error: KubernetesError | None = None) -> None:
        self.secret, self.error = secret, error

    def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        assert name == "credit-modelmonitor-admin"
        if self.error:
            raise self.error
        return self.secret


def test_the_admin_token_comes_from_the_monitors_secret_and_a_refusal_is_a_note() -> None:
    secret = {"data": {"token": base64.b64encode(TOKEN.encode()).decode()}}
    notes: list[str] = []
    assert report._admin_token(Kube(secret), "ml", "credit", notes) == TOKEN and notes == []
    assert report._admin_token(Kube(error=KubernetesError(403, "Forbidden")), "ml", "credit", notes) is None
    assert "cannot read Secret ml/credit-modelmonitor-admin" in notes[0] and "403 Forbidden" in notes[0]
    assert report._admin_token(Kube({"data": {}}), "ml", "credit", notes) is None
    assert "no usable admin token" in notes[1]
    assert all(TOKEN not in n for n in notes)
