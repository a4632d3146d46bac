"""`study status`: read from the folder alone, during a study (its lock held by a live process)
and after it (or a crash: the lock is free, running.json still names the lost trials)."""

from __future__ import annotations

import subprocess
import sys

from study.folder_lock import hold_study_folder
from study.records import StudyMeta, append_record, write_meta
from study.records.running import mark_finished, mark_running, read_running
from study.status import status_text
from tests.conftest import PROJECT
from tests.reports.synthetic import record

FLOORS = {"sst": 0.282, "para": 0.764, "sts": 0.832, "overall": 0.654}


def _study(folder):  # noqa: ANN001, ANN202
    write_meta(
        folder,
        StudyMeta(
            study="mine", samples=4, baseline={"dev": FLOORS}, recipe={"version": 2, "seeds": 3}
        ),
    )
    for trial_id, seed, r, val, dev in (
        ("a", 0, 4, 0.70, 0.69),
        ("b", 1, 4, 0.72, 0.71),
        ("c", 0, 8, 0.75, 0.60),
    ):
        params = {"r": r} | ({"seed": seed} if seed else {})
        append_record(
            folder,
            record(
                trial_id,
                seed,
                dev,
                val=val,
                r=r,
                params=params,
                phase="rerun" if seed else "search",
            ),
        )
    append_record(folder, record("d", 0, 0.0, r=2, params={"r": 2}, status="errored"))


def test_status_during_a_study_names_what_runs_and_ranks_on_validation(tmp_path):
    _study(tmp_path)
    mark_running(tmp_path, "e", "search", {"r": 16, "lr": 0.00031234})
    with hold_study_folder(tmp_path):  # as the study's driver holds it
        text = status_text(tmp_path, now=read_running(tmp_path)["e"]["started_unix"] + 90)
    lines = text.splitlines()
    assert lines[0] == f"study mine at {tmp_path}" and lines[1].startswith("  running: pid ")
    assert "trials: 4 finished (3 completed, 0 stopped_early, 1 errored)" in text
    assert "1 running now:" in text and "  e (search, 1.5 min): lr=0.0003123 r=16" in text
    top = [ln for ln in lines if ln.startswith("  1. ") or ln.startswith("  2. ")]
    assert top[0].startswith("  1. val 0.7500  dev 0.6000  seeds [0]  r=8")  # on validation
    assert top[1].startswith("  2. val 0.7100  dev 0.7000  seeds [0, 1]  r=4")
    assert "floors (no training, dev): sst 0.282  para 0.764  sts 0.832  overall 0.654" in text
    assert "left to run: search 1 of 4" in text  # 3 search rows (one errored) of 4


def test_after_a_crash_it_says_not_running_and_names_the_lost_trials(tmp_path):
    _study(tmp_path)
    mark_running(tmp_path, "e", "rerun", {"r": 4, "seed": 2})
    mark_running(tmp_path, "f", "rerun", {"r": 8, "seed": 1})
    mark_finished(tmp_path, "f")
    proc = subprocess.run(
        [sys.executable, "-m", "study", "status", str(tmp_path), "--top-k", "1"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "not running (no live process holds it)" in proc.stdout
    assert "1 were running when it stopped (--resume runs them again):" in proc.stdout
    assert "  e (rerun," in proc.stdout and "  f (" not in proc.stdout
    assert "  2. " not in proc.stdout  # --top-k 1
    bad = subprocess.run(
        [sys.executable, "-m", "study", "status", str(tmp_path / "none")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "no study at" in bad.stderr and bad.stderr.count("\n") == 1


def test_status_before_the_first_trial_finishes_reads_study_json(tmp_path):
    write_meta(tmp_path, StudyMeta(study="mine", samples=4, baseline={"dev": FLOORS}))
    mark_running(tmp_path, "a", "search", {"r": 4})
    with hold_study_folder(tmp_path):
        text = status_text(tmp_path)
    assert "trials: 0 finished" in text and "1 running now:" in text
    assert "no completed trial yet" in text and "left to run: search 4 of 4" in text
