"""The Prometheus port: ``query(promql) -> float | None`` and ``is_online()``, as in Flagger's providers,
and ``query_figures`` for several figures in one round trip.

Built on prometheus-api-client. ``None`` means Prometheus answered with no sample (or NaN, as 0/0
gives); an unreachable server, a timeout or a refused query raises PrometheusError with the reason,
which the evaluation turns into an Unknown figure — never into a breach.

The URL may carry credentials (``https://user:password@host``): messages show only
``scheme://host[:port]`` and never the HTTP client's own text. Every call has the timeout (to
connect, and for each read) and ends within twice it in all; an answer is read up to MAX_ANSWER_BYTES and refused past it (a
scalar query's answer is a few hundred bytes); redirects are refused, not followed.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import requests
import urllib3.exceptions
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from modelmonitor.adapters import deadline, httplog
from modelmonitor.policy.combined import combine, split
from modelmonitor.policy.egress import scrub, shown

httplog.install()  # urllib3's DEBUG lines would show the URL's path and query

MAX_ANSWER_BYTES = 8 * 1024 * 1024
DEADLINE_FACTOR = 2  # a query ends within twice its timeout in all, however slowly it trickles
CHUNK = 64 * 1024


class PrometheusError(Exception):
    """Prometheus could not answer: the message says why (unreachable, timeout, bad query)."""


class AnswerTooLarge(requests.RequestException):
    """Prometheus answered more than MAX_ANSWER_BYTES."""


def _capped(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Response hook: read the body now, at most MAX_ANSWER_BYTES of it (announced or not).

    The client reads ``response.content`` after the hooks ran; with the body read here (as
    ``requests`` itself does it, into ``_content``) it never holds more than the cap."""
    announced = response.headers.get("Content-Length", "")
    if announced.isdigit() and int(announced) > MAX_ANSWER_BYTES:
        response.close()
        raise AnswerTooLarge(f"the answer is {int(announced)} bytes, over {MAX_ANSWER_BYTES}")
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            response.close()
            raise AnswerTooLarge(f"the answer is over {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    response._content = b"".join(chunks)
    response._content_consumed = True
    return response


class PrometheusPort:
    def __init__(self, url: str, timeout: float = 5.0, pool: int = 20) -> None:
        self.url = url.rstrip("/")
        self.shown = shown(self.url)
        self.timeout = timeout
        # No retries inside one evaluation: the next evaluation is the retry, and a dead Prometheus
        # must not hold a worker thread for several timeouts. One connection per worker thread.
        session = deadline.session(pool)  # and TooManyRedirects at the first: the allowlist judged this URL
        session.hooks["response"].append(_capped)
        self._client = PrometheusConnect(
            url=self.url, disable_ssl=False, retry=Retry(total=0), timeout=timeout, session=session
        )
        # The client mounts its own adapter for the URL: ours again, for the pool size and the deadline.
        session.mount(self.url, deadline.Adapter(pool_maxsize=pool, max_retries=0))

    def is_online(self) -> bool:
        try:
            with deadline.deadline(DEADLINE_FACTOR * self.timeout):
                return bool(self._client.check_prometheus_connection())
        except (requests.RequestException, PrometheusApiClientException):
            return False

    def query(self, promql: str) -> float | None:
        """One instant query whose result is one value: a scalar, or a vector of at most one series.

        Several series raise PrometheusError: taking one of them would judge an arbitrary pod or
        label set, so the query must aggregate (``sum()``, ``max()``, ...).
        """
        return _value(self._instant(promql))

    def query_figures(self, queries: dict[str, str]) -> dict[str, float | None]:
        """Each ``{name: PromQL}`` figure's one value, all in one instant query (policy/combined.py).

        A figure is judged as ``query`` judges it alone (None for no sample, NaN or infinite;
        PrometheusError for several series, the first such figure's), but each must be an instant
        vector: a scalar makes Prometheus refuse the whole query. One bad figure fails them all, so
        this is for the operator's own queries, not the user's checks.
        """
        if not queries:
            return {}
        result = self._instant(combine(queries))
        try:
            parts = split(result, queries)
        except ValueError as exc:
            raise PrometheusError(str(exc)) from None
        return {name: _value(parts[name]) for name in queries}

    def _instant(self, promql: str) -> Any:
        """The ``data.result`` of one instant query; PrometheusError when there is none."""
        try:
            with deadline.deadline(DEADLINE_FACTOR * self.timeout):
                result = self._client.custom_query(promql, timeout=self.timeout)
        except deadline.DeadlineExceeded:
            raise PrometheusError(
                f"Prometheus at {self.shown} gave no complete answer within {DEADLINE_FACTOR * self.timeout:g}s"
            ) from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            if not _timed_out(exc):
                raise PrometheusError(
                    f"cannot reach Prometheus at {self.shown}: {type(exc).__name__}"
                ) from None
            raise PrometheusError(f"query timed out after {self.timeout:g}s at {self.shown}") from None
        except AnswerTooLarge as exc:
            raise PrometheusError(f"Prometheus at {self.shown} answered too much: {exc}") from None
        except requests.TooManyRedirects:
            raise PrometheusError(f"Prometheus at {self.shown} answered with a redirect, which is not "
                                  "followed: set the URL it redirects to") from None  # fmt: skip
        except requests.exceptions.JSONDecodeError:
            raise PrometheusError(f"Prometheus at {self.shown} answered something that is not JSON") from None
        except requests.RequestException as exc:
            # Not the exception's text: it holds the URL's path and query (and it is chained only
            # as None, so no log line of a traceback shows it either).
            raise PrometheusError(f"cannot reach Prometheus at {self.shown}: {type(exc).__name__}") from None
        except PrometheusApiClientException as exc:
            # Its text holds the answer's body, which a proxy may have filled with the URL.
            detail = scrub(str(exc), self.url)[:300]
            raise PrometheusError(f"Prometheus at {self.shown} refused the query: {detail}") from None
        except (KeyError, TypeError):
            raise PrometheusError(f"Prometheus at {self.shown} answered JSON without data.result") from None
        return result


def _timed_out(exc: requests.RequestException) -> bool:
    """A timeout, also when the client's Retry wrapped it: requests then raises ConnectionError
    around urllib3's MaxRetryError(ReadTimeoutError)."""
    if isinstance(exc, requests.Timeout):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, urllib3.exceptions.MaxRetryError) and isinstance(
        cause.reason, urllib3.exceptions.ReadTimeoutError
    )


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
