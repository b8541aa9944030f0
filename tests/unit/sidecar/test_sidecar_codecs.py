"""Payload codecs: rows, predictions and probabilities per protocol, and sniffing."""

from __future__ import annotations

import pytest

from modelmonitor.demo.data import make_payload, make_rows
from modelmonitor.demo.model import DemoModel
from modelmonitor.sidecar import codecs

MODEL = DemoModel("credit", "v3", 0, 0, 0, 0)


@pytest.mark.parametrize("protocol", ["kserve-v1", "kserve-v2", "mlflow", "json"])
def test_demo_model_payloads_decode_to_the_same_rows(protocol: str) -> None:
    rows = make_rows(4, seed=2)
    request = make_payload(protocol, rows)
    response = MODEL.respond(protocol, request)
    path = {"kserve-v1": "/v1/models/credit:predict", "kserve-v2": "/v2/models/credit/infer"}.get(
        protocol, "/x"
    )
    for proto in (protocol, "auto"):
        found = codecs.decode(proto, path if proto == "auto" else "/", request, response)
        assert found.protocol == protocol or (proto != "auto" and found.protocol == proto)
        assert found.features == rows
        assert len(found.predictions) == 4
        assert all(p in (0, 1) for p in found.predictions)
    if protocol in ("kserve-v1", "kserve-v2"):
        assert found.probabilities is not None and all(len(p) == 2 for p in found.probabilities)
    if protocol == "kserve-v2":
        assert found.model_version == "v3"


def test_v1_list_instances_get_positional_names() -> None:
    found = codecs.decode("kserve-v1", "/", {"instances": [[1, 2], [3, 4]]}, {"predictions": [0.1, 0.9]})
    assert found.features == [{"f0": 1, "f1": 2}, {"f0": 3, "f1": 4}]
    assert found.predictions == [0.1, 0.9] and found.probabilities is None


def test_v2_single_matrix_tensor_and_column_names() -> None:
    req = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]}
    resp = {
        "outputs": [
            {"name": "probabilities", "shape": [2, 2], "datatype": "FP32", "data": [0.2, 0.8, 0.6, 0.4]}
        ]
    }
    found = codecs.decode("auto", "/v2/models/m/infer", req, resp)
    assert found.features == [{"f0": 1, "f1": 2, "f2": 3}, {"f0": 4, "f1": 5, "f2": 6}]
    assert found.probabilities == [[0.2, 0.8], [0.6, 0.4]] and found.predictions == [1, 0]
    req["inputs"][0]["parameters"] = {"columns": ["a", "b", "c"]}
    nested = {"outputs": [{"name": "out", "shape": [2], "datatype": "INT64", "data": [[7], [8]]}]}
    found = codecs.decode("kserve-v2", "/", req, nested)
    assert found.features[1] == {"a": 4, "b": 5, "c": 6} and found.predictions == [7, 8]


def test_v2_shape_mismatch_is_a_codec_error() -> None:
    req = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2]}]}
    with pytest.raises(codecs.CodecError, match="shape"):
        codecs.decode("kserve-v2", "/", req, {"outputs": []})


def test_mlflow_records_and_inputs_and_bare_list_response() -> None:
    recs = codecs.decode("mlflow", "/", {"dataframe_records": [{"a": 1}, {"a": 2}]}, [5, 6])
    assert recs.features == [{"a": 1}, {"a": 2}] and recs.predictions == [5, 6]
    cols = codecs.decode("mlflow", "/", {"inputs": {"a": [1, 2], "b": ["x", "y"]}}, {"predictions": [1, 0]})
    assert cols.features == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    recs2 = codecs.decode(
        "mlflow", "/", {"instances": [[1, 2]]}, {"predictions": [{"label": 3, "scores": [0.1]}]}
    )
    assert (
        recs2.features == [{"f0": 1, "f1": 2}] and recs2.predictions == [3] and recs2.probabilities == [[0.1]]
    )


def test_json_shapes() -> None:
    one = codecs.decode("json", "/", {"a": 1}, {"prediction": 1, "probability": 0.7})
    assert one.features == [{"a": 1}] and one.predictions == [1] and one.probabilities == [0.7]
    wrapped = codecs.decode("json", "/", {"records": [{"a": 1}, {"a": 2}]}, [0, 1])
    assert wrapped.features == [{"a": 1}, {"a": 2}] and wrapped.predictions == [0, 1]
    scalar = codecs.decode("json", "/", [{"a": 1}], 0.3)
    assert scalar.predictions == [0.3]
    with pytest.raises(codecs.CodecError):
        codecs.decode("json", "/", "text", {})


def test_sniffing_by_path_then_body() -> None:
    assert codecs.sniff("/v1/models/m:predict", {}) == "kserve-v1"
    assert codecs.sniff("/v2/models/m/infer", {}) == "kserve-v2"
    assert codecs.sniff("/invocations", {}) == "mlflow"
    assert codecs.sniff("/x", {"inputs": [{"name": "a", "datatype": "FP32", "data": [1]}]}) == "kserve-v2"
    assert codecs.sniff("/x", {"dataframe_split": {}}) == "mlflow"
    assert codecs.sniff("/x", {"instances": []}) == "kserve-v1"
    assert codecs.sniff("/x", {"a": 1}) == "json"


def test_misaligned_predictions_are_padded() -> None:
    found = codecs.decode("kserve-v1", "/", {"instances": [[1], [2], [3]]}, {"predictions": [1]})
    assert found.predictions == [1, None, None]
