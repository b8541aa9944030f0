"""Generated bodies through every codec: decoding raises nothing but ``CodecError``, and is bounded.

The bodies are what a model's clients may send and what a model may answer: random bytes (not UTF-8,
not JSON), JSON of any shape, near-valid KServe v1/v2, MLflow and generic JSON payloads with wrong
types, huge or negative numbers, NaN and infinities, tensors whose shape and data disagree, and
nesting up to the JSON parser's own depth limit. They go the way capture takes them: the bytes are
parsed with :mod:`modelmonitor.sidecar.jsonfast` (its ``ValueError`` is the parse failure capture
counts), then decoded by :func:`codecs.decode` under every protocol setting.

Bounded means: at most ``MAX_ROWS`` rows, predictions aligned with the rows, and no more feature
cells than the request has values (a tiny body cannot make the codec build a huge result).
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelmonitor.sidecar import codecs, jsonfast
from modelmonitor.sidecar.config import PROTOCOLS

PATHS = ("/", "/predict", "/v1/models/m:predict", "/v2/models/m/infer", "/invocations", "/echo")
FUZZ = settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 1e308, -1e308, 2**63, 2**64 + 1, float("nan")]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
keys = st.one_of(
    st.sampled_from(["instances", "inputs", "outputs", "data", "shape", "name", "predictions"]),
    st.sampled_from(["probabilities", "columns", "dataframe_split", "dataframe_records", "records"]),
    st.text(max_size=6),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value nested up to 1,020 levels (orjson refuses beyond 1,024), lists or one-key objects."""
    value: Any = draw(scalars)
    key = draw(keys)
    shape = draw(st.sampled_from(["list", "object", "both"]))
    for level in range(draw(st.one_of(st.integers(1, 40), st.integers(900, 1020)))):
        as_list = shape == "list" or (shape == "both" and level % 2 == 0)
        value = [value] if as_list else {key: value}
    return value


anything = st.one_of(json_values, deep())
dims = st.one_of(st.integers(min_value=0, max_value=4), st.sampled_from([0, 2**31, 10**12, 2**62]))


@st.composite
def tensor(draw: st.DrawFn) -> Any:
    """A v2 tensor: consistent shape and data (dimensions may be 0 or huge when data is empty),
    or any field of it replaced by something else."""
    shape = draw(st.lists(dims, min_size=0, max_size=3))
    size = math.prod(shape) if shape else 1
    if size > 64:
        shape = [*shape, 0]
        size = 0
    flat = draw(st.lists(numbers, min_size=size, max_size=size))
    data: Any = flat
    if len(shape) == 2 and shape[1] and draw(st.booleans()):  # rows as nested lists
        data = [flat[i : i + shape[1]] for i in range(0, len(flat), shape[1])]
    out: dict[str, Any] = {
        "name": draw(st.sampled_from(["x", "predict", "predict_proba", "probabilities"])),
        "shape": shape,
        "datatype": draw(st.sampled_from(["FP64", "INT64", "BYTES", "BOOL"])),
        "data": data,
    }
    if draw(st.booleans()):
        cols = shape[1] if len(shape) == 2 and shape[1] <= 8 else 2
        out["parameters"] = {"columns": draw(st.lists(anything, min_size=cols, max_size=cols))}
    for field in draw(st.lists(st.sampled_from([*out, "parameters"]), max_size=2)):
        if draw(st.booleans()):
            out[field] = draw(anything)
        else:
            out.pop(field, None)
    return out


v1_requests = st.fixed_dictionaries(
    {
        "instances": st.one_of(
            st.lists(st.one_of(st.lists(numbers, max_size=4), json_values), max_size=6), anything
        )
    }
)
v1_responses = st.fixed_dictionaries(
    {"predictions": st.one_of(st.lists(st.lists(numbers, max_size=3), max_size=6), anything)}
)
v2_requests = st.fixed_dictionaries({"inputs": st.one_of(st.lists(tensor(), max_size=3), anything)})
v2_responses = st.fixed_dictionaries(
    {"outputs": st.one_of(st.lists(tensor(), max_size=3), anything)},
    optional={"model_version": anything},
)
mlflow_requests = st.one_of(
    st.fixed_dictionaries(
        {"dataframe_split": st.fixed_dictionaries({"columns": anything, "data": anything})}
    ),
    st.fixed_dictionaries({"dataframe_records": anything}),
    st.fixed_dictionaries({"inputs": st.one_of(st.dictionaries(keys, anything, max_size=4), anything)}),
)
requests = st.one_of(anything, v1_requests, v2_requests, mlflow_requests)
responses = st.one_of(anything, v1_responses, v2_responses)


