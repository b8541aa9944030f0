"""Redaction of personal data before anything is logged, windowed or written to the audit trail.

Named fields (matched case-insensitively, at any depth of a JSON tree and as feature names) are
either dropped or replaced by ``"sha256:" + 32 hex digits`` of a salted SHA-256 (128 bits: joins
and counts still work, the value cannot be read back without the salt). Optional detectors replace
e-mail addresses and card numbers (13-19 digits passing the Luhn check) inside any string value.
Without a salt from the environment (``MODELMONITOR_REDACT_SALT``, e.g. from a Secret) a random
per-process salt is used, so hashes cannot be linked across restarts.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
MAX_DEPTH = 32


def luhn_ok(digits: str) -> bool:
    """True when a string of digits passes the Luhn checksum used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class Redactor:
    """Applies the redaction policy; ``active`` is False when there is nothing to do."""

    def __init__(
        self, fields: Iterable[str] = (), mode: str = "hash", salt: str = "", detectors: Iterable[str] = ()
    ) -> None:
        self.fields = frozenset(f.strip().lower() for f in fields if f.strip())
        self.mode = mode
        self._salt = (salt or os.urandom(16).hex()).encode()
        self.detectors = tuple(detectors)
        self.active = bool(self.fields or self.detectors)

    def hash(self, value: Any) -> str:
        """Salted SHA-256 of the value's text, as ``sha256:<32 hex>``."""
        text = value if isinstance(value, str) else repr(value)
        digest = hashlib.sha256(self._salt + text.encode("utf-8", "replace")).hexdigest()
        return "sha256:" + digest[:32]

    def scrub_text(self, text: str) -> str:
        """Replace detected e-mail addresses and card numbers inside a string."""
        if "email" in self.detectors and "@" in text:
            text = EMAIL.sub(lambda m: self.hash(m.group(0)), text)
        if "card" in self.detectors and sum(c.isdigit() for c in text) >= 13:

            def card(m: re.Match[str]) -> str:
                digits = re.sub(r"\D", "", m.group(0))
                return self.hash(digits) if luhn_ok(digits) else m.group(0)

            text = CARD.sub(card, text)
        return text

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A redacted copy of a feature row (name -> value)."""
        if not self.active:
            return row
        out: dict[str, Any] = {}
        for key, value in row.items():
            if key.lower() in self.fields:
                if self.mode == "hash":
                    out[key] = self.hash(value)
            else:
                out[key] = self.tree(value)
        return out

    def tree(self, value: Any, depth: int = 0) -> Any:
        """A redacted copy of any JSON value (dict keys matched against the field list)."""
        if not self.active:
            return value
        if isinstance(value, str):
            return self.scrub_text(value) if self.detectors else value
        if depth >= MAX_DEPTH:
            return None
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if str(key).lower() in self.fields:
                    if self.mode == "hash":
                        out[key] = self.hash(item)
                else:
                    out[key] = self.tree(item, depth + 1)
            return out
        if isinstance(value, list):
            return [self.tree(item, depth + 1) for item in value]
        return value
