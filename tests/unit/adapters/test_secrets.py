"""Webhook Secrets: the port reads a Secret's data only when the Secret opted in with its label.

Driven against a small stand-in of the API server's Secret endpoint, which answers the metadata
alone when asked for PartialObjectMetadata (as kube-apiserver does) and records what it was asked.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from modelmonitor.adapters.kubernetes import KubernetesClient, SecretRefused

VALUE = "https://hooks.slack.com/services/T000/B000/SECRETxyz"


class SecretServer:
    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, Any]] = {}
        self.asked: list[tuple[str, str]] = []  # (name, "metadata" | "full")
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.split("?")[0].rsplit("/", 1)[-1]
                metadata_only = "as=PartialObjectMetadata" in (self.headers.get("Accept") or "")
                fake.asked.append((name, "metadata" if metadata_only else "full"))
                found = fake.secrets.get(name)
                if found is None:
                    status, body = 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
                elif metadata_only:
                    status = 200
                    body = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                            "metadata": found["metadata"]}  # fmt: skip
                else:
                    status, body = 200, found
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def add(self, name: str, data: dict[str, bytes], labels: dict[str, str] | None = None) -> None:
        self.secrets[name] = {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "ns", "labels": labels or {}},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }  # fmt: skip

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def api() -> Iterator[SecretServer]:
    server = SecretServer()
    yield server
    server.close()


def port(api: SecretServer) -> KubernetesClient:
    config = kubernetes.client.Configuration()
    config.host = api.url
    return KubernetesClient(kubernetes.client.ApiClient(config))


def refused(api: SecretServer, name: str, key: str = "url") -> SecretRefused:
    with pytest.raises(SecretRefused) as caught:
        port(api).get_secret_value("ns", name, key)
    return caught.value


def test_a_secret_without_the_label_is_not_read_only_its_metadata(api: SecretServer) -> None:
    api.add("db-password", {"url": b"SECRETxyz-password"})
    exc = refused(api, "db-password")
    assert exc.reason == "SecretNotLabelled"
    assert api.asked == [("db-password", "metadata")]  # the data never crossed the wire
    assert "SECRETxyz" not in str(exc)
    assert "kubectl -n ns label secret db-password modelmonitor.io/webhook=true" in str(exc)


@pytest.mark.parametrize("value", ["false", "True", "yes", ""])
def test_only_the_exact_label_value_true_opts_in(api: SecretServer, value: str) -> None:
    api.add("hook", {"url": VALUE.encode()}, {"modelmonitor.io/webhook": value})
    assert refused(api, "hook").reason == "SecretNotLabelled"


def test_a_labelled_secret_is_read_and_decoded(api: SecretServer) -> None:
    api.add("hook", {"url": VALUE.encode()}, {"modelmonitor.io/webhook": "true"})
    assert port(api).get_secret_value("ns", "hook", "url") == VALUE
    assert api.asked == [("hook", "metadata"), ("hook", "full")]


def test_a_missing_secret_key_or_binary_value_names_the_secret_never_a_value(api: SecretServer) -> None:
    api.add("hook", {"url": VALUE.encode(), "bin": b"\xffSECRET\xfe"}, {"modelmonitor.io/webhook": "true"})
    missing = refused(api, "nothere")
    assert (missing.reason, str(missing)) == ("SecretNotFound", "Secret ns/nothere not found")
    no_key = refused(api, "hook", "other")
    assert (no_key.reason, str(no_key)) == ("SecretKeyNotFound", "Secret ns/hook has no key 'other'")
    binary = refused(api, "hook", "bin")
    assert binary.reason == "SecretNotText" and "SECRET" not in str(binary)