def encode(value: Any) -> bytes:
    """JSON bytes as a client may send them (NaN and integers beyond 64 bits included); a value
    too deep for the encoder becomes a body deeper than the parser accepts."""
    try:
        return json.dumps(value).encode()
    except RecursionError:
        return b"[" * 2000 + b"]" * 2000


def values(tree: Any) -> int:
    """How many values (scalars, lists and objects) ``tree`` holds; iterative, for deep trees."""
    count, stack = 0, [tree]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
    return count


def check(protocol: str, path: str, request: Any, response: Any) -> None:
    """Decode; only CodecError may come out, and what comes out is bounded by what came in."""
    try:
        found = codecs.decode(protocol, path, request, response)
    except codecs.CodecError as exc:
        assert len(str(exc)) < 1000  # a message, not a dump of the body
        return
    rows = len(found.features)
    assert rows <= codecs.MAX_ROWS
    assert len(found.predictions) == rows
    assert found.probabilities is None or len(found.probabilities) == rows
    assert all(isinstance(r, dict) and all(isinstance(k, str) for k in r) for r in found.features)
    assert sum(len(r) for r in found.features) <= values(request)
    assert found.model_version is None or isinstance(found.model_version, str)


@FUZZ
@given(protocol=st.sampled_from(PROTOCOLS), path=st.sampled_from(PATHS), request=requests, response=responses)
def test_decoded_values_raise_only_codec_error(protocol: str, path: str, request: Any, response: Any) -> None:
    check(protocol, path, request, response)


@FUZZ
@given(
    protocol=st.sampled_from(PROTOCOLS),
    path=st.sampled_from(PATHS),
    request=st.one_of(st.binary(max_size=64), requests.map(encode)),
    response=st.one_of(st.binary(max_size=64), responses.map(encode)),
    cut=st.integers(min_value=0, max_value=8),
)
def test_bodies_parse_or_fail_then_decode(
    protocol: str, path: str, request: bytes, response: bytes, cut: int
) -> None:
    """Bytes as capture reads them: cut short, not UTF-8, not JSON; parse failure is ValueError."""
    parsed = []
    for body in (request, response[: len(response) - cut] if cut else response):
        try:
            parsed.append(jsonfast.loads(body))
        except ValueError:
            return
    check(protocol, path, *parsed)


def test_nesting_at_the_parser_limit_is_a_codec_error_not_a_recursion_error() -> None:
    deepest = jsonfast.loads(b"[" * 1000 + b"1" + b"]" * 1000)
    ok = {"name": "x", "shape": [1], "data": [1]}
    cases = [
        ({"inputs": [{"name": "x", "shape": [1], "data": deepest}]}, {"outputs": [ok]}),
        ({"inputs": [{"name": deepest, "shape": [1], "data": [1]}]}, {"outputs": [ok]}),
        ({"inputs": [{"name": "x", "shape": deepest, "data": [1]}]}, {"outputs": [ok]}),
        ({"inputs": [ok]}, {"outputs": [ok], "model_version": deepest}),
        (
            {"inputs": [{**ok, "shape": [1, 2], "data": [1, 2], "parameters": {"columns": [deepest, 1]}}]},
            {"outputs": [ok]},
        ),
    ]
    for request, response in cases:
        check("kserve-v2", "/", request, response)
    check("mlflow", "/", {"dataframe_split": {"columns": [deepest], "data": [[1]]}}, {"predictions": [1]})


def test_an_empty_output_tensor_of_huge_shape_is_not_expanded() -> None:
    """shape [10**12, 0] holds no values; its rows must not be built one by one."""
    found = codecs.decode(
        "kserve-v2",
        "/",
        {"inputs": [{"name": "x", "shape": [2], "data": [1, 2]}]},
        {"outputs": [{"name": "predict", "shape": [10**12, 0], "datatype": "FP64", "data": []}]},
    )
    assert found.predictions == [[], []]
