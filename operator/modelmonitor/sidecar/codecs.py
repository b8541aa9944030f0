"""Payload codecs: from a decoded request and response to feature rows, predictions, probabilities.

Supported protocols (``auto`` sniffs the path first, then the request's keys):

- ``kserve-v1``: ``{"instances": [...]}`` (or ``"inputs"``) -> ``{"predictions": [...]}``.
  An instance that is a list gets feature names ``f0..fN``; a dict keeps its keys.
- ``kserve-v2`` (Open Inference Protocol): ``{"inputs": [{"name", "shape", "datatype", "data"}]}``
  -> ``{"outputs": [...], "model_version": ...}``. A single 2-D tensor gives ``f0..fN`` (or its
  ``parameters.columns`` / ``feature_names``); several tensors give one feature each (``name`` or
  ``name_j`` for extra columns). An output whose name contains ``prob`` holds probabilities.
- ``mlflow``: ``dataframe_split`` (columns + data), ``dataframe_records``, ``inputs``/``instances``
  (list or dict of columns) -> ``{"predictions": [...]}`` or a bare list.
- ``json``: a record, a list of records, or ``{"data"|"records"|"features": ...}`` ->
  ``prediction(s)``/``probabilities``/``score`` keys, a bare list or a scalar.

A prediction that is a probability vector (numbers in [0, 1] summing to 1) becomes ``probabilities``
with the arg-max as the prediction; a dict prediction is read for ``prediction|label|class|score``
and ``probabilities|probability|scores``.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

MAX_ROWS = 10_000  # rows taken from one request; the rest are counted but not captured
MAX_DIMS = 32  # tensor dimensions read; deeper data is refused (it would exhaust the stack)
_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 40, 40, 8, 8


class CodecError(ValueError):
    """The payload does not have the shape the protocol expects."""


@dataclass
class Extracted:
    """What a codec found in one request/response pair; lists are aligned by row."""

    protocol: str
    features: list[dict[str, Any]]
    predictions: list[Any]
    probabilities: list[Any] | None = None
    model_version: str | None = None


def sniff(path: str, request: Any) -> str:
    """Guess the protocol from the URL path, then from the request's shape."""
    if path.startswith("/v2/"):
        return "kserve-v2"
    if path.startswith("/v1/models/"):
        return "kserve-v1"
    if path.startswith("/invocations"):
        return "mlflow"
    if isinstance(request, dict):
        inputs = request.get("inputs")
        if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict) and "datatype" in inputs[0]:
            return "kserve-v2"
        if "dataframe_split" in request or "dataframe_records" in request:
            return "mlflow"
        if "instances" in request:
            return "kserve-v1"
    return "json"


def decode(protocol: str, path: str, request: Any, response: Any) -> Extracted:
    """Extract rows and predictions; raises :class:`CodecError` on a payload of another shape."""
    if protocol == "auto":
        protocol = sniff(path, request)
    decoder = _DECODERS.get(protocol)
    if decoder is None:
        raise CodecError(f"unknown protocol {protocol!r}")
    features = decoder(request)[:MAX_ROWS]
    if protocol == "kserve-v2":
        preds, probs, version = _v2_outputs(response)
    else:
        preds, probs = _predictions(response)
        version = None
    n = len(features)
    preds = _align(preds, n)
    out_probs = _align(probs, n) if probs is not None else None
    return Extracted(protocol, features, preds, out_probs, version)


def _align(values: list[Any], n: int) -> list[Any]:
    if len(values) == n:
        return values
    if len(values) > n:
        return values[:n]
    return values + [None] * (n - len(values))


def _named(row: Any) -> dict[str, Any]:
    if isinstance(row, dict):
        return row
    if isinstance(row, list | tuple):
        return {f"f{i}": v for i, v in enumerate(row)}
    return {"f0": row}


# requests -------------------------------------------------------------------------------------------
def _v1_request(request: Any) -> list[dict[str, Any]]:
    if not isinstance(request, dict):
        raise CodecError("a KServe v1 request is a JSON object with 'instances'")
    rows = request.get("instances", request.get("inputs"))
    if not isinstance(rows, list):
        raise CodecError("a KServe v1 request needs an 'instances' list")
    return [_named(r) for r in rows[:MAX_ROWS]]


