"""A resumed study unpickles the StudyRecorder an earlier release saved in Tune's experiment
state: a callback without the attributes this release added must still work."""

from __future__ import annotations

from search_spaces import load_study
from study.options import RunOptions
from study.plan import make_plan
from study.tuning.recorder import StudyRecorder


def test_a_recorder_from_an_earlier_release_still_prints_progress(tmp_path, capsys):
    plan = make_plan(
        load_study("smoke"), RunOptions(study="smoke", scale="smoke", out=str(tmp_path))
    )
    recorder = StudyRecorder(plan, "rerun", points=3)
    del recorder.total  # as unpickled from a release before it existed
    recorder._progress([])
    assert "[smoke reruns" in capsys.readouterr().err
