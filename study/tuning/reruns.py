"""Seed reruns: after the search, the configurations a report compares run again with other
seeds, so every comparison has paired seeds and an interval.

Chosen: every first point of the study (the paper's rows) and the top_k other configurations
of the search by validation score; or, with StudySpec.rerun_best_of, the best configuration of
each value of one parameter (each method's best). Each gets seeds base+1 .. base+seeds-1; its search run is
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
    """The params of every rerun trial, in order: paper rows first, then the top_k."""
    if plan.seeds < 2 or plan.spec.kind != "train":
        return []
    search = [r for r in records if r.phase == "search"]
    ranked = [c.best_record for c in rank_configurations(search)]  # the one best() ranks by
    base = plan.base.seed
    by = plan.spec.rerun_best_of
    if by:  # the best of each value of `by` (ranked is best first)
        best: dict[str, dict[str, Any]] = {}
        for record in ranked:
            best.setdefault(json.dumps(record.params.get(by)), dict(record.params))
        return [{**p, SEED: base + s} for p in best.values() for s in range(1, plan.seeds)]
    chosen = [dict(p) for p in plan.spec.points_to_evaluate]
    keys = {params_key(p) for p in chosen}
    extra = 0
    for record in ranked:
        if extra >= plan.top_k:
            break
        key = params_key(record.params)
        if key not in keys:
            keys.add(key)
            chosen.append(dict(record.params))
            extra += 1
    return [{**p, SEED: base + s} for p in chosen for s in range(1, plan.seeds)]