def _flatten(data: Any, depth: int = 0) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if data and isinstance(data[0], list):
        if depth >= MAX_DIMS:
            raise CodecError(f"tensor data is nested deeper than {MAX_DIMS} dimensions")
        flat: list[Any] = []
        for item in data:
            flat.extend(_flatten(item, depth + 1))
        return flat
    return data


def _show(value: Any) -> str:
    """A short repr for messages: bounded in length and depth, whatever the client sent."""
    return _REPR.repr(value)


def _name(value: Any, what: str) -> str:
    """A tensor or column name: a JSON scalar as text (a list or object is no name)."""
    if isinstance(value, list | dict):
        raise CodecError(f"{what} must be a string, got {_show(value)}")
    return str(value)


def _tensor(t: Any) -> tuple[str, int, int, list[Any]]:
    """(name, rows, columns, flat data) of a v2 tensor given as a dict."""
    if not isinstance(t, dict) or "data" not in t:
        raise CodecError("a KServe v2 tensor is an object with name, shape, datatype and data")
    name = _name(t.get("name", "input"), "a tensor's name")
    data = _flatten(t["data"])
    shape = t.get("shape") or [len(data)]
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMS
        or not all(isinstance(s, int) and s >= 0 for s in shape)
    ):
        raise CodecError(f"tensor {name!r} has an invalid shape {_show(shape)}")
    rows = shape[0] if shape else 1
    cols = 1
    for s in shape[1:]:
        cols *= s
    if rows * cols != len(data):
        raise CodecError(f"tensor {name!r}: shape {_show(shape)} does not match {len(data)} values")
    return name, rows, cols, data


def _v2_request(request: Any) -> list[dict[str, Any]]:
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
        raise CodecError("a KServe v2 request is an object with a non-empty 'inputs' list of tensors")
    tensors = [_tensor(t) for t in request["inputs"]]
    n = tensors[0][1]
    if any(rows != n for _, rows, _, _ in tensors):
        raise CodecError("KServe v2 input tensors disagree on the batch size (first dimension)")
    n = min(n, MAX_ROWS)
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    if len(tensors) == 1 and tensors[0][2] > 1:
        name, _, cols, data = tensors[0]
        params = request["inputs"][0].get("parameters") or {}
        names = params.get("columns") or params.get("feature_names") if isinstance(params, dict) else None
        if (
            not isinstance(names, list)
            or len(names) != cols
            or any(isinstance(c, list | dict) for c in names)
        ):
            names = [f"f{j}" for j in range(cols)]
        for i in range(n):
            base = i * cols
            rows[i] = {str(names[j]): data[base + j] for j in range(cols)}
        return rows
    for name, _, cols, data in tensors:
        for i in range(n):
            if cols == 1:
                rows[i][name] = data[i]
            else:
                for j in range(cols):
                    rows[i][f"{name}_{j}"] = data[i * cols + j]
    return rows


