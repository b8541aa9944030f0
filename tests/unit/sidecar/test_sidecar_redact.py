"""Redaction: named fields hashed or dropped, detectors for e-mail and card numbers."""

from __future__ import annotations

from modelmonitor.sidecar.redact import Redactor, luhn_ok


def test_fields_hashed_with_salt_case_insensitively() -> None:
    r = Redactor(["SSN", "email"], "hash", "salt")
    out = r.row({"ssn": "123-45-6789", "Email": "a@b.co", "age": 30})
    assert out["age"] == 30
    assert out["ssn"].startswith("sha256:") and len(out["ssn"]) == 7 + 32
    assert "123-45-6789" not in repr(out) and "a@b.co" not in repr(out)
    assert out["ssn"] == Redactor(["ssn"], "hash", "salt").row({"ssn": "123-45-6789"})["ssn"]
    assert out["ssn"] != Redactor(["ssn"], "hash", "other").row({"ssn": "123-45-6789"})["ssn"]


def test_drop_mode_and_nested_trees() -> None:
    r = Redactor(["ssn"], "drop")
    assert r.row({"ssn": 1, "a": 2}) == {"a": 2}
    assert r.tree({"x": [{"SSN": 1, "b": {"ssn": 2, "c": 3}}]}) == {"x": [{"b": {"c": 3}}]}


def test_detectors_replace_only_the_sensitive_part() -> None:
    r = Redactor([], detectors=["email", "card"], salt="s")
    text = r.scrub_text("contact jane@example.org, card 4111-1111-1111-1111, order 1234567890123")
    assert "jane@example.org" not in text and "4111" not in text
    assert "contact sha256:" in text and text.endswith("order 1234567890123")  # not a Luhn number
    assert r.tree({"a": ["x@y.io"]})["a"][0].startswith("sha256:")


def test_inactive_redactor_returns_input_untouched() -> None:
    r = Redactor()
    row = {"a": "x@y.io"}
    assert not r.active and r.row(row) is row and r.tree(row) is row


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and luhn_ok("5500005555555559")
    assert not luhn_ok("4111111111111112")
