"""Chi-square equals scipy's chi2_contingency; labels keep integer categories stable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelmonitor.drift.categorical import chi_square, count_against, labels, pad


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([400, 300, 200, 100], [380, 330, 190, 100]),
        ([50, 30], [20, 40]),  # 2 x 2: Yates' correction, like scipy's default
        ([500, 300, 200, 0], [450, 250, 250, 50]),  # a category unseen in the reference
        ([10, 0, 5], [7, 0, 9]),  # a category empty on both sides is dropped
    ],
)
def test_chi_square_equals_scipy(ref: list[int], cur: list[int]) -> None:
    stat, pval, dof = chi_square(np.array([ref]), np.array([cur]))
    table = np.array([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    expected = stats.chi2_contingency(table)
    assert stat[0] == pytest.approx(expected.statistic, abs=1e-9)
    assert pval[0] == pytest.approx(expected.pvalue, abs=1e-9)
    assert dof[0] == expected.dof


def test_chi_square_vectorised_rows_with_padding() -> None:
    rows_ref = [np.array([30, 40, 30]), np.array([60, 40])]
    rows_cur = [np.array([20, 50, 30]), np.array([55, 45])]
    stat, _, _ = chi_square(pad(rows_ref), pad(rows_cur))
    for j in range(2):
        expected = stats.chi2_contingency(np.array([rows_ref[j], rows_cur[j]]))
        assert stat[j] == pytest.approx(expected.statistic, abs=1e-9)


def test_single_category_has_no_test() -> None:
    stat, pval, dof = chi_square(np.array([[100]]), np.array([[80]]))
    assert np.isnan(stat[0]) and np.isnan(pval[0]) and dof[0] == 0


def test_labels_of_int_column_with_missing_values_match_int_labels() -> None:
    as_int = labels(pd.Series([1, 2, 3]))
    as_float = labels(pd.Series([1.0, np.nan, 3.0]))
    assert as_int.tolist() == ["1", "2", "3"]
    assert as_float.iloc[0] == "1" and pd.isna(as_float.iloc[1]) and as_float.iloc[2] == "3"
    as_objects = labels(pd.Series([1.0, None, 3], dtype=object))
    assert as_objects.iloc[0] == "1" and pd.isna(as_objects.iloc[1]) and as_objects.iloc[2] == "3"


def test_count_against_reports_unseen_by_name() -> None:
    series = pd.Series(["a", "b", "new", None, "new", "other"])
    counts = count_against(series, ["a", "b", "c"], pooled=False)
    assert counts.counts.tolist() == [1, 1, 0, 2, 1]
    assert counts.unseen == ["new", "other"]
    assert counts.unseen_rows.tolist() == [False, False, True, False, True, True]
    assert counts.missing == 1
    pooled = count_against(series, ["a", "b", "c"], pooled=True)
    assert pooled.counts.tolist() == [1, 1, 0, 3]
    assert pooled.unseen == []


def test_arrow_strings_are_counted_like_any_other_column() -> None:
    """Missing values, empty strings, ties and non-ASCII labels: the Arrow count gives the profile the
    generic (factorised) count gives, category order included."""
    pytest.importorskip("pyarrow")
    from modelmonitor.drift.profile import categorical_profile

    values = ["b", "", None, "é", "a", "b", "", "a", None, "z", "é", "b"]
    arrow = pd.Series(values, dtype=pd.StringDtype("pyarrow"))
    generic = pd.Series(values, dtype=object)
    for limit, categories in ((None, ["b", "", "é", "a", "z"]), (2, ["b", ""])):
        got, want = categorical_profile(arrow, limit), categorical_profile(generic, limit)
        assert got.categories == want.categories == categories  # ties in order of appearance
        assert got.counts.tolist() == want.counts.tolist()
        assert (got.count, got.missing, got.other) == (want.count, want.missing, want.other)


def test_arrow_strings_are_counted_against_a_reference_like_any_other_column() -> None:
    """Known, unseen (flagged per row) and missing values, with and without an "(other)" bucket."""
    pytest.importorskip("pyarrow")
    values = ["a", None, "new", "b", "a", "", "new", "zz", None]
    arrow = pd.Series(values, dtype=pd.StringDtype("pyarrow"))
    generic = pd.Series(values, dtype=object)
    for categories in (["a", "b", ""], ["a", "b", "", "new", "zz"]):
        for pooled in (False, True):
            got, want = count_against(arrow, categories, pooled), count_against(generic, categories, pooled)
            assert got.counts.tolist() == want.counts.tolist()
            assert (got.unseen, got.missing) == (want.unseen, want.missing)
            assert got.unseen_rows.tolist() == want.unseen_rows.tolist()
    assert count_against(arrow, ["a", "b", ""], False).unseen == ["new", "zz"]
