"""Seed reruns: after the search, the configurations a report compares run again with other
seeds, so every comparison has paired seeds and an interval.

Chosen: every first point of the study that ran (the paper's rows), then the top_k other
configurations of the search by validation score; or, with StudySpec.rerun_best_of, the best
configuration of each value of one parameter (each method's best, each merge method's best λ). Each gets seeds base+1 .. base+seeds-1; its search run is
seed base. Reruns are ordinary trials of a second Tune experiment (NAME-reruns), never stopped
early, recorded in trials.jsonl with phase "rerun"; resume and faults work as for the search.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from study.records import TrialRecord, rank_configurations

if TYPE_CHECKING:  # built by study/plan.py; the tuning layer only reads it
    from study.plan import StudyPlan

SEED = "seed"
RERUN = "rerun"  # a rerun trial's Tune config: {"rerun": params}
RERUNS = "-reruns"  # the rerun experiment's name suffix


def params_key(params: dict[str, Any]) -> str:
    """A proposal's identity: its sampled values without the seed."""
    return json.dumps({k: v for k, v in params.items() if k != SEED}, sort_keys=True)


def rerun_points(plan: StudyPlan, records: list[TrialRecord]) -> list[dict[str, Any]]:
    """The params of every rerun trial, in order: the first points that ran (the paper's rows,
    unless the spec says otherwise), then the best of each value of rerun_best_of, or else the
    top_k. A merge study's seed is its stage-1 adapters' seed (study/merge/stage1.py)."""
    if plan.seeds < 2:
        return []
    search = [r for r in records if r.phase == "search"]
    ranked = [c.best_record for c in rank_configurations(search)]  # the one best() ranks by
    spec = plan.spec
    chosen = [dict(p) for p in spec.points_to_evaluate[: plan.samples]]
    if not spec.rerun_first_points:
        chosen = []
    keys = {params_key(p) for p in chosen}

    def add(params: dict[str, Any]) -> bool:
        key = params_key(params)
        if key in keys:
            return False
        keys.add(key)
        chosen.append(dict(params))
        return True

    if spec.rerun_best_of:  # the best of each value of the parameter (ranked is best first)
        values: set[str] = set()
        for record in ranked:
            value = json.dumps(record.params.get(spec.rerun_best_of))
            if value not in values:
                values.add(value)
                add({k: v for k, v in record.params.items() if k != SEED})
    else:
        extra = 0
        for record in ranked:
            if extra >= plan.top_k:
                break
            extra += add({k: v for k, v in record.params.items() if k != SEED})
    base = plan.base.seed
    return [{**p, SEED: base + s} for p in chosen for s in range(1, plan.seeds)]
