"""The window's compact rows (shared name tuples, packed floats) give back what was captured."""

from __future__ import annotations

import json
import time

from modelmonitor.sidecar.window import Window


def test_values_come_back_with_their_types_and_missing_features_are_null() -> None:
    w = Window()
    now = time.time()
    w.add(now, "a", "v1", [{"x": 0.1, "y": 2.5}], [1], None)  # all floats: packed
    w.add(now, "b", "v1", [{"x": 1, "y": 2.0}], [0], None)  # an int stays an int
    w.add(now, "c", "v1", [{"y": "s", "z": None}], [1], None)  # another shape
    body = w.query(0)
    features = body["rows"]["features"]
    assert json.dumps(features) == json.dumps(
        {"x": [0.1, 1, None], "y": [2.5, 2.0, "s"], "z": [None, None, None]}
    )
    assert body["schema"] == {"x": "number", "y": "mixed", "z": "null"}
    assert w.rows[0].features == {"x": 0.1, "y": 2.5} and type(w.rows[1].features["x"]) is int
    assert w.rows[0].names is w.rows[1].names  # one name tuple shared by rows of one shape
