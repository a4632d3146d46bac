"""load_trials / load_epochs / `study export`: the flat table against trials.jsonl itself."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from study import load_epochs, load_trials
from study.records import EpochScores, append_record
from tests.conftest import PROJECT
from tests.reports.synthetic import record


@pytest.fixture
def folder(tmp_path):
    history = (EpochScores(epoch=1, overall=0.6, val_overall=0.61, losses={"sst": 1.2}),)
    rows = [
        record(
            "a",
            0,
            0.70,
            r=4,
            params={"r": 4},
            seconds=12.5,
            peak_rss_mb=900.0,
            history=history,
            time_split={"setup": 1.0, "train": 10.0},
        ),
        record("b", 1, 0.71, r=8, params={"r": 8, "seed": 1}, phase="rerun", seconds=13.0),
        record("c", 0, 0.0, r=2, params={"r": 2}, status="errored", error="boom"),
    ]
    for row in rows:
        append_record(tmp_path, row)
    return tmp_path


def test_one_row_per_trial_with_documented_columns_and_the_files_values(folder):
    df = load_trials(folder)
    raw = [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]
    assert list(df.trial_id) == [r["trial_id"] for r in raw]
    assert list(df.columns[:6]) == ["trial_id", "study", "phase", "status", "seed", "kind"]
    for column in (
        "overall",
        "val_overall",
        "seconds",
        "peak_rss_mb",
        "config.r",
        "params.r",
        "config.lr",
        "time_split.train",
        "epochs_run",
    ):
        assert column in df.columns, column
    assert "history" not in df.columns and "config" not in df.columns
    for i, row in enumerate(raw):
        assert df["config.r"][i] == row["config"]["r"] and df["params.r"][i] == row["params"]["r"]
        assert df.status[i] == row["status"] and df.phase[i] == row["phase"]
        assert (
            math.isnan(df.overall[i]) if row["overall"] is None else df.overall[i] == row["overall"]
        )
    assert df["params.seed"].tolist()[1] == 1 and df.seconds.tolist()[:2] == [12.5, 13.0]
    epochs = load_epochs(folder)
    assert epochs.trial_id.tolist() == ["a"] and epochs["losses.sst"].tolist() == [1.2]


def test_export_writes_the_same_table_and_a_bad_target_is_one_line(folder, tmp_path):
    out = tmp_path / "trials.csv"
    cmd = [sys.executable, "-m", "study", "export", str(folder), "--csv", str(out)]
    proc = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    written, table = pd.read_csv(out), load_trials(folder)
    assert list(written.columns) == list(table.columns) and len(written) == len(table)
    expected = pd.read_csv(io.StringIO(table.to_csv(index=False)))  # the same, through CSV
    pd.testing.assert_frame_equal(written, expected)
    assert written["config.r"].tolist() == [4, 8, 2]
    bad = subprocess.run(
        [*cmd[:4], str(tmp_path / "nothing"), "--csv", str(out)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no study at" in bad.stderr
