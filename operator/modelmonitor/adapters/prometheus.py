"""The Prometheus port: ``query(promql) -> float | None`` and ``is_online()``, as in Flagger's providers.

Built on prometheus-api-client. ``None`` means Prometheus answered with no sample (or NaN, as 0/0
gives); an unreachable server, a timeout or a refused query raises PrometheusError with the reason,
which the evaluation turns into an Unknown figure — never into a breach.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import requests
import requests.adapters
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry


class PrometheusError(Exception):
    """Prometheus could not answer: the message says why (unreachable, timeout, bad query)."""


class PrometheusPort:
    def __init__(self, url: str, timeout: float = 5.0, pool: int = 20) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        # No retries inside one evaluation: the next evaluation is the retry, and a dead Prometheus
        # must not hold a worker thread for several timeouts. One connection per worker thread.
        session = requests.Session()
        session.mount(self.url, requests.adapters.HTTPAdapter(pool_maxsize=pool, max_retries=0))
        self._client = PrometheusConnect(
            url=self.url, disable_ssl=False, retry=Retry(total=0), timeout=timeout, session=session
        )

    def is_online(self) -> bool:
        try:
            return bool(self._client.check_prometheus_connection())
        except (requests.RequestException, PrometheusApiClientException):
            return False

    def query(self, promql: str) -> float | None:
        """One instant query whose result is one value: a scalar, or a vector of at most one series.

        Several series raise PrometheusError: taking one of them would judge an arbitrary pod or
        label set, so the query must aggregate (``sum()``, ``max()``, ...).
        """
        try:
            result = self._client.custom_query(promql, timeout=self.timeout)
        except requests.Timeout as exc:
            raise PrometheusError(f"query timed out after {self.timeout:g}s at {self.url}") from exc
        except requests.RequestException as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {type(exc).__name__}") from exc
        except PrometheusApiClientException as exc:
            raise PrometheusError(f"Prometheus refused the query: {str(exc)[:300]}") from exc
        return _value(result)


def _value(result: Any) -> float | None:
    """The one value of an instant query's ``data.result`` (``None`` when empty, NaN or infinite)."""
    if not result:
        return None
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        sample = result  # a scalar: [time, "value"]
    elif isinstance(result, list) and all(isinstance(r, dict) for r in result):
        if len(result) > 1:
            raise PrometheusError(
                f"the query returned {len(result)} series; it must aggregate to one, e.g. with sum() or max()"
            )
        if "value" not in result[0]:
            raise PrometheusError("the query returned a range vector; it must be an instant expression")
        sample = result[0]["value"]
    else:
        raise PrometheusError(f"unexpected query result: {str(result)[:200]}")
    try:
        value = float(sample[1])
    except (TypeError, ValueError, IndexError) as exc:
        raise PrometheusError(f"the query returned no number: {str(sample)[:200]}") from exc
    return None if math.isnan(value) or math.isinf(value) else value


_ports: dict[tuple[str, float], PrometheusPort] = {}
_lock = threading.Lock()


def prometheus_port(url: str, timeout: float, pool: int = 20) -> PrometheusPort:
    """One port (and one HTTP session) per Prometheus URL and timeout, shared by the worker threads."""
    key = (url, timeout)
    with _lock:
        if key not in _ports:
            _ports[key] = PrometheusPort(url, timeout, pool)
        return _ports[key]
