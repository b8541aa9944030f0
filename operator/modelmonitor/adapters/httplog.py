"""Keep URL paths and queries out of the HTTP client's own log lines.

urllib3 logs every request line at DEBUG (``http://host:port "POST /services/T000/B000/<secret> HTTP/1.1"
500``) and its retries with the URL: with ``--verbose`` a webhook's secret path or a query token
would reach the operator's log. This filter, on the ``urllib3`` loggers, rewrites those lines: a URL
shows as scheme://host[:port], a path as ``/***``. The rest of the line (status, host, timings) stays.
"""

from __future__ import annotations

import logging
import re

from modelmonitor.policy.egress import shown

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_PATH = re.compile(r"(?<![\w/:.])/[^\s'\"<>]*")
LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager", "urllib3.response")


def hide(text: str) -> str:
    """``text`` with each URL shown as scheme://host[:port] and each absolute path as ``/***``."""
    text = _URL.sub(lambda m: shown(m.group(0)), text)
    return _PATH.sub("/***", text)


class HidePaths(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is not ours to repair
            return True
        record.msg, record.args = hide(message), None
        return True


_FILTER = HidePaths()


def install() -> None:
    """Put the filter on urllib3's loggers (once; safe to call again)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
