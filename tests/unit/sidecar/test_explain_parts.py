"""The explainer's parts without processes: spec.explain reaches the sidecar's settings through the
injected environment (and adds nothing while off), the budget is a token bucket, the number explained
is picked from each protocol's answer, and a batch re-encoded from a captured request decodes to the
same rows with the codec that decoded the request."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.sidecar import codecs, reencode
from modelmonitor.sidecar.config import ConfigError, add_arguments, resolve
from modelmonitor.sidecar.explain import TokenBucket, output
from modelmonitor.workload.injection import sidecar_container
from tests.unit.workload.test_injection import IMAGE, deployment


def sidecar_env(explain: dict[str, Any]) -> dict[str, str]:
    spec = ModelMonitorSpec.model_validate({"target": {"deployment": "credit-scoring"}, "explain": explain})
    container = sidecar_container(spec, deployment(), image=IMAGE, monitor="mm")
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env.pop("MODELMONITOR_ADMIN_TOKEN_FILE")  # mounted from the Secret in a pod
    return env


def settings(env: dict[str, str]) -> Any:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return resolve(parser.parse_args([]), env)


def test_spec_explain_reaches_the_sidecar_and_adds_nothing_while_off() -> None:
    assert not [k for k in sidecar_env({}) if k.startswith("MODELMONITOR_EXPLAIN_")]
    env = sidecar_env(
        {"sampleRate": 0.25, "maxModelCallsPerMinute": 12, "background": 40, "maxRowsPerCall": 5000}
    )
    config = settings(env)
    assert (config.explain_sample_rate, config.explain_calls_per_minute) == (0.25, 12)
    assert (config.explain_background, config.explain_max_rows) == (40, 5000)
    assert settings({"MODELMONITOR_UPSTREAM": "http://127.0.0.1:1"}).explain_sample_rate == 0.0
    with pytest.raises(ConfigError, match="--explain-max-rows 10"):
        settings({**env, "MODELMONITOR_EXPLAIN_MAX_ROWS": "10"})


def test_the_budget_is_spread_over_the_minute_not_spent_at_once() -> None:
    now = [0.0]
    bucket = TokenBucket(3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, False, False]
    now[0] = 19.0  # 3 a minute: one token every 20 s
    assert not bucket.take()
    now[0] = 20.0
    assert bucket.take() and not bucket.take()
    now[0] = 1000.0  # idle for long: one token (at least one, else a second's worth), not more
    assert sum(bucket.take() for _ in range(10)) == 1
    busy = TokenBucket(600, clock=lambda: now[0])  # 10 a second, bursts of 10
    assert sum(busy.take() for _ in range(100)) == 10
    taken = 0
    for _ in range(600):  # a minute of demand, every 0.1 s: the minute's 600, not more
        now[0] += 0.1
        taken += sum(busy.take() for _ in range(100))
    assert 599 <= taken <= 600


def test_the_number_explained_is_the_positive_class_a_probability_or_the_prediction() -> None:
    assert output(1, [0.3, 0.7], None) == ("probabilities[1]", 0.7)
    assert output(2, [0.1, 0.2, 0.7], 1) == ("probabilities[1]", 0.2)  # the explained row's class
    assert output(0, 0.42, None) == ("probability", 0.42)
    assert output(3.5, None, None) == ("prediction", 3.5)
    assert output("approve", None, None) is None


ROWS = [{"a": 1.0, "b": "x"}, {"a": 2.5, "b": "y"}, {"a": -1.0, "b": "z"}]


@pytest.mark.parametrize(
    ("protocol", "path", "request_body"),
    [
        ("kserve-v1", "/v1/models/m:predict", {"instances": [{"a": 0.0, "b": "q"}], "parameters": {"k": 1}}),
        ("kserve-v1", "/v1/models/m:predict", {"instances": [[0.0, "q"]]}),
        ("kserve-v2", "/v2/models/m/infer", {"id": "1", "inputs": [
            {"name": "a", "shape": [1], "datatype": "FP64", "data": [0.0]},
            {"name": "b", "shape": [1], "datatype": "BYTES", "data": ["q"]}]}),
        ("kserve-v2", "/v2/models/m/infer", {"inputs": [{"name": "t", "shape": [1, 2], "datatype": "FP64",
            "data": [[0.0, 1.0]], "parameters": {"columns": ["a", "b"]}}]}),
        ("mlflow", "/invocations", {"dataframe_split": {"columns": ["a", "b"], "data": [[0.0, "q"]], "index": [0]}}),
        ("mlflow", "/invocations", {"dataframe_records": [{"a": 0.0, "b": "q"}]}),
        ("mlflow", "/invocations", {"inputs": {"a": [0.0], "b": ["q"]}}),
        ("json", "/predict", {"records": [{"a": 0.0, "b": "q"}]}),
        ("json", "/predict", [{"a": 0.0, "b": "q"}]),
    ],
)  # fmt: skip
def test_a_batch_in_the_requests_own_shape_decodes_to_the_same_rows(
    protocol: str, path: str, request_body: Any
) -> None:
    decode = codecs._DECODERS[protocol]  # the request side of the codec capture used
    rows = [{name: r[k] for name, k in zip(decode(request_body)[0], r, strict=True)} for r in ROWS]
    body = reencode.encode(protocol, request_body, rows)
    assert codecs.sniff(path, body) == protocol
    assert decode(body) == rows
    if isinstance(request_body, dict):  # the request's other keys go along
        assert {k for k in request_body if k != "dataframe_split"} <= set(body)


def test_a_single_json_record_has_no_batch_form_and_says_why() -> None:
    assert reencode.check("json", {"a": 1.0, "b": "q"}) == "single_record"
    assert reencode.check("json", [{"a": 1.0}]) is None
    with pytest.raises(reencode.Unencodable, match="send records as a list"):
        reencode.encode("json", {"a": 1.0}, ROWS)
