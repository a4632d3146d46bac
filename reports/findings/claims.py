"""A verdict on each qualitative claim of the paper (reports/findings/verdicts.py has the rules).

Every comparison is at the paper's exact point: its method, r, targets and bias, and its
learning rate (the method's default, the rate of the paper's rows). Where several full
configurations still match (e.g. another number of epochs set by hand), the one with most seeds
is used, then the first by configuration key, never by the order of trials.jsonl. Trials are
paired by seed, and only the paired ones are listed. A claim whose study has no rows is
"not run", with the command that runs it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from reports import paper_reference as ref
from reports.findings.verdicts import Finding, combine, judge, judge_tukey, not_run
from reports.rows import config, learning_rate, merge_setting, mode, task_order
from reports.stats import MIN_EFFECT, MIN_PAIRS, tukey_intervals
from study.config import DEFAULT_LR
from study.records import TrialRecord, config_key

RANKS = (2, 4, 16, 64)  # Table 2, rows 1-4
SLOPE_EFFECT = MIN_EFFECT / math.log2(RANKS[-1] / RANKS[0])
"""E of the rank trend, per doubling of r: MIN_EFFECT over the 5 doublings from 2 to 64."""


def at_paper_point(rows: list[TrialRecord], **match: Any) -> dict[int, TrialRecord]:
    """seed -> completed row of the configuration at the paper's point (module docstring):
    the config fields in `match`, at the method's default learning rate."""
    method = match.get("method", "lora")
    groups: dict[str, dict[int, TrialRecord]] = {}
    for r in sorted(rows, key=lambda r: (config_key(r.config), r.seed_value)):
        c = config(r)
        if not all(c.get(k) == v for k, v in match.items()):
            continue
        lr = learning_rate(r)
        if lr is None or not math.isclose(lr, DEFAULT_LR[method], rel_tol=1e-9):
            continue
        groups.setdefault(config_key(c), {}).setdefault(r.seed_value, r)
    if not groups:
        return {}
    key = min(groups, key=lambda k: (-len(groups[k]), k))
    return groups[key]


def paired(a: dict[Any, TrialRecord], b: dict[Any, TrialRecord]) -> tuple[list[float], list[str]]:
    """(A - B dev overall per shared key, the paired trials' ids)."""
    keys = sorted(set(a) & set(b), key=str)
    diffs = [a[k].overall - b[k].overall for k in keys]
    trials = [str(side[k].trial_id) for side in (a, b) for k in keys]
    return diffs, trials


def _compare(claim: str, source: str, kind: str, effect: str, a: dict, b: dict) -> Finding:
    if not a or not b:
        why = "no completed trials of both configurations at the paper's point"
        return not_run(claim, source, "lora_sweep", why)
    diffs, trials = paired(a, b)
    return judge(claim, source, "lora_sweep", kind, effect, diffs, trials)


def findings(rows: list[TrialRecord]) -> list[Finding]:
    """One Finding per claim of the paper, in the paper's order."""
    done = [r for r in rows if r.completed]
    single = [r for r in done if not r.is_merge and mode(r) == "single_task"]
    single = [r for r in single if not config(r).get("orthogonal")]

    def point(method: str, r: int, targets: str, bias: str = "none") -> dict[int, TrialRecord]:
        return at_paper_point(single, method=method, r=r, targets=targets, bias=bias)

    return [
        _rank_trend(point),
        _compare(
            "DoRA ≥ LoRA at r=64 on q/k/v",
            "Table 2, rows 4-5",
            "greater",
            "DoRA - LoRA, dev overall",
            point("dora", 64, "qkv"),
            point("lora", 64, "qkv"),
        ),
        _compare(
            "all linear layers > q/k/v at r=64",
            "Table 2, rows 4 and 6",
            "greater",
            "all linear - q/k/v, dev overall",
            point("lora", 64, "all_linear"),
            point("lora", 64, "qkv"),
        ),
        _compare(
            "bias training changes nothing",
            "Table 2, rows 6-7",
            "same",
            "bias - no bias (all linear, r=64), dev overall",
            point("lora", 64, "all_linear", "all"),
            point("lora", 64, "all_linear"),
        ),
        _compare(
            "r=128 ≥ r=64 on all linear layers",
            "Table 2, rows 7-8",
            "greater",
            "r=128 - r=64 (all linear, bias), dev overall",
            point("lora", 128, "all_linear", "all"),
            point("lora", 64, "all_linear", "all"),
        ),
        _head_designs(done),
        _task_order(done),
        _ensembles(done),
    ]


