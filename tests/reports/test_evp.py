"""The expected validation performance counts every search trial, an ASHA-stopped one at its
last epoch's validation score, per (study, method), with the pinned first points as a series of
their own; numbers by hand."""

from __future__ import annotations

import csv

import pytest

from reports.figures.evp import PINNED, PROPOSED, evp_figure, evp_series, write_evp_csv
from tests.reports.synthetic import record

POINTS = [{"method": "lora", "r": 2, "lr": 3e-4}, {"method": "lora", "r": 64, "lr": 3e-4}]


def _rows():
    pinned = [
        record("p0", 0, 0.70, val=0.71, r=2, params={"method": "lora", "r": 2, "lr": 3e-4}),
        record("p1", 0, 0.68, val=0.69, r=64, params={"method": "lora", "r": 64, "lr": 3e-4}),
    ]
    proposed = [
        record("t0", 0, 0.69, val=0.70, r=8, params={"method": "lora", "r": 8, "lr": 5e-4}),
        record("t1", 0, 0.0, val=0.60, r=4, status="stopped_early", params={"r": 4}),
        record("t2", 0, 0.71, val=0.72, r=32, params={"method": "lora", "r": 32, "lr": 2e-4}),
    ]
    other = [  # left out: a rerun, an errored trial
        record("x0", 1, 0.99, val=0.99, r=2, phase="rerun", params={"r": 2}),
        record("x1", 0, 0.0, val=None, r=16, status="errored", params={"r": 16}),
    ]
    order = [  # another study's search of the same method: its own curve
        record(f"o{i}", 0, v, val=v, study="multitask_order", mode="sequential", params={"i": i})
        for i, v in enumerate((0.65, 0.66))
    ]
    rows = [r.replace(study="lora_sweep") for r in pinned + proposed + other] + order
    return [r.replace(val_overall=None) if r.trial_id == "x1" else r for r in rows]


def test_the_stopped_trial_counts_and_the_pinned_points_are_their_own_series(tmp_path):
    series = evp_series(_rows(), {"lora_sweep": POINTS})
    got = {(s.study, s.series): s for s in series}
    assert set(got) == {
        ("lora_sweep", PINNED),
        ("lora_sweep", PROPOSED),
        ("multitask_order", PROPOSED),
    }
    proposed = got[("lora_sweep", PROPOSED)]
    assert proposed.trials == ("t0", "t1", "t2") and proposed.stopped == 1
    mean, _ = proposed.curve()
    assert mean[0] == pytest.approx((0.70 + 0.60 + 0.72) / 3)  # the stopped one pulls it down
    # best of 2 from {0.60, 0.70, 0.72}: P(max) = 1/9, 3/9, 5/9
    assert mean[1] == pytest.approx((0.60 + 3 * 0.70 + 5 * 0.72) / 9)
    assert got[("lora_sweep", PINNED)].trials == ("p0", "p1")
    assert "1 stopped early" in proposed.label

    path = write_evp_csv(series, tmp_path)
    lines = list(csv.DictReader(path.open()))
    mine = [x for x in lines if x["study"] == "lora_sweep" and x["series"] == PROPOSED]
    assert [int(x["n"]) for x in mine] == [1, 2, 3]
    assert float(mine[1]["expected_best"]) == pytest.approx(mean[1], abs=1e-6)
    assert mine[0]["trials"] == "t0 t1 t2" and mine[0]["method"] == "lora"

    fig = evp_figure(series)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "lora_sweep: LoRA, proposed (3 trials, 1 stopped early)" in labels
    assert any(label.startswith("multitask_order: LoRA") for label in labels)


def test_without_its_spec_every_search_trial_is_a_proposal():
    series = evp_series(_rows(), {})
    assert [s.series for s in series if s.study == "lora_sweep"] == [PROPOSED]