def _columns(columns: Any, data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise CodecError("'dataframe_split' needs a 'data' list of rows")
    if columns is None:
        return [_named(r) for r in data[:MAX_ROWS]]
    if not isinstance(columns, list):
        raise CodecError("'dataframe_split.columns' must be a list")
    names = [_name(c, "a column name") for c in columns]
    out = []
    for r in data[:MAX_ROWS]:
        if not isinstance(r, list):
            raise CodecError("'dataframe_split.data' rows must be lists")
        out.append(dict(zip(names, r, strict=False)))
    return out


def _dict_of_columns(cols: dict[str, Any]) -> list[dict[str, Any]]:
    lists = {k: v if isinstance(v, list) else [v] for k, v in cols.items()}
    n = min((len(v) for v in lists.values()), default=0)
    return [{k: v[i] for k, v in lists.items()} for i in range(min(n, MAX_ROWS))]


def _mlflow_request(request: Any) -> list[dict[str, Any]]:
    if not isinstance(request, dict):
        raise CodecError("an MLflow request is an object with dataframe_split, dataframe_records or inputs")
    if "dataframe_split" in request:
        split = request["dataframe_split"]
        if not isinstance(split, dict):
            raise CodecError("'dataframe_split' must be an object with columns and data")
        return _columns(split.get("columns"), split.get("data"))
    if "dataframe_records" in request:
        records = request["dataframe_records"]
        if not isinstance(records, list):
            raise CodecError("'dataframe_records' must be a list of records")
        return [_named(r) for r in records[:MAX_ROWS]]
    inputs = request.get("inputs", request.get("instances"))
    if isinstance(inputs, dict):
        return _dict_of_columns(inputs)
    if isinstance(inputs, list):
        return [_named(r) for r in inputs[:MAX_ROWS]]
    raise CodecError("an MLflow request needs dataframe_split, dataframe_records, inputs or instances")


def _json_request(request: Any) -> list[dict[str, Any]]:
    if isinstance(request, dict):
        for key in ("records", "data", "features", "instances", "inputs"):
            inner = request.get(key)
            if isinstance(inner, list) and (not inner or isinstance(inner[0], dict | list)):
                return [_named(r) for r in inner[:MAX_ROWS]]
            if isinstance(inner, dict) and len(request) == 1:
                return [inner]
        return [request]
    if isinstance(request, list):
        return [_named(r) for r in request[:MAX_ROWS]]
    raise CodecError("a JSON request must be a record (object) or a list of records")


_DECODERS = {
    "kserve-v1": _v1_request,
    "kserve-v2": _v2_request,
    "mlflow": _mlflow_request,
    "json": _json_request,
}


# responses ------------------------------------------------------------------------------------------
_PRED_KEYS = ("prediction", "predictions", "label", "class", "score", "output", "outputs", "result")
_PROB_KEYS = ("probabilities", "probability", "probas", "proba", "scores")


_RESPONSE_PRED_KEYS = (
    "predictions",
    "prediction",
    "outputs",
    "output",
    "result",
    "results",
    "scores",
    "score",
    "label",
)
_RESPONSE_PROB_KEYS = ("probabilities", "probability", "probas")


def _is_probvec(value: Any) -> bool:
    if not isinstance(value, list) or len(value) < 2:
        return False
    total = 0.0
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
            return False
        total += v
    return abs(total - 1.0) < 1e-3


def _argmax(values: list[Any]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _split_one(p: Any) -> tuple[Any, Any]:
    """(prediction, probabilities or None) of one row's output."""
    if isinstance(p, dict):
        pred = next((p[k] for k in _PRED_KEYS if k in p), None)
        prob = next((p[k] for k in _PROB_KEYS if k in p), None)
        if pred is None and prob is None:
            return p, None
        if pred is None and isinstance(prob, list) and _is_probvec(prob):
            pred = _argmax(prob)
        return pred, prob
    if _is_probvec(p):
        return _argmax(p), p
    return p, None


def _predictions(response: Any) -> tuple[list[Any], list[Any] | None]:
    """Predictions and probabilities of a v1, MLflow or generic JSON response."""
    probs: Any = None
    if isinstance(response, dict):
        values = None
        for k in _RESPONSE_PRED_KEYS:  # a loop, not next(generator): this runs for every capture
            if k in response:
                values = response[k]
                break
        for k in _RESPONSE_PROB_KEYS:
            if k in response:
                probs = response[k]
                break
        if values is None and probs is None:
            values = [response]
        elif values is None:
            values = []
    else:
        values = response
    if not isinstance(values, list):
        values = [values]
        if probs is not None:
            probs = [probs]
    preds: list[Any] = []
    found: list[Any] = []
    any_prob = False
    for v in values:
        pred, prob = _split_one(v)
        preds.append(pred)
        found.append(prob)
        any_prob = any_prob or prob is not None
    if isinstance(probs, list):
        if not preds:
            preds = [_split_one(p)[0] if _is_probvec(p) else None for p in probs]
        return preds, probs
    return preds, (found if any_prob else None)


def _v2_outputs(response: Any) -> tuple[list[Any], list[Any] | None, str | None]:
    if not isinstance(response, dict) or not isinstance(response.get("outputs"), list):
        raise CodecError("a KServe v2 response is an object with an 'outputs' list")
    version = response.get("model_version")
    preds: list[Any] | None = None
    probs: list[Any] | None = None
    for t in response["outputs"]:
        name, rows, cols, data = _tensor(t)
        # at most MAX_ROWS rows: a shape such as [10**12, 0] holds no values but as many empty rows
        values = data if cols == 1 else [data[i * cols : (i + 1) * cols] for i in range(min(rows, MAX_ROWS))]
        if "prob" in name.lower():
            probs = probs or values
        elif preds is None:
            preds = values
    if preds is None:
        preds = [_split_one(p)[0] for p in probs] if probs else []
    if version is None or isinstance(version, list | dict):  # a version is a string (or a number)
        return preds, probs, None
    return preds, probs, str(version)
