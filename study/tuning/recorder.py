"""Driver side of a study: one trials.jsonl row per finished trial, and a live progress line.

`study_record` and `progress_line` are pure functions of plain values; StudyRecorder is the Tune
callback that calls them.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray import tune

from model.spec import TASKS
from study.metrics import METRICS
from study.records import Status, TrialRecord, append_record, best, read_records
from study.records.running import mark_finished, mark_running
from study.tuning.reruns import RERUN, SEED
from study.tuning.resources import PendingWatch

if TYPE_CHECKING:  # built by study/plan.py; the tuning layer only reads it
    from study.plan import StudyPlan

PHASE_LABELS = {"search": "", "rerun": " reruns", "decide": " decide phase"}
WAIT_NOTE_EVERY_S = 30.0  # how often a trial that waits for resources is named again


def study_record(
    plan: StudyPlan,
    trial_id: str,
    params: dict[str, Any],
    status: Status,
    error: str | None,
    result: dict[str, Any],
    checkpoint_path: str | None,
    phase: str = "search",
) -> TrialRecord:
    """The trial's own record (its last report) with the study's bookkeeping added."""
    params = trial_params(params)
    record = TrialRecord.from_json(result["record"]) if result.get("record") else TrialRecord()
    record = record.replace(
        phase=phase,
        study=plan.spec.name,
        trial_id=trial_id,
        status=status,
        error=error,
        kind=plan.spec.kind,
        config=row_config(plan, params),
        seed=params.get(SEED, plan.base.seed),
        params=dict(params),
        seconds=record.seconds or result.get("time_total_s"),
        adapter_dir=checkpoint_path if status is Status.COMPLETED else None,
        node_id=result.get("node_id"),
        worker_pid=result.get("worker_pid"),
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    if status is Status.ERRORED:  # whatever it reported before failing is not a result
        record = record.replace(**dict.fromkeys(METRICS))
    return record


def trial_params(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's params from its Tune config (a rerun's are nested under RERUN)."""
    return dict(config.get(RERUN, config))


def row_config(plan: StudyPlan, params: dict[str, Any]) -> dict[str, Any]:
    """The full config of a trial; a merge trial's is the stage-1 base plus its recipe."""
    if plan.spec.kind == "merge":
        lambdas = [params.get(f"lambda_{t}") for t in TASKS]
        return {
            **plan.base.to_dict(),
            "seed": params.get(SEED, plan.base.seed),  # the stage-1 adapters' seed
            "merge_method": params.get("merge_method"),
            "lambdas": lambdas,
            "density": params.get("density"),
        }
    return plan.base.replace(**params).to_dict()


def progress_line(
    plan: StudyPlan,
    rows: list[TrialRecord],
    running: int,
    minutes: float,
    waiting: list[str] = (),
    total: int | None = None,
    phase: str = "search",
) -> str:
    """[study 3.2 min] 5/14 done: 3 completed, 1 stopped early, 1 errored; 1 running | best ...
    and, for trials pending longer than a minute, what each waits for. `rows` are the phase's;
    total: the phase's trial count (the search's is plan.samples)."""
    count = Counter(r.status for r in rows)
    top = best(rows)
    best_txt = "best -"
    if top is not None:
        which = "val" if top.val_overall is not None else "dev"
        score = top.selection_score()
        best_txt = f"best {which} overall {score:.4f} ({top.trial_id}: {top.params})"
    wait_txt = "".join(f" | {w} (cluster busy, or nodes still being added)" for w in waiting)
    return (
        f"[{plan.spec.name}{PHASE_LABELS.get(phase, ' ' + phase)} {minutes:5.1f} min] "
        f"{len(rows)}/{plan.samples if total is None else total} done: "
        f"{count[Status.COMPLETED]} completed, {count[Status.STOPPED_EARLY]} stopped early, "
        f"{count[Status.ERRORED]} errored; {running} running | {best_txt}{wait_txt}"
    )


def error_line(error_file: str | None) -> str:
    """Last line of the trial's traceback, e.g. 'NonFiniteLossError: non-finite loss ...'."""
    text = ""
    if error_file and os.path.isfile(error_file):
        text = Path(error_file).read_text(errors="replace")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "trial failed (no error message)"


class StudyRecorder(tune.Callback):
    """One trials.jsonl row per finished trial, and a live progress line."""

    def __init__(self, plan: StudyPlan, phase: str = "search", points: int | None = None) -> None:
        """points: the trials this experiment runs (a grid of reruns or decide trials); the
        progress line counts them after the phase's rows already recorded."""
        self.plan, self.phase = plan, phase
        self.total = None
        if points is not None:
            earlier = sum(r.phase == phase for r in read_records(plan.study_dir))
            self.total = earlier + points
        self.started = time.time()
        self.pending = PendingWatch()
        self.noted = 0.0

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        """A trial still pending after a minute is named, every 30 s, while it waits."""
        waiting = self.pending.waiting(trials)
        if waiting and time.time() - self.noted >= WAIT_NOTE_EVERY_S:
            self.noted = time.time()
            self._progress(trials, waiting)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        mark_running(self.plan.study_dir, trial.trial_id, self.phase, trial_params(trial.config))

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        self._progress(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        final = (trial.last_result or {}).get("final")
        self._record(trial, Status.COMPLETED if final else Status.STOPPED_EARLY, None)
        self._progress(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial, Status.ERRORED, error_line(getattr(trial, "error_file", None)))
        self._progress(trials)

    def _record(self, trial: Any, status: Status, error: str | None) -> None:
        mark_finished(self.plan.study_dir, trial.trial_id)
        # Read the file, not memory: a restored driver unpickles this callback with old state.
        if trial.trial_id in {r.trial_id for r in read_records(self.plan.study_dir)}:
            return
        checkpoint = getattr(trial, "checkpoint", None)
        record = study_record(
            self.plan,
            trial.trial_id,
            trial.config,
            status,
            error,
            trial.last_result or {},
            checkpoint.path if checkpoint else None,
            self.phase,
        )
        append_record(self.plan.study_dir, record)

    def _progress(self, trials: list, waiting: list[str] = ()) -> None:
        rows = [r for r in read_records(self.plan.study_dir) if r.phase == self.phase]
        done = {r.trial_id for r in rows}
        running = sum(t.status == "RUNNING" and t.trial_id not in done for t in trials)
        minutes = (time.time() - self.started) / 60
        # getattr: a restored experiment unpickles the callback an earlier release made
        total = getattr(self, "total", None)
        if total is None and self.phase != "search":  # a restored grid: the trials Tune knows
            total = len(trials)
        line = progress_line(self.plan, rows, running, minutes, waiting, total, self.phase)
        print(line, file=sys.stderr, flush=True)
