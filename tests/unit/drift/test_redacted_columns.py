"""The operator leaves out the columns the sidecar redacts, matched as the sidecar matches them."""

from __future__ import annotations

from modelmonitor.drift.schema import redacted_columns
from modelmonitor.sidecar.redact import Redactor


def test_redacted_columns_match_ignoring_case_and_spaces() -> None:
    columns = ["Email", "user_ID", "age", "EMAIL_domain"]
    assert redacted_columns(columns, ["email", " USER_id ", ""]) == ["Email", "user_ID"]
    assert redacted_columns(columns, []) == []


def test_the_operator_drops_exactly_the_columns_the_sidecar_hashed() -> None:
    redact = ["eMail", "SSN"]
    row = {"EMAIL": "a@b.c", "ssn": "123", "Ssn_last4": "0123", "income": 3.0}
    hashed = Redactor(redact, mode="hash", salt="s").row(row)
    changed = [k for k in row if hashed[k] != row[k]]
    assert redacted_columns(row, redact) == changed == ["EMAIL", "ssn"]
