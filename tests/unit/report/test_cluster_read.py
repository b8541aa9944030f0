"""``report NAME`` reads the sidecars' windows through the API server's pod proxy with the monitor's
admin token in X-ModelMonitor-Token (the proxy drops Authorization); what it may not read is a note
that never shows the token."""

from __future__ import annotations

import base64
import json
from typing import Any

from modelmonitor.adapters.ports import KubernetesError
from modelmonitor.commands import report

TOKEN = "adm-0123456789abcdef"


class Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body).encode()


class Api:
    """An ApiClient whose call_api answers two pages of a sidecar's window and records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], list[tuple[str, Any]]]] = []

    def call_api(self, path: str, method: str, **kw: Any) -> Response:
        self.calls.append((path, kw["header_params"], kw["query_params"]))
        since = dict(kw["query_params"])["since"]
        ids = ["a", "b"] if since == 0 else ["c"]
        rows = {"id": ids, "ts": [1.0] * len(ids), "features": {"x": [1] * len(ids)}}
        return Response({"rows": rows, "cursor": since + len(ids), "more": since == 0})


def test_a_pods_window_is_paged_with_the_token_in_its_own_header() -> None:
    api = Api()
    frame = report._pod_window(api, "ml", "credit-abc-1", 8481, TOKEN)
    assert list(frame["__id"]) == ["a", "b", "c"]
    (path, headers, _), (_, _, second) = api.calls
    assert path == "/api/v1/namespaces/ml/pods/credit-abc-1:8481/proxy/v1/window"
    assert headers["X-ModelMonitor-Token"] == TOKEN and "Authorization" not in headers
    assert dict(second)["since"] == 2


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