def _rank_trend(point) -> Finding:  # noqa: ANN001
    claim, source = "the overall score rises with r for q/k/v LoRA", "Table 2, rows 1-4"
    per_rank = {r: point("lora", r, "qkv") for r in RANKS}
    if any(not s for s in per_rank.values()):
        return not_run(claim, source, "lora_sweep", "not every rank 2, 4, 16, 64 has trials")
    seeds = sorted(set.intersection(*(set(s) for s in per_rank.values())))
    x = np.log2(RANKS)
    slopes = [float(np.polyfit(x, [per_rank[r][s].overall for r in RANKS], 1)[0]) for s in seeds]
    trials = [str(per_rank[r][s].trial_id) for r in RANKS for s in seeds]
    effect = "slope of dev overall per doubling of r, per seed"
    return judge(
        claim, source, "lora_sweep", "greater", effect, slopes, trials, min_effect=SLOPE_EFFECT
    )


def _head_designs(done: list[TrialRecord]) -> Finding:
    """Design 3 against 1 and 2, paired by (task order, seed): the seeds of each order."""
    claim, source = "head design 3 > designs 1 and 2", "Figure 2"
    full = sorted(
        (r for r in done if not r.is_merge and r.method == "full"),
        key=lambda r: (config_key(r.config), r.seed_value),
    )
    by: dict[int, dict[tuple[str, int], TrialRecord]] = {1: {}, 2: {}, 3: {}}
    for r in full:
        design = config(r).get("head_design")
        if design in by:
            by[design].setdefault((task_order(r), r.seed_value), r)
    if not all(by.values()):
        return not_run(claim, source, "full_finetune", "not every head design has trials")
    parts = []
    for other in (1, 2):
        diffs, trials = paired(by[3], by[other])
        effect = f"design 3 - design {other}, paired by task order and seed"
        parts.append(judge(claim, source, "full_finetune", "greater", effect, diffs, trials))
    return combine(claim, source, "full_finetune", parts)


def _task_order(done: list[TrialRecord]) -> Finding:
    """Every pair of orders within ±E, as one claim: Tukey's intervals over order x seed."""
    claim, source = "the task order barely moves the overall score", "Table 3, top"
    method, r, targets, bias = ref.SEQUENTIAL_SETTING
    seq = [x for x in done if not x.is_merge and mode(x) == "sequential" and x.method != "full"]
    by_order: dict[str, list[TrialRecord]] = {}
    for x in seq:
        by_order.setdefault(task_order(x), []).append(x)
    orders = {
        order: at_paper_point(group, method=method, r=r, targets=targets, bias=bias)
        for order, group in by_order.items()
    }
    orders = {o: s for o, s in orders.items() if s}
    if len(orders) < 2:
        why = "fewer than two task orders have trials at the paper's setting"
        return not_run(claim, source, "multitask_order", why)
    table = {o: {s: row.overall for s, row in seeds.items()} for o, seeds in orders.items()}
    tukey = tukey_intervals(table)
    shared = tukey.seeds if tukey else ()
    trials = [str(orders[o][s].trial_id) for o in sorted(orders) for s in shared]
    effect = "dev overall, order - order"
    return judge_tukey(claim, source, "multitask_order", effect, tukey, trials)


def _ensembles(done: list[TrialRecord]) -> Finding:
    """EoE against FedAvg and OrthoAda at the paper's λ, paired by stage-1 seed."""
    claim, source = "EoE > FedAvg and OrthoAda", "Table 3, bottom"
    by: dict[str, dict[int, TrialRecord]] = {}
    for r in sorted((r for r in done if r.is_merge), key=lambda r: str(r.trial_id)):
        name, lambdas, _ = merge_setting(r)
        lam = ref.PAPER_LAMBDA.get(name)
        if lam is not None and all(x is not None and abs(x - lam) < 1e-6 for x in lambdas):
            by.setdefault(name, {}).setdefault(r.seed_value, r)
    if set(by) != set(ref.PAPER_LAMBDA):
        why = "EoE, FedAvg or OrthoAda at the paper's λ is missing"
        return not_run(claim, source, "merge", why)
    parts = []
    for other in ("fedavg", "orthoada"):
        diffs, trials = paired(by["eoe"], by[other])
        effect = f"EoE - {other}, paired by stage-1 seed"
        parts.append(judge(claim, source, "merge", "greater", effect, diffs, trials))
    found = combine(claim, source, "merge", parts)
    if found.verdict == "inconclusive" and found.n < MIN_PAIRS:
        # more merge trials cannot help: every one reads the same stage-1 adapters
        words = f"train stage 1 with {MIN_PAIRS} or more seeds"
        found = dataclasses.replace(found, to_decide=words)
    return found
