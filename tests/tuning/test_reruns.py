"""Which configurations get seed reruns: the paper rows, then the top_k by validation."""

from __future__ import annotations

import dataclasses

from search_spaces import load_study
from study.options import RunOptions
from study.plan import make_plan
from study.records import TrialRecord
from study.tuning.reruns import params_key, rerun_points


def _plan(tmp_path, study: str = "lora_sweep", **changes):
    plan = make_plan(load_study(study), RunOptions(study=study, out=str(tmp_path / "s")))
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


def test_one_seed_has_no_reruns_and_only_the_first_points_that_ran_get_seeds(tmp_path):
    assert rerun_points(_plan(tmp_path, seeds=1), []) == []
    plan = _plan(tmp_path, seeds=2, top_k=0, samples=3)  # 3 of the 8 paper rows ran
    first = [dict(p) for p in plan.spec.points_to_evaluate[:3]]
    points = rerun_points(plan, [_searched(p, 0.6) for p in first])
    assert [params_key(p) for p in points] == [params_key(p) for p in first]


def test_a_merge_study_reruns_its_first_points_and_each_merge_methods_best_lambda(tmp_path):
    """λ is searched with the first stage-1 seed's adapters; the paper's points and the best λ
    of each merge method by validation then merge every other seed's adapters."""
    plan = _plan(tmp_path, "merge", seeds=3)
    first = [dict(p) for p in plan.spec.points_to_evaluate]
    lam = {"lambda_sst": 0.5, "lambda_para": 0.2, "lambda_sts": 0.9, "density": 1.0}
    fedavg = [{"merge_method": "fedavg", **lam}, {"merge_method": "fedavg", **lam, "density": 0.5}]
    ties = {"merge_method": "ties", **lam, "density": 0.3}
    records = [_searched(p, 0.6) for p in first]
    records += [_searched(fedavg[0], 0.8), _searched(fedavg[1], 0.9), _searched(ties, 0.7)]
    points = rerun_points(plan, records)
    keys = list(dict.fromkeys(params_key(p) for p in points))
    assert keys == [params_key(p) for p in [*first, fedavg[1], ties]]
    assert sorted({p["seed"] for p in points}) == [1, 2] and len(points) == 2 * 10
