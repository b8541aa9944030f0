"""The sidecar client: pull the captured window from the sidecar of each ready pod, merged.

Each evaluation reads the whole window (``since=0``, paged with ``more``) rather than keeping rows in
the operator: the sidecars already bound and hold the window, so the operator's memory stays flat
whatever the number of monitors, and a restart loses nothing.

Every read goes through one urllib3 pool shared by the evaluations' threads: the connection to a
sidecar is kept alive from one evaluation to the next, so a read is one request on an open socket,
not a new connection and an HTTP session's per-request machinery (settings, hooks, cookies).
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd
import urllib3

PAGE = 10_000
MAX_PAGE_BYTES = 64 * 1024 * 1024  # one page of 10,000 rows is a few MiB; beyond this, refuse it
_CHUNK = 1024 * 1024
# Idle connections kept per sidecar: the most that read it at once, one in practice (a pod is read by
# its monitor's evaluation); the scale benchmark's one stand-in for every pod sees up to --workers
# (default 20). Past it a connection is closed after its read rather than kept (block=False).
_PER_HOST = 32


def _hosts() -> int:
    """How many sidecars keep their pool: every pod of every monitor, so a connection lives to the
    next evaluation, within a quarter of the descriptors the process may open (each kept pool holds
    an idle socket; a runtime's default soft limit can be 1,024). The least recently read goes first."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 4096 if soft == resource.RLIM_INFINITY else max(16, min(4096, soft // 4))


# Thread-safe; no retries and no redirects followed (a 3xx is an answer that is not the window).
_POOL = urllib3.PoolManager(num_pools=_hosts(), maxsize=_PER_HOST, block=False, retries=False)


class SidecarError(Exception):
    """A sidecar could not be read; the message names the pod and the reason."""


@dataclass
class Window:
    """Merged rows of all pods: features as columns, plus ``__id``, ``__ts``, ``__version``,
    ``__prediction``, ``__probabilities``, ``__label``, ``__label_ts`` and ``__pod``.

    A label that reached one pod while another pod served its prediction is joined here, by id
    (``labels_joined_across``); one whose prediction is in no window yet stays waiting in its
    sidecar until its TTL (``labels_waiting``) and is joined by a later read."""

    frame: pd.DataFrame
    pods_read: list[str] = field(default_factory=list)
    pods_failed: dict[str, str] = field(default_factory=dict)
    labels_waiting: int = 0
    labels_joined_across: int = 0

    @property
    def rows(self) -> int:
        return len(self.frame)


def _page_frame(body: dict[str, Any]) -> pd.DataFrame:
    rows = body.get("rows") or {}
    data: dict[str, Any] = dict(rows.get("features") or {})
    for key in ("id", "ts", "version", "prediction", "probabilities", "label", "label_ts"):
        data[f"__{key}"] = rows.get(key) or []
    n = len(data["__id"])
    return pd.DataFrame({k: (v if len(v) == n else [None] * n) for k, v in data.items()})


def _refused(url: str, status: int, token: str | None) -> SidecarError:
    """The sidecar said 401 or 403; the message says why, and never holds the token."""
    if token:
        return SidecarError(
            f"{url}: the sidecar refused the admin token (HTTP {status}): the token sent is not the one "
            "mounted in the sidecar (was the monitor's admin Secret replaced?)"
        )
    return SidecarError(
        f"{url}: the sidecar requires an admin token (HTTP {status}) and none was sent: it serves "
        "/v1/window without one only on a loopback admin address"
    )


def _request(
    url: str, fields: dict[str, str], headers: dict[str, str], timeout: float, deadline: float,
    *, preload: bool = False,
) -> urllib3.BaseHTTPResponse:  # fmt: skip
    """``GET url?fields`` through the shared pool, ``timeout`` seconds for the connect and each read."""
    try:
        return _POOL.request("GET", url, fields=fields, headers=headers, timeout=timeout,
                             preload_content=preload, redirect=False, retries=False)  # fmt: skip
    except urllib3.exceptions.ProtocolError:
        # The sidecar closed a kept-alive connection as the request went out (a restart): no answer
        # was had, so it is asked once more, on a new connection, while the time allows.
        if time.monotonic() > deadline:
            raise
        return _POOL.request("GET", url, fields=fields, headers=headers, timeout=timeout,
                             preload_content=preload, redirect=False, retries=False)  # fmt: skip


def _get_page(url: str, params: dict[str, str], timeout: float, token: str | None) -> Any:
    """One decoded page of ``/v1/window``: at most MAX_PAGE_BYTES, read within ``timeout`` seconds
    (each socket operation and the whole body)."""
    # identity: a compressed body could expand far beyond the cap in one read
    headers = {"Accept-Encoding": "identity"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + timeout
    response = _request(f"{url}/v1/window", params, headers, timeout, deadline)
    try:
        body = _read_body(url, response, timeout, deadline, token)
    except BaseException:
        response.close()  # a body not read to its end: the connection is closed, never reused
        raise
    finally:
        response.release_conn()  # read to its end, the connection is kept alive for the next read
    return _decode(body)


def _read_body(
    url: str, response: urllib3.BaseHTTPResponse, timeout: float, deadline: float, token: str | None
) -> bytes:
    if response.status in (401, 403):
        raise _refused(url, response.status, token)
    if not 200 <= response.status < 300:
        raise SidecarError(
            f"{url}: GET /v1/window answered HTTP {response.status} {response.reason or ''}".rstrip()
        )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_PAGE_BYTES:
        raise SidecarError(f"{url}: a window page of {declared} bytes exceeds {MAX_PAGE_BYTES} bytes")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise SidecarError(f"{url}: /v1/window answered {encoding!r}-encoded; a plain body was asked for")
    chunks, size = [], 0
    while True:
        # read1: what one receive brings, so a sidecar dripping bytes meets the deadline below
        chunk = response.read1(_CHUNK, decode_content=False)
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_PAGE_BYTES:
            raise SidecarError(f"{url}: a window page exceeds {MAX_PAGE_BYTES} bytes")
        if time.monotonic() > deadline:
            raise SidecarError(f"{url}: a window page took longer than {timeout:g} s to read")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes) -> Any:
    """The page's JSON: orjson, three to four times the standard library's speed on a window page;
    what only the standard library takes (NaN literals, integers past 64 bits) is read by it."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def read_pod(url: str, timeout: float, max_rows: int, *, token: str | None = None) -> pd.DataFrame:
    """All rows of one sidecar's window (newest ``max_rows``); raises SidecarError naming the URL.

    ``token`` (the monitor's admin token) is sent as ``Authorization: Bearer``; ``timeout`` is in
    seconds per page."""
    return _read_pod(url, timeout, max_rows, token=token)[0]


def _read_pod(
    url: str, timeout: float, max_rows: int, *, token: str | None = None
) -> tuple[pd.DataFrame, dict[str, tuple[Any, Any]]]:
    """The rows, with the label events of later pages applied, and the labels waiting in this
    sidecar for a prediction it did not serve (``{id: (label, arrival ts)}``)."""
    frames: list[pd.DataFrame] = []
    joined: dict[str, tuple[Any, Any]] = {}
    pending: dict[str, tuple[Any, Any]] = {}
    since, total = 0, 0
    while True:
        try:
            body = _get_page(url, {"since": str(since), "limit": str(PAGE)}, timeout, token)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise SidecarError(f"{url}: {type(exc).__name__}: {str(exc)[:200]}") from exc
        if not isinstance(body, dict):
            raise SidecarError(f"{url}: /v1/window answered JSON that is not an object")
        frame = _page_frame(body)
        frames.append(frame)
        total += len(frame)
        joined.update(_columns(body.get("labels"), ("label", "ts")))
        pending.update(_columns(body.get("pending"), ("label", "ts")))
        since = int(body.get("cursor") or since)
        if not body.get("more") or len(frame) == 0 or total >= 10 * max_rows:
            break
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if joined and len(merged):  # labels that arrived for rows of earlier pages
        _apply_labels(merged, joined)
    return merged.tail(max_rows), pending


def _columns(block: Any, keys: tuple[str, str]) -> dict[str, tuple[Any, Any]]:
    """``{id: (block[keys[0]][i], block[keys[1]][i])}`` of a columnar block, {} when malformed."""
    if not isinstance(block, dict) or not isinstance(block.get("id"), list):
        return {}
    ids, first, second = block["id"], block.get(keys[0]) or [], block.get(keys[1]) or []
    if len(first) != len(ids) or len(second) != len(ids):
        return {}
    return {str(i): (a, b) for i, a, b in zip(ids, first, second, strict=True) if i}


def _apply_labels(
    frame: pd.DataFrame, labels: dict[str, tuple[Any, Any]], *, only_missing: bool = False
) -> int:
    """Set ``__label`` and ``__label_ts`` of the rows whose id has a label; how many were set."""
    if "__label" not in frame.columns:
        frame["__label"] = None
    if "__label_ts" not in frame.columns:
        frame["__label_ts"] = None
    frame["__label"] = frame["__label"].astype(object)
    frame["__label_ts"] = frame["__label_ts"].astype(object)
    hit = frame["__id"].astype(str).isin(list(labels))
    if only_missing:
        hit &= frame["__label"].isna()
    for index in frame.index[hit]:
        label, ts = labels[str(frame.at[index, "__id"])]
        frame.at[index, "__label"] = label
        frame.at[index, "__label_ts"] = ts
    return int(hit.sum())


def read_window(
    endpoints: dict[str, str],
    *,
    timeout: float,
    max_rows: int,
    since_ts: float | None = None,
    token: str | None = None,
) -> Window:
    """Rows from every pod (``{pod: admin URL}``), rows older than ``since_ts`` (unix s) left out;
    ``token`` is the admin bearer token sent to every sidecar (None: send none)."""
    frames, read, failed = [], [], {}
    pending: dict[str, tuple[Any, Any]] = {}
    for pod, url in sorted(endpoints.items()):
        try:
            rows, waiting = _read_pod(url, timeout, max_rows, token=token)
        except SidecarError as exc:
            failed[pod] = str(exc)
            continue
        frames.append(rows.assign(__pod=pod))
        pending.update(waiting)
        read.append(pod)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["__id", "__ts"])
    across = _apply_labels(frame, pending, only_missing=True) if pending and len(frame) else 0
    unmatched = len(set(pending) - set(frame["__id"].astype(str))) if pending else 0
    if since_ts is not None and len(frame):
        frame = frame[frame["__ts"].astype(float) >= since_ts]
    if len(frame) > max_rows:
        frame = frame.sort_values("__ts").tail(max_rows)
    return Window(frame=frame.reset_index(drop=True), pods_read=read, pods_failed=failed,
                  labels_waiting=unmatched, labels_joined_across=across)  # fmt: skip


def read_explanations(
    endpoints: dict[str, str], *, timeout: float, token: str | None = None
) -> dict[str, Any] | None:
    """The drift attribution over the explanations every pod keeps (``GET /v1/explanations``),
    merged weighted by each pod's count; None when no pod has one (explanations off, or none yet).
    A pod that cannot be read is left out: the attribution is a figure, never a verdict."""
    headers = {"Accept-Encoding": "identity", **({"Authorization": f"Bearer {token}"} if token else {})}
    total, reference, recent, output = 0, 0.0, 0.0, None
    sums: dict[str, float] = {}
    for url in endpoints.values():
        try:
            response = _request(f"{url}/v1/explanations", {"since": "0", "limit": "1"}, headers, timeout,
                                time.monotonic() + timeout, preload=True)  # fmt: skip
            drift: Any = _decode(response.data).get("drift") if response.status == 200 else None
            n = int(drift["explanations"]) if isinstance(drift, dict) else 0
            if n <= 0:
                continue
            share = {str(k): float(v) * n for k, v in drift["attribution"].items()}
            ref, rec = float(drift["reference"]) * n, float(drift["recent"]) * n
        except (urllib3.exceptions.HTTPError, OSError, ValueError, TypeError, KeyError, AttributeError):
            continue
        total, reference, recent, output = total + n, reference + ref, recent + rec, drift.get("output")
        for name, value in share.items():
            sums[name] = sums.get(name, 0.0) + value
    if not total:
        return None
    ranked = sorted(sums.items(), key=lambda kv: -abs(kv[1]))
    return {"explanations": total, "output": output, "reference": reference / total, "recent": recent / total,
            "shift": (recent - reference) / total, "attribution": {k: v / total for k, v in ranked}}  # fmt: skip


class HTTPSidecars:
    """The sidecar port (``ports.SidecarPort``) over HTTP: ``read_window`` above, on the shared pool."""

    def read_window(
        self,
        endpoints: dict[str, str],
        *,
        timeout: float,
        max_rows: int,
        since_ts: float | None = None,
        token: str | None = None,
    ) -> Window:
        """See the module function ``read_window``: ``timeout`` in seconds per page, ``since_ts`` unix s."""
        return read_window(endpoints, timeout=timeout, max_rows=max_rows, since_ts=since_ts, token=token)

    def read_explanations(
        self, endpoints: dict[str, str], *, timeout: float, token: str | None = None
    ) -> dict[str, Any] | None:
        """See the module function ``read_explanations``: ``timeout`` in seconds per pod."""
        return read_explanations(endpoints, timeout=timeout, token=token)


SIDECARS = HTTPSidecars()

if TYPE_CHECKING:
    from modelmonitor.adapters.ports import SidecarPort

    _conforms: SidecarPort = SIDECARS  # mypy checks the class against the port


def features(window: Window) -> pd.DataFrame:
    """Only the feature columns (the ones the reference is compared with)."""
    return window.frame[[c for c in window.frame.columns if not str(c).startswith("__")]]
