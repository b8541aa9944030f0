"""Several figures in one query: each part tagged with its figure, the answer split back by the tag."""

from __future__ import annotations

import pytest

from modelmonitor.policy.combined import FIGURE_LABEL, combine, split


def test_each_figure_is_tagged_and_the_parts_joined_with_or() -> None:
    query = combine({"a": "sum(x)", "b": "(sum(y) or vector(0)) / sum(z)"})
    assert query == (
        f'label_replace(sum(x), "{FIGURE_LABEL}", "a", "", "") or '
        f'label_replace((sum(y) or vector(0)) / sum(z), "{FIGURE_LABEL}", "b", "", "")'
    )
    with pytest.raises(ValueError, match="figure name 'a\"b'"):
        combine({'a"b': "sum(x)"})


def test_the_answer_is_split_by_figure_without_the_tag() -> None:
    result = [
        {"metric": {FIGURE_LABEL: "a"}, "value": [1.0, "2"]},
        {"metric": {FIGURE_LABEL: "c", "pod": "p1"}, "value": [1.0, "NaN"]},
        {"metric": {FIGURE_LABEL: "c", "pod": "p2"}, "value": [1.0, "3"]},
    ]
    assert split(result, ["a", "b", "c"]) == {
        "a": [{"metric": {}, "value": [1.0, "2"]}],
        "b": [],  # no series: absent from the answer
        "c": [
            {"metric": {"pod": "p1"}, "value": [1.0, "NaN"]},
            {"metric": {"pod": "p2"}, "value": [1.0, "3"]},
        ],
    }


@pytest.mark.parametrize(
    "result",
    [[1.0, "3"], {"a": 1}, [{"metric": {}, "value": [1.0, "1"]}], [{"metric": {FIGURE_LABEL: "z"}}]],
    ids=["scalar", "not-a-list", "untagged", "unasked"],
)
def test_an_answer_that_is_no_vector_of_the_figures_asked_is_refused(result: object) -> None:
    with pytest.raises(ValueError, match=r"^unexpected query result: "):
        split(result, ["a"])
