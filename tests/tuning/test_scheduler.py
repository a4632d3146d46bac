"""PinnedASHA (study/tuning/search.py): the study's first points run their whole budget; ASHA still stops
the trials Optuna proposes, against rungs that the pinned trials' results help fill."""

from __future__ import annotations

from types import SimpleNamespace

from search_spaces import load_study
from study.options import RunOptions
from study.plan import make_plan
from study.tuning.search import PinnedASHA, make_scheduler

PINNED = {"method": "lora", "r": 4}


def _scheduler() -> PinnedASHA:
    return PinnedASHA(
        [PINNED],
        time_attr="epoch",
        max_t=3,
        grace_period=1,
        reduction_factor=2,
        metric="overall",
        mode="max",
    )


def _trial(trial_id: str, config: dict) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, config=config)  # what ASHA reads of a Trial


def test_pinned_trials_continue_where_others_stop():
    sched = _scheduler()
    good = _trial("good", {"method": "lora", "r": 64})
    pinned = _trial("pinned", dict(PINNED))
    proposed = _trial("proposed", {"method": "lora", "r": 8})
    for t in (good, pinned, proposed):
        sched.on_trial_add(None, t)
    assert sched.on_trial_result(None, good, {"epoch": 1, "overall": 0.9}) == sched.CONTINUE
    # Both score below the rung's cutoff: ASHA stops the proposed trial, not the paper's row.
    assert sched.on_trial_result(None, proposed, {"epoch": 1, "overall": 0.1}) == sched.STOP
    assert sched.on_trial_result(None, pinned, {"epoch": 1, "overall": 0.1}) == sched.CONTINUE
    assert sched._num_stopped == 1
    # At max_t every trial stops, pinned or not: its budget is spent.
    assert sched.on_trial_result(None, pinned, {"epoch": 3, "overall": 0.1}) == sched.STOP


def test_lora_sweep_pins_its_table2_points(tmp_path):
    options = RunOptions(study="lora_sweep", out=str(tmp_path / "s"))
    plan = make_plan(load_study("lora_sweep"), options)
    sched = make_scheduler(plan)
    assert isinstance(sched, PinnedASHA)
    assert sched.pinned == [dict(p) for p in plan.spec.points_to_evaluate]
    assert len(sched.pinned) == 8
