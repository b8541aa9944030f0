"""The sidecar client: pull the captured window from the sidecar of each ready pod, merged.

Each evaluation reads the whole window (``since=0``, paged with ``more``) rather than keeping rows in
the operator: the sidecars already bound and hold the window, so the operator's memory stays flat
whatever the number of monitors, and a restart loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import requests

PAGE = 10_000


class SidecarError(Exception):
    """A sidecar could not be read; the message names the pod and the reason."""


@dataclass
class Window:
    """Merged rows of all pods: features as columns, plus id, ts, version, prediction, label."""

    frame: pd.DataFrame
    pods_read: list[str] = field(default_factory=list)
    pods_failed: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.frame)


def _page_frame(body: dict[str, Any]) -> pd.DataFrame:
    rows = body.get("rows") or {}
    data: dict[str, Any] = dict(rows.get("features") or {})
    for key in ("id", "ts", "version", "prediction", "label"):
        data[f"__{key}"] = rows.get(key) or []
    n = len(data["__id"])
    return pd.DataFrame({k: (v if len(v) == n else [None] * n) for k, v in data.items()})


def read_pod(session: requests.Session, url: str, timeout: float, max_rows: int) -> pd.DataFrame:
    """All rows of one sidecar's window (newest ``max_rows``); raises SidecarError naming the URL."""
    frames: list[pd.DataFrame] = []
    since, total = 0, 0
    while True:
        try:
            response = session.get(
                f"{url}/v1/window", params={"since": since, "limit": PAGE}, timeout=timeout
            )
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise SidecarError(f"{url}: {type(exc).__name__}: {str(exc)[:200]}") from exc
        frame = _page_frame(body)
        frames.append(frame)
        total += len(frame)
        since = int(body.get("cursor") or since)
        if not body.get("more") or len(frame) == 0 or total >= 10 * max_rows:
            break
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return merged.tail(max_rows)


def read_window(
    endpoints: dict[str, str], *, timeout: float, max_rows: int, since_ts: float | None = None
) -> Window:
    """Rows from every pod (``{pod: admin URL}``), rows older than ``since_ts`` (unix s) left out."""
    frames, read, failed = [], [], {}
    with requests.Session() as session:
        for pod, url in sorted(endpoints.items()):
            try:
                frames.append(read_pod(session, url, timeout, max_rows))
                read.append(pod)
            except SidecarError as exc:
                failed[pod] = str(exc)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["__id", "__ts"])
    if since_ts is not None and len(frame):
        frame = frame[frame["__ts"].astype(float) >= since_ts]
    if len(frame) > max_rows:
        frame = frame.sort_values("__ts").tail(max_rows)
    return Window(frame=frame.reset_index(drop=True), pods_read=read, pods_failed=failed)


def features(window: Window) -> pd.DataFrame:
    """Only the feature columns (the ones the reference is compared with)."""
    return window.frame[[c for c in window.frame.columns if not str(c).startswith("__")]]
