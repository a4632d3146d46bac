"""`study bench --asha DIR`: the trial-epochs ASHA saved in a study folder."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from study.bench.asha import asha_savings
from study.bench.main import run
from study.options import BenchOptions
from study.records import TrialRecord
from tests.conftest import PROJECT


def _row(trial_id, status, epochs_run, overall, epochs=4, history=None):
    return {
        "trial_id": trial_id,
        "status": status,
        "config": {"epochs": epochs},
        "epochs_run": epochs_run,
        "overall": overall,
        "history": history or [],
    }


def test_asha_savings_counts_epochs_and_checks_the_best():
    best_curve = [{"epoch": e, "overall": 0.5 + 0.05 * e} for e in range(1, 5)]  # 0.55 .. 0.70
    rows = [
        _row("a", "completed", 4, 0.70, history=best_curve),
        _row("b", "completed", 4, 0.60),
        _row("c", "stopped_early", 1, 0.40),
        _row("d", "stopped_early", 2, 0.58),  # at epoch 2 the best had 0.60: behind
        _row("e", "errored", 1, None),
        {"trial_id": "m", "status": "completed", "config": {"method": "ties"}, "overall": 0.9},
    ]
    s = asha_savings([TrialRecord.from_dict(r) for r in rows])
    assert (s["trials"], s["completed"], s["stopped_early"], s["errored"]) == (4, 2, 2, 1)
    assert s["trial_epochs_budget"] == 16 and s["trial_epochs_run"] == 11
    assert s["saved_fraction"] == pytest.approx(5 / 16)
    assert s["best_trial"] == "a" and s["best_survived"] is True
    assert s["stopped_ahead_of_best"] == []

    # a stopped trial that was ahead of the eventual best when ASHA stopped it
    rows.append(_row("f", "stopped_early", 1, 0.72))
    s = asha_savings([TrialRecord.from_dict(r) for r in rows])
    assert s["best_survived"] is False and s["stopped_ahead_of_best"] == ["f"]
    assert s["trial_epochs_budget"] == 20 and s["trial_epochs_run"] == 12

    empty = asha_savings([])
    assert empty["trials"] == 0 and empty["saved_fraction"] == 0.0 and not empty["best_survived"]


def test_bench_asha_option_reports_a_study_folder(tmp_path, capsys):
    rows = [_row("a", "completed", 2, 0.6, epochs=2), _row("b", "stopped_early", 1, 0.5, epochs=2)]
    (tmp_path / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "asha.json"
    assert run(BenchOptions(json=str(out), quick=False, asha=str(tmp_path))) == 0
    saved = json.loads(out.read_text())["asha"]
    assert saved["trial_epochs_run"] == 3 and saved["trial_epochs_budget"] == 4
    assert "saved 25%" in capsys.readouterr().out
    # the same through the command line, and a folder without trials.jsonl: exit 2, one line
    cli = [sys.executable, "-m", "study", "bench", "--asha"]
    proc = subprocess.run([*cli, str(tmp_path)], capture_output=True, text=True, cwd=PROJECT)
    assert proc.returncode == 0 and "saved 25%" in proc.stdout, proc.stderr
    proc = subprocess.run([*cli, str(tmp_path / "no")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "trials.jsonl" in proc.stderr
