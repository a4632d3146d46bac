"""running.json: the trials a study is running now (trials.jsonl holds finished ones only).

The driver's StudyRecorder adds a trial when Tune starts it and drops it when it finishes or
errors, rewriting the small file atomically each time, so `study status` can read it during a
study, after a crash and on a copy. After a crash it still names the trials that were running:
their work was lost, and `--resume` runs them again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from study.atomic import read_json, write_json_atomic

RUNNING = "running.json"


def read_running(study_dir: str | Path) -> dict[str, dict[str, Any]]:
    """trial_id -> {"started_unix", "phase", "params"}; {} without the file."""
    path = Path(study_dir) / RUNNING
    if not path.is_file():
        return {}
    data = read_json(path)
    trials = data.get("trials", {})
    return trials if isinstance(trials, dict) else {}


def mark_running(study_dir: str | Path, trial_id: str, phase: str, params: dict) -> None:
    trials = read_running(study_dir)
    trials[trial_id] = {"started_unix": time.time(), "phase": phase, "params": params}
    write_json_atomic(Path(study_dir) / RUNNING, {"trials": trials})


def mark_finished(study_dir: str | Path, trial_id: str) -> None:
    trials = read_running(study_dir)
    if trials.pop(trial_id, None) is not None:
        write_json_atomic(Path(study_dir) / RUNNING, {"trials": trials})
