"""Which configurations get seed reruns: the paper rows, then the top_k by validation."""

from __future__ import annotations

import dataclasses

from search_spaces import load_study
from study.options import RunOptions
from study.plan import make_plan
from study.records import TrialRecord
from study.tuning.reruns import params_key, rerun_points


def _plan(tmp_path, **changes):
    plan = make_plan(
        load_study("lora_sweep"), RunOptions(study="lora_sweep", out=str(tmp_path / "s"))
    )
    return dataclasses.replace(plan, **changes)


def _searched(params: dict, val: float, status: str = "completed") -> TrialRecord:
    record = TrialRecord(params=params, config=dict(params), val_overall=val, overall=0.5)
    return record.replace(status=status, phase="search")


def test_paper_rows_then_the_best_k_other_configurations_get_seeds(tmp_path):
    plan = _plan(tmp_path, seeds=3, top_k=2)
    first = [dict(p) for p in plan.spec.points_to_evaluate]
    proposed = [{**first[0], "r": 8, "lr": x} for x in (1e-4, 2e-4, 3e-4, 4e-4)]
    records = [_searched(p, 0.6) for p in first]
    records += [_searched(proposed[0], 0.90), _searched(proposed[1], 0.95)]
    records += [_searched(proposed[2], 0.99, "stopped_early"), _searched(proposed[3], 0.10)]
    points = rerun_points(plan, records)
    keys = [params_key(p) for p in points]
    expected = [params_key(p) for p in first + [proposed[1], proposed[0]]]
    assert list(dict.fromkeys(keys)) == expected  # a stopped-early trial is never chosen
    assert [p["seed"] for p in points[:2]] == [1, 2] and len(points) == 2 * 10
    assert plan.seeds == 3 and plan.metrics == ("val_overall",)


def test_one_seed_or_a_merge_study_has_no_reruns(tmp_path):
    assert rerun_points(_plan(tmp_path, seeds=1), []) == []
