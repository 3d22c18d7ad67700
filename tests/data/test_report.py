"""The representativeness report on a small, hand-computed example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpscout import DataError
from hpscout.data import (
    Subset,
    SubsetSet,
    format_report,
    length_stats,
    make_subsets,
    representativeness,
    total_variation,
)

pytest.importorskip("pyarrow")

# 10 rows: labels 0 x6 then 1 x4; text of row i has i+1 characters.
DATA = {"text": ["x" * (i + 1) for i in range(10)], "label": [0] * 6 + [1] * 4}
# A subset of rows 0, 1, 6, 7, 8: labels 0, 0, 1, 1, 1 (shares 0.4 / 0.6), lengths 1, 2, 7, 8, 9.
HAND = SubsetSet(
    rows=10,
    seed=0,
    stratify=("label",),
    strata={"0": 6, "1": 4},
    subsets=(Subset(0.5, np.array([0, 1, 6, 7, 8]), {"0": 2, "1": 3}),),
)


def test_total_variation_by_hand():
    assert total_variation({"0": 0.6, "1": 0.4}, {"0": 0.4, "1": 0.6}) == pytest.approx(0.2)
    assert total_variation({"a": 1.0}, {"b": 1.0}) == 1.0
    assert total_variation({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0.0


def test_report_figures_by_hand():
    rep = representativeness(DATA, HAND)
    assert rep["text_column"] == "text" and rep["by"] == ["label"] and rep["rows"] == 10
    assert rep["full"]["shares"] == {"0": 0.6, "1": 0.4}
    sub = rep["subsets"][0]
    assert sub["size"] == 5 and sub["fraction"] == 0.5
    assert sub["shares"] == {"0": 0.4, "1": 0.6}
    assert sub["tvd"] == pytest.approx(0.2)  # 0.5 x (|0.6-0.4| + |0.4-0.6|)
    # lengths 1..10: mean 5.5; linear quantiles q10 = 1 + 0.9 = 1.9, q50 = 5.5, q90 = 9.1
    assert rep["full"]["length"] == pytest.approx({"mean": 5.5, "q10": 1.9, "q50": 5.5, "q90": 9.1})
    # lengths 1, 2, 7, 8, 9: mean 5.4; q10 = 1 + 0.4 x 1 = 1.4, q50 = 7, q90 = 8 + 0.6 x 1 = 8.6
    assert sub["length"] == pytest.approx({"mean": 5.4, "q10": 1.4, "q50": 7.0, "q90": 8.6})


def test_report_recomputes_shares_on_other_keys():
    unstratified = SubsetSet(
        rows=10,
        seed=0,
        stratify=(),
        strata={"all": 10},
        subsets=(Subset(0.5, np.array([0, 1, 6, 7, 8]), {"all": 5}),),
    )
    rep = representativeness(DATA, unstratified, "text", by=["label"])
    assert rep["subsets"][0]["shares"] == {"0": 0.4, "1": 0.6}
    assert rep["subsets"][0]["tvd"] == pytest.approx(0.2)
    assert representativeness(DATA, unstratified)["subsets"][0]["tvd"] == 0.0  # one stratum "all"


def test_report_of_a_drawn_set_and_its_table():
    ss = make_subsets(DATA, [0.5], stratify="label", seed=3)
    rep = representativeness(DATA, ss)
    assert rep["subsets"][0]["tvd"] == 0.0  # 3 of 6 and 2 of 4 keep the shares exactly
    table = format_report(rep)
    assert "TVD vs full" in table and "share label=0" in table and "text chars mean" in table
    assert "0.6000" in table


def test_report_without_text_and_bad_rows():
    labels = np.array([0] * 6 + [1] * 4)
    ss = make_subsets(labels, [0.5], seed=0)
    rep = representativeness(labels, ss)
    assert rep["text_column"] is None and rep["full"]["length"] is None
    assert "chars" not in format_report(rep)
    with pytest.raises(DataError, match="11 rows"):
        representativeness(np.zeros(11, dtype=int), ss)


def test_length_stats_empty():
    stats = length_stats(np.array([], dtype=int))
    assert math.isnan(stats["mean"])
