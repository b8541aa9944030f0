"""The admin API: window, feedback, metrics and health, on a port of its own (``adminhttp.py``).

- ``GET /v1/window?since=N&limit=M`` -> rows and label events after cursor N (see ``window.py``).
- ``POST /v1/feedback`` with ``{"id": ..., "label": ...}`` or a list of them -> join counts.
- ``POST /v1/erase`` with ``{"field": F, "value": V}`` -> a data subject's records removed, counts by
  store (``erase.py``).
- ``GET /metrics`` -> Prometheus text format.
- ``GET /healthz`` -> ``{"status": "ok", ...}``.

Window, feedback and erase are guarded as ``auth.py`` describes (bearer token, loopback only, or refused);
each refusal is answered with a JSON error saying what to do and counted by reason in
``modelmonitor_sidecar_admin_denied_total``. Metrics and health are open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelmonitor.sidecar import jsonfast
from modelmonitor.sidecar.adminhttp import Handler, Request, Response, text_response
from modelmonitor.sidecar.auth import TOKEN_HEADER, AdminAccess, admin_access
from modelmonitor.sidecar.erase import EraseError, Eraser, parse_request
from modelmonitor.sidecar.exposition import CONTENT_TYPE
from modelmonitor.sidecar.redact import Redactor
from modelmonitor.sidecar.retention import Retention

if TYPE_CHECKING:
    from modelmonitor.sidecar.config import SidecarConfig
    from modelmonitor.sidecar.metrics import SidecarMetrics
    from modelmonitor.sidecar.proxy import ProxyServer
    from modelmonitor.sidecar.window import Window

MAX_FEEDBACK_BYTES = 8 * 1024 * 1024
MAX_FEEDBACK_ITEMS = 100_000


def _json(body: Any, status: int = 200) -> Response:
    return Response(status, jsonfast.dumps(body))


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def too_large() -> Response:
    """The answer to a feedback body above ``MAX_FEEDBACK_BYTES``."""
    return _error(413, f"feedback body exceeds {MAX_FEEDBACK_BYTES} bytes: send smaller batches")


def _guard(access: AdminAccess, metrics: SidecarMetrics, handler: Handler) -> Handler:
    """``handler`` behind the access mode: 401 without (or with a malformed) bearer token, 403 with a
    wrong one or when no token file is configured on a non-loopback address."""
    if access.mode == "loopback":
        return handler

    def guarded(request: Request) -> Response:
        if access.token is None:
            metrics.admin_denied("no_token_file")
            return _error(
                403,
                f"this sidecar has no admin token file and its admin address {access.address} is not "
                "loopback, so /v1/window and /v1/feedback are refused: start it with --admin-token-file "
                "(MODELMONITOR_ADMIN_TOKEN_FILE)",
            )
        header = request.headers.get("authorization")
        scheme, _, presented = (header or "").strip().partition(" ")
        presented = presented.strip()
        via_proxy = request.headers.get(TOKEN_HEADER.lower())
        if header is None and via_proxy:
            scheme, presented = "bearer", via_proxy.strip()
        if scheme.lower() != "bearer" or not presented or " " in presented:
            metrics.admin_denied("missing" if header is None else "malformed")
            what = "no Authorization header" if header is None else "a malformed Authorization header"
            response = _error(
                401,
                f"{what}: send 'Authorization: Bearer <token>' (or '{TOKEN_HEADER}: <token>' through the API "
                "server's pod proxy) with the token of the monitor's admin Secret "
                "(<monitor>-modelmonitor-admin, key token)",
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="modelmonitor-sidecar"'
            return response
        if not access.token.matches(presented.encode("utf-8", "surrogateescape")):
            metrics.admin_denied("wrong")
            response = _error(
                403, "the bearer token was refused: send the token of the monitor's admin Secret"
            )
            response.headers["WWW-Authenticate"] = (
                'Bearer realm="modelmonitor-sidecar", error="invalid_token"'
            )
            return response
        return handler(request)

    return guarded


def build_handler(
    config: SidecarConfig,
    window: Window,
    metrics: SidecarMetrics,
    proxy: ProxyServer | None = None,
    access: AdminAccess | None = None,
    eraser: Eraser | None = None,
    explanations: Handler | None = None,
) -> Handler:
    """The admin API as one handler for ``adminhttp``; ``proxy`` (optional) adds connection figures to
    ``/healthz``; ``access`` (default: chosen from ``config``, reading the token file) guards window
    and feedback. Unknown paths answer 404, a known path with another method 405."""
    access = access if access is not None else admin_access(config)
    model = {"name": config.model_name, "version": config.model_version}

    def window_handler(request: Request) -> Response:
        try:
            since = int(request.query.get("since", "0"))
            limit = int(request.query.get("limit", "10000"))
        except ValueError:
            return _error(400, "since and limit must be integers, e.g. /v1/window?since=0&limit=1000")
        body = window.query(since, min(max(limit, 1), 100_000))
        body["model"] = model
        return _json(body)

    def feedback_handler(request: Request) -> Response:
        try:
            payload = jsonfast.loads(request.body)
        except ValueError:
            return _error(
                400, 'feedback must be JSON: {"id": "<request id>", "label": ...} or a list of them'
            )
        items = payload if isinstance(payload, list) else [payload]
        if len(items) > MAX_FEEDBACK_ITEMS:
            return _error(413, f"at most {MAX_FEEDBACK_ITEMS} labels per request")
        counts = {"joined": 0, "pending": 0, "invalid": 0}
        for item in items:
            if not isinstance(item, dict) or "id" not in item or "label" not in item:
                window.labels_invalid += 1
                counts["invalid"] += 1
                continue
            counts[window.feedback(item["id"], item["label"])] += 1
        status = 400 if counts["invalid"] == len(items) and items else 200
        return _json({**counts, "received": len(items)}, status)

    if eraser is None:  # the wiring passes the capture's own (app.py); this one hashes with the config's salt
        redactor = Redactor(config.redact, config.redact_mode, config.redact_salt, config.detect)
        eraser = Eraser(Retention(config.retention, window), redactor)

    def erase_handler(request: Request) -> Response:
        try:
            field, value, ids = parse_request(request.body)
        except EraseError as exc:  # its message never holds the value
            return _error(400, str(exc))
        try:
            return _json(eraser.erase(field, value, ids))
        except OSError as exc:  # the audit volume: full, read-only, gone
            return _error(500, f"the erasure is not complete: the audit trail could not be rewritten "
                          f"({exc.strerror or type(exc).__name__}); send it again once the volume is writable")  # fmt: skip

    def metrics_handler(request: Request) -> Response:
        return Response(200, metrics.render(), CONTENT_TYPE)

    def explanations_off(request: Request) -> Response:
        return _error(404, "explanations are off on this sidecar: set spec.explain.sampleRate above 0")

    def health_handler(request: Request) -> Response:
        body: dict[str, Any] = {"status": "ok", "model": model, "window_rows": len(window.rows)}
        if proxy is not None:
            body["connections"] = len(proxy.connections)
            body["upstream_idle"] = proxy.pool.idle
        return _json(body)

    routes: dict[str, tuple[tuple[str, ...], Handler]] = {
        "/v1/window": (("GET", "HEAD"), _guard(access, metrics, window_handler)),
        "/v1/feedback": (("POST",), _guard(access, metrics, feedback_handler)),
        "/v1/erase": (("POST",), _guard(access, metrics, erase_handler)),
        # explanations (sidecar/explain.py): answered 404 with the fix while they are off
        "/v1/explanations": (("GET", "HEAD"), _guard(access, metrics, explanations or explanations_off)),
        "/metrics": (("GET", "HEAD"), metrics_handler),
        "/healthz": (("GET", "HEAD"), health_handler),
    }

    def handle(request: Request) -> Response:
        route = routes.get(request.path)
        if route is None:
            return text_response(404)
        methods, handler = route
        if request.method not in methods:
            response = text_response(405)
            response.headers["Allow"] = ",".join(methods)
            return response
        return handler(request)

    return handle
