"""``modelmonitor validate`` through the real CLI entry point: what it reports, on which stream, and the
exit code, for manifests with several problems and for files that hold no manifest at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmonitor.api.validation import RULES_NOT_CHECKED
from modelmonitor.cli import main

HEAD = "apiVersion: modelmonitor.io/v1alpha1\nkind: ModelMonitor\n"


def _file(tmp_path: Path, text: str, name: str = "monitor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, list[str], str]:
    code = main(["validate", *flags, str(path)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_schema_and_cross_field_problems_are_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(
        tmp_path,
        HEAD + "metadata: {name: m}\nspec:\n  target: {deployment: m}\n  interval: 1s\n"
        "  window: {maxRows: 0}\n",
    )
    code, out, _ = _run(path, capsys)
    assert code == 1
    assert out == [
        f"{path}[0] m: spec.interval: interval must be at least 5s",
        f"{path}[0] m: spec.window.maxRows: must be >= 100, got 0",
    ]


def test_a_rule_reading_a_value_the_schema_refused_is_not_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # maxReplicas 0 is below its minimum; judging minReplicas <= maxReplicas on it would be noise, but
    # the interval rule reads nothing the schema refused and is still reported.
    path = _file(
        tmp_path,
        HEAD + "metadata: {name: m}\nspec:\n  target: {deployment: m}\n  interval: 2s\n"
        "  actions:\n    autoscale: {minReplicas: 3, maxReplicas: 0}\n",
    )
    code, out, _ = _run(path, capsys, "-q")
    assert code == 1
    assert [line.split(": ", 1)[1] for line in out] == [
        "spec.actions.autoscale.maxReplicas: must be >= 1, got 0",
        "spec.interval: interval must be at least 5s",
    ]


def test_a_wrong_type_stops_the_rules_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(
        tmp_path,
        HEAD + "metadata: {name: m}\nspec:\n  target: {deployment: m}\n  interval: 1s\n"
        "  window: {maxRows: many}\n",
    )
    code, out, _ = _run(path, capsys, "-q")
    assert code == 1
    assert [line.split(": ", 1)[1] for line in out] == [
        "spec.window.maxRows: must be of type integer, got string 'many'",
        f"spec: {RULES_NOT_CHECKED}",
    ]


@pytest.mark.parametrize("name", ["Bad_Name", "UPPER", "-leading", "trailing.", "a" * 254])
def test_metadata_name_must_be_a_dns_subdomain(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, HEAD + f"metadata: {{name: '{name}'}}\nspec:\n  target: {{deployment: m}}\n")
    code, out, _ = _run(path, capsys, "-q")
    assert code == 1
    assert len(out) == 1 and out[0].startswith(f"{path}[0] {name}: metadata.name: must ")
    if len(name) <= 253:
        assert "DNS-1123 subdomain" in out[0] and repr(name) in out[0]


def test_a_dotted_lowercase_name_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, HEAD + "metadata: {name: credit.v2-eu}\nspec:\n  target: {deployment: m}\n")
    assert _run(path, capsys) == (0, [f"{path}[0] credit.v2-eu: valid"], "")


def test_unknown_top_level_key_is_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, HEAD + "metadata: {name: m}\nspec:\n  target: {deployment: m}\nspecs: {}\n")
    code, out, _ = _run(path, capsys, "-q")
    assert code == 1
    assert out == [
        f"{path}[0] m: specs: unknown field (known fields: apiVersion, kind, metadata, spec, status)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty: no YAML document; expected a ModelMonitor manifest"),
        ("# only a comment\n---\n", "empty: no YAML document; expected a ModelMonitor manifest"),
        ("hello\n", "[0]: a YAML string, not a Kubernetes object"),
        ("42\n", "[0]: a YAML number, not a Kubernetes object"),
        (
            "- apiVersion: modelmonitor.io/v1alpha1\n- kind: ModelMonitor\n",
            "[0]: a YAML list, not a Kubernetes",
        ),
    ],
    ids=["empty", "comment-only", "scalar", "number", "list"],
)
def test_a_file_without_a_manifest_fails_clearly(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, text)
    code, out, err = _run(path, capsys)
    assert code == 1
    assert out == []
    assert err.startswith(f"{path}{message}" if message.startswith("[") else f"{path}: {message}")


def test_a_scalar_document_beside_a_valid_manifest_still_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, HEAD + "metadata: {name: m}\nspec:\n  target: {deployment: m}\n---\noops\n")
    code, out, err = _run(path, capsys)
    assert code == 1
    assert out == [f"{path}[0] m: valid"]
    assert err.startswith(f"{path}[1]: a YAML string, not a Kubernetes object")


def test_other_kinds_alone_are_skipped_not_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    code, out, err = _run(path, capsys)
    assert (code, err) == (0, "")
    assert out == [f"{path}: no ModelMonitor in this file (other kinds are not checked)"]


def test_yaml_syntax_error_names_line_and_column_and_shows_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, HEAD + "spec:\n  target: {deployment: m\n  interval: 60s\n")
    code, out, err = _run(path, capsys)
    assert code == 1 and out == []
    head, line, caret = err.rstrip("\n").split("\n")
    assert head.startswith(f"{path}:5:11: not valid YAML: ")
    assert "while parsing a flow mapping started at 4:11" in head
    assert line == "      interval: 60s"
    assert caret == "    " + " " * 10 + "^"


def test_yaml_error_at_the_end_of_the_file_shows_where_the_construct_began(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, 'metadata: {name: "m}\n')
    assert main(["validate", str(path)]) == 1
    head, line, caret = capsys.readouterr().err.rstrip("\n").split("\n")
    assert head.startswith(f"{path}:2:1: not valid YAML: found unexpected end of stream")
    assert line == '    metadata: {name: "m}'
    assert caret == "    " + " " * 17 + "^"


def test_standard_input_is_read_and_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a: [1\n"))
    assert main(["validate", "-"]) == 1
    assert capsys.readouterr().err.startswith("<stdin>:2:1: not valid YAML: ")
