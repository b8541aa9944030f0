"""Feature rows back into a request body of the protocol a captured request used (for explanations).

The inverse of the request side of ``codecs.py``, shaped after the captured request itself: the same
top-level keys, the same key holding the rows (``instances`` or ``inputs``; ``records``, ``data``...),
rows as objects or as positional lists as the request sent them, KServe v2 tensors with the same
names, datatypes and parameters (the first dimension set to the new batch size, data flat),
MLflow ``dataframe_split`` with its columns (no index), ``dataframe_records`` or ``inputs``. A JSON
request of a single record has no batch form and is refused (reason ``single_record``). Rows must have the keys (and key order) the codec gave the
captured request's rows. :func:`check` says, cheaply, why a request cannot be re-encoded.
"""

from __future__ import annotations

from typing import Any

JSON_KEYS = ("records", "data", "features", "instances", "inputs")  # as codecs._json_request reads them


class Unencodable(ValueError):
    """The request's shape cannot be rebuilt with other rows; ``reason`` is a metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check(protocol: str, request: Any) -> str | None:
    """The reason (a metric label) ``request`` cannot be re-encoded, or None when it can."""
    try:
        _layout(protocol, request)
    except Unencodable as exc:
        return exc.reason
    return None


def _layout(protocol: str, request: Any) -> tuple[str, Any]:
    """(how the rows are laid out, the original rows or tensors) of a request."""
    if protocol == "kserve-v1":
        key = "instances" if isinstance(request, dict) and "instances" in request else "inputs"
        if not isinstance(request, dict) or not isinstance(request.get(key), list) or not request[key]:
            raise Unencodable("shape", "a KServe v1 request without an instances list")
        return f"list:{key}", request[key]
    if protocol == "kserve-v2":
        inputs = request.get("inputs") if isinstance(request, dict) else None
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, dict) for t in inputs):
            raise Unencodable("shape", "a KServe v2 request without input tensors")
        return "tensors", inputs
    if protocol == "mlflow":
        if not isinstance(request, dict):
            raise Unencodable("shape", "an MLflow request that is not an object")
        if isinstance(request.get("dataframe_split"), dict):
            return "split", request["dataframe_split"]
        if isinstance(request.get("dataframe_records"), list) and request["dataframe_records"]:
            return "list:dataframe_records", request["dataframe_records"]
        key = "inputs" if "inputs" in request else "instances"
        inner = request.get(key)
        if isinstance(inner, dict):
            return f"columns:{key}", inner
        if isinstance(inner, list) and inner:
            return f"list:{key}", inner
        raise Unencodable("shape", "an MLflow request without rows")
    if protocol == "json":
        if isinstance(request, list) and request:
            return "bare", request
        if isinstance(request, dict):
            for key in JSON_KEYS:
                inner = request.get(key)
                if isinstance(inner, list) and inner and isinstance(inner[0], dict | list):
                    return f"list:{key}", inner
            # One record per request has no batch form of its own: a list sent to an endpoint that
            # takes one record would be refused (and counted as errors by the model's own metrics).
            raise Unencodable(
                "single_record",
                "a JSON request of one record has no batch form: send records as a list (or use the "
                "kserve-v1, kserve-v2 or mlflow protocol) to have them explained",
            )
        raise Unencodable("shape", "a JSON request that is neither a record nor a list of records")
    raise Unencodable("protocol", f"protocol {protocol!r} cannot be re-encoded")


def _item(template: Any, row: dict[str, Any]) -> Any:
    """One row in the form of the request's first row: an object, a positional list or a scalar."""
    if isinstance(template, dict):
        return row
    values = list(row.values())
    if isinstance(template, list | tuple):
        return values
    if len(values) != 1:
        raise Unencodable("shape", "scalar rows with more than one feature")
    return values[0]


def encode(protocol: str, request: Any, rows: list[dict[str, Any]]) -> Any:
    """A request body like ``request`` carrying ``rows`` instead of its own."""
    layout, original = _layout(protocol, request)
    kind, _, key = layout.partition(":")
    if kind == "tensors":
        return {**request, "inputs": _tensors(original, rows)}
    if kind == "split":
        columns = original.get("columns")
        data = [list(r.values()) for r in rows]
        return {
            **{k: v for k, v in request.items() if k != "dataframe_split"},
            "dataframe_split": {"columns": columns, "data": data} if columns is not None else {"data": data},
        }
    if kind == "columns":
        names = list(rows[0]) if rows else []
        return {**request, key: {name: [r[name] for r in rows] for name in names}}
    items = [_item(original[0], r) for r in rows]
    if kind == "bare":
        return items
    return {**request, key: items}


def _tensors(inputs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    m = len(rows)
    first = inputs[0]
    shape = first.get("shape") or []
    if len(inputs) == 1 and len(shape) > 1 and _cols(shape) > 1:
        data = [v for r in rows for v in r.values()]
        return [{**first, "shape": [m, *shape[1:]], "data": data}]
    out = []
    for t in inputs:
        name = str(t.get("name", "input"))
        tshape = t.get("shape") or [0]
        cols = _cols(tshape)
        names = [name] if cols == 1 else [f"{name}_{j}" for j in range(cols)]
        data = [r[k] for r in rows for k in names]
        out.append({**t, "shape": [m, *tshape[1:]], "data": data})
    return out


def _cols(shape: list[Any]) -> int:
    cols = 1
    for s in shape[1:]:
        cols *= int(s)
    return cols
