"""Alert rules with the real promtool, runbooks for every alert and condition, scrape objects, dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelmonitor.api.status import ConditionType
from modelmonitor.workload import injection
from tests.unit.chart.conftest import CHART, FULL_VALUES, HERE, ROOT, only, render, tool

RUNBOOKS = ROOT / "docs" / "runbooks"
RULE_SETS = ("prometheusRule.enabled=true",)


def rules() -> dict[str, Any]:
    return dict(only(render(sets=RULE_SETS), "PrometheusRule")["spec"])


def alerts(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in spec["groups"] for rule in group["rules"] if "alert" in rule]


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules(), sort_keys=False))
    shutil.copy(HERE / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    return tmp_path


def test_promtool_checks_the_rules(rules_dir: Path) -> None:
    proc = promtool("check", "rules", "rules.yaml", cwd=rules_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(alerts(rules()))} rules found" in proc.stdout


def test_promtool_unit_tests_every_alert(rules_dir: Path) -> None:
    proc = promtool("test", "rules", "alerts_test.yaml", cwd=rules_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tested = yaml.safe_load((HERE / "alerts_test.yaml").read_text())["tests"]
    fired = {
        case["alertname"] for test in tested for case in test["alert_rule_test"] if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"] for test in tested for case in test["alert_rule_test"] if not case.get("exp_alerts")
    }
    names = {rule["alert"] for rule in alerts(rules())}
    assert names - fired == set(), "alerts without a test that makes them fire"
    assert names - quiet == set(), "alerts without a test that keeps them quiet"


def test_full_values_rules_pass_promtool(tmp_path: Path) -> None:
    spec = only(render(FULL_VALUES), "PrometheusRule")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec["spec"]))
    proc = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert spec["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    for rule in alerts(spec["spec"]):
        assert rule["labels"]["team"] == "ml-platform"
        assert (
            rule["annotations"]["runbook_url"]
            == f"https://docs.example.com/modelmonitor/runbooks/{rule['alert']}.md"
        )


def test_every_alert_links_to_its_runbook() -> None:
    base = yaml.safe_load((CHART / "values.yaml").read_text())["prometheusRule"]["runbookBaseUrl"]
    assert base == "https://github.com/modelmonitor/modelmonitor/blob/main/docs/runbooks"
    for rule in alerts(rules()):
        url = rule["annotations"]["runbook_url"]
        assert url == f"{base}/{rule['alert']}.md"
        assert (RUNBOOKS / f"{rule['alert']}.md").is_file(), (
            f"missing runbook docs/runbooks/{rule['alert']}.md"
        )
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


@pytest.mark.parametrize("condition", [c.value for c in ConditionType])
def test_every_condition_has_a_runbook(condition: str) -> None:
    text = (RUNBOOKS / f"{condition}.md").read_text()
    for section in ("## What it means", "## Confirm", "## What to do"):
        assert section in text, f"docs/runbooks/{condition}.md lacks '{section}'"
    assert "kubectl" in text and "modelmonitor_" in text, "confirm with kubectl and PromQL"


def test_runbooks_follow_one_shape() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    for path in sorted(RUNBOOKS.glob("*.md")):
        if path.name == "README.md":
            continue
        text = path.read_text()
        assert text.startswith(f"# {path.stem}"), path.name
        for section in ("## What it means", "## Confirm", "## What to do"):
            assert section in text, f"{path.name} lacks '{section}'"
        assert f"({path.name})" in index, f"docs/runbooks/README.md does not list {path.name}"


def test_service_monitor_and_pod_monitor(full_docs: list[dict[str, Any]]) -> None:
    monitor = only(full_docs, "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["honorLabels"] is True
    service = only(full_docs, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    pods = only(full_docs, "PodMonitor")
    assert pods["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert pods["spec"]["podMetricsEndpoints"][0]["port"] == injection.ADMIN_PORT_NAME
    assert pods["spec"]["namespaceSelector"] == {"matchNames": ["ml", "ml-staging"]}
    everywhere = only(render(sets=("serviceMonitor.enabled=true",)), "PodMonitor")
    assert everywhere["spec"]["namespaceSelector"] == {"any": True}
    assert not [d for d in render() if d["apiVersion"].startswith("monitoring.coreos.com")]


def _dashboard(docs: list[dict[str, Any]]) -> dict[str, Any]:
    config_map = only(docs, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    return dict(json.loads(config_map["data"]["modelmonitor.json"]))


def test_grafana_dashboard_shows_latency_errors_drift_and_phase(full_docs: list[dict[str, Any]]) -> None:
    dashboard = _dashboard(full_docs)
    assert dashboard == json.loads((CHART / "dashboards" / "modelmonitor.json").read_text())
    exprs = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in dashboard["panels"]}
    joined = {title: " ".join(e) for title, e in exprs.items()}
    assert "modelmonitor_monitor_phase" in joined["Phase per monitor"]
    assert "modelmonitor_monitor_latency_p95_seconds" in joined["p95 latency"]
    assert "modelmonitor_monitor_error_rate" in joined["Error rate"]
    assert "by (namespace, monitor, feature, method)" in joined["Drift per feature"]
    assert "modelmonitor_sidecar_request_duration_seconds_bucket" in joined["Request latency p50 / p95 / p99"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_queries_are_valid_promql(tmp_path: Path, full_docs: list[dict[str, Any]]) -> None:
    """promtool parses each panel's query, as a recording rule (Grafana variables replaced)."""
    dashboard = _dashboard(full_docs)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    records = []
    for i, expr in enumerate(exprs):
        expr = re.sub(r"\$__rate_interval", "5m", expr)
        expr = re.sub(r"\$\w+", ".*", expr)
        records.append({"record": f"dashboard:query{i}", "expr": expr})
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": records}]}))
    proc = promtool("check", "rules", "dashboard.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_metric_names_exist_in_the_code() -> None:
    """Every metric an alert or panel uses is defined by the operator or the sidecar."""
    defined = set()
    for module in ("operator/metrics.py", "sidecar/metrics.py"):
        source = (ROOT / "operator" / "modelmonitor" / module).read_text()
        prefix = re.search(r'^PREFIX = "(\w+)"', source, re.MULTILINE)
        assert prefix, module
        # f"{PREFIX}_name", or the sidecar's _counter("name", ...) / _gauge("name", ...)
        found = re.findall(r'(?:f"\{PREFIX\}_|_counter\(\s*"|_gauge\(\s*")(\w+)"', source)
        defined |= {f"{prefix.group(1)}_{m}" for m in found}
    assert {"modelmonitor_monitor_phase", "modelmonitor_sidecar_requests"} <= defined
    text = json.dumps(rules()) + (CHART / "dashboards" / "modelmonitor.json").read_text()
    unknown = set()
    for name in set(re.findall(r"\b(modelmonitor_\w+)", text)):
        bases = {name} | {
            name[: -len(s)] for s in ("_total", "_bucket", "_count", "_sum") if name.endswith(s)
        }
        if not bases & defined:
            unknown.add(name)
    assert not unknown, f"metrics used by the chart but defined nowhere: {sorted(unknown)}"
