"""`modelmonitor validate`: every example passes, every broken manifest is refused naming its field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from modelmonitor.api import validate_manifest
from modelmonitor.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def expected(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect: ").rstrip("\n") for line in path.open() if line.startswith("# expect: ")
    ]


def test_there_are_examples_for_each_user_case() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"minimal", "credit-scoring-fairness", "recommender-ctr", "vision-weather", "demo-model"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "ModelMonitor":
            assert validate_manifest(doc) == []


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_broken_manifest_is_refused_naming_the_field(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    want = expected(path)
    assert want, f"{path.name} states no expected problem"
    assert main(["validate", "-q", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    got = sorted(line.split(": ", 1)[1] for line in out)
    assert got == sorted(want)


def test_exit_codes_and_output_for_mixed_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, EXAMPLES)]) == 0
    out = capsys.readouterr().out
    assert "examples/minimal.yaml" not in out or "credit-scoring: valid" in out
    assert main(["validate", str(EXAMPLES[0]), str(BROKEN[0])]) == 1


def test_unreadable_and_malformed_files_fail_with_the_file_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec: [unclosed\n")
    assert main(["validate", str(bad), str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert re.search(rf"^{re.escape(str(bad))}:\d+:\d+: not valid YAML: ", err, re.MULTILINE)
    assert "missing.yaml: cannot read" in err


def test_wrong_kind_is_named() -> None:
    problems = validate_manifest({"apiVersion": "modelmonitor.io/v1", "kind": "ModelMonitor", "spec": {}})
    assert [str(p) for p in problems] == [
        "apiVersion/kind: must be modelmonitor.io/v1alpha1 ModelMonitor, got 'modelmonitor.io/v1' 'ModelMonitor'"
    ]


def test_metadata_name_is_required() -> None:
    doc = {"apiVersion": "modelmonitor.io/v1alpha1", "kind": "ModelMonitor", "metadata": {}, "spec": {}}
    problems = [str(p) for p in validate_manifest(doc)]
    assert "metadata.name: is required" in problems
    assert "spec.target: is required" in problems


def test_defaults_are_filled_in() -> None:
    from modelmonitor.api import ModelMonitorSpec

    spec = ModelMonitorSpec.model_validate({"target": {"deployment": "m"}})
    assert spec.interval == "60s"
    assert spec.window.maxRows == 10000
    assert spec.sidecar.inject is True
    assert spec.drift.method == "auto"
    assert spec.drift.driftShare == 0.5
    assert spec.actions.mode == "enforce"
    assert spec.slos.minRequests == 100


def _monitor(spec: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": "m"},
        "spec": spec,
    }


def test_a_null_field_is_dropped_as_the_api_server_drops_it() -> None:
    assert validate_manifest(_monitor({"target": {"deployment": "m"}, "prometheus": {"url": None}})) == []


def test_a_duration_longer_than_the_servers_rules_can_read_is_refused() -> None:
    # 2,562,048 h is past the ~292 years a CEL duration holds: the server's rule on interval fails
    problems = [
        str(p) for p in validate_manifest(_monitor({"target": {"deployment": "m"}, "interval": "2562048h"}))
    ]
    assert [p for p in problems if p.startswith("spec.interval:")], problems
