"""Task metrics and the overall score, checked against every row of the paper's tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from study.metrics import accuracy, overall_score, pearson, task_score

PAPER_TABLES = Path(__file__).resolve().parents[2] / "study" / "reference" / "paper_tables.csv"
# Inputs and the printed overall are rounded to 3 decimals: at most
# (0.0005 + 0.0005 + 0.0005 / 2) / 3 from the inputs plus 0.0005 from the overall itself.
ROUNDING = (0.0005 + 0.0005 + 0.00025) / 3 + 0.0005 + 1e-9


def _paper_rows() -> list[dict]:
    return pd.read_csv(PAPER_TABLES).to_dict("records")


@pytest.mark.parametrize(
    "row", _paper_rows(), ids=lambda r: f"t{r['table']}-{r['method']}-{r['r']}-{r['order']}"
)
def test_overall_reproduces_paper(row):
    got = overall_score(row["sst"], row["para"], row["sts"])
    assert abs(got - row["overall"]) <= ROUNDING, (got, row["overall"])


def test_paper_table_is_complete():
    frame = pd.read_csv(PAPER_TABLES)
    assert len(frame) == 19
    assert set(frame["table"]) == {1, 2, 3}
    assert frame[["sst", "para", "sts", "overall"]].notna().all().all()


def test_overall_endpoints():
    assert overall_score(1.0, 1.0, 1.0) == 1.0
    assert overall_score(0.0, 0.0, -1.0) == 0.0
    assert overall_score(0.5, 0.5, 0.0) == pytest.approx(0.5)


def test_accuracy_and_pearson():
    assert accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75
    rng = np.random.default_rng(0)
    gold = rng.uniform(0, 5, 200)
    pred = gold + rng.normal(0, 1, 200)
    assert pearson(pred, gold) == pytest.approx(pd.Series(pred).corr(pd.Series(gold)))
    assert pearson(-pred, gold) == pytest.approx(-pearson(pred, gold))
    assert pearson(np.full(10, 2.5), rng.uniform(0, 5, 10)) == 0.0  # constant -> 0, not NaN


def test_task_score_picks_metric():
    gold = np.array([0.0, 1.0, 2.0, 3.0])
    assert task_score("sts", gold * 2 + 1, gold) == pytest.approx(1.0)
    assert task_score("sst", np.array([0, 1, 2, 0]), gold.astype(int)) == 0.75
    assert task_score("para", np.array([1, 1]), np.array([1, 0])) == 0.5
