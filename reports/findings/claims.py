"""A verdict on each qualitative claim of the paper, from paired seeds: holds, reversed, or
inconclusive at this scale, with the effect, its 95% interval and the trials it rests on.

Rules (dev overall, completed trials, seeds paired by value):
    A > B            holds when the interval of A - B lies above 0, reversed when below 0.
    no difference    holds when the interval lies within ±0.01, reversed when it lies
                     entirely outside that band.
    anything else is inconclusive, with the seeds that would likely decide it.
A claim whose study has no rows is "not run", with the command that runs it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from reports.rows import config, merge_setting, mode, task_order
from reports.stats import Interval, mean_interval, p_better, paired_difference, seeds_needed
from study.records import TrialRecord, config_key

SAME_BAND = 0.01  # a "no difference" claim: |A - B| within this


@dataclass(frozen=True)
class Finding:
    claim: str
    source: str
    study: str
    verdict: str  # holds | reversed | inconclusive | not run
    effect: str  # what the numbers are, e.g. "DoRA - LoRA, dev overall"
    mean: float = math.nan
    low: float = math.nan
    high: float = math.nan
    n: int = 0
    p_better: float = math.nan
    seeds_needed: int | None = None
    trials: tuple[str, ...] = ()
    note: str = ""


def _by_seed(rows: list[TrialRecord], **match: Any) -> tuple[dict[int, float], list[str]]:
    """seed -> dev overall of the completed single-config group that matches `match` (the
    group with most seeds when several configs match, e.g. other learning rates)."""
    groups: dict[str, dict[int, TrialRecord]] = {}
    for r in rows:
        c = config(r)
        if all(c.get(k) == v for k, v in match.items()):
            key = config_key(c)
            groups.setdefault(key, {}).setdefault(r.seed_value, r)
    if not groups:
        return {}, []
    best = max(groups.values(), key=len)
    return {s: r.overall for s, r in best.items()}, [str(r.trial_id) for r in best.values()]


def _verdict(kind: str, iv: Interval) -> str:
    if iv.n < 2 or not math.isfinite(iv.low):
        return "inconclusive"
    if kind == "greater":
        return "holds" if iv.low > 0 else ("reversed" if iv.high < 0 else "inconclusive")
    if -SAME_BAND <= iv.low and iv.high <= SAME_BAND:
        return "holds"
    return "reversed" if iv.low > SAME_BAND or iv.high < -SAME_BAND else "inconclusive"


def _finding(claim, source, study, kind, effect, diffs, trials, note="") -> Finding:  # noqa: ANN001
    iv = mean_interval(list(diffs))
    verdict = _verdict(kind, iv)
    needed = None
    if verdict == "inconclusive":
        needed = seeds_needed(iv, 0.0 if kind == "greater" else -SAME_BAND)
    return Finding(
        claim,
        source,
        study,
        verdict,
        effect,
        iv.mean,
        iv.low,
        iv.high,
        iv.n,
        p_better(np.asarray(diffs)) if len(diffs) else math.nan,
        needed,
        tuple(trials),
        note,
    )


def _greater(claim, source, study, effect, a, b) -> Finding:  # noqa: ANN001
    (sa, ta), (sb, tb) = a, b
    if not sa or not sb:
        return _not_run(claim, source, study, "no completed trials of both configurations")
    pair = paired_difference(sa, sb)
    diffs = [sa[s] - sb[s] for s in pair.seeds]
    return _finding(claim, source, study, "greater", effect, diffs, ta + tb)


def _same(claim, source, study, effect, a, b) -> Finding:  # noqa: ANN001
    (sa, ta), (sb, tb) = a, b
    if not sa or not sb:
        return _not_run(claim, source, study, "no completed trials of both configurations")
    seeds = sorted(set(sa) & set(sb))
    return _finding(claim, source, study, "same", effect, [sa[s] - sb[s] for s in seeds], ta + tb)


def _not_run(claim: str, source: str, study: str, note: str = "") -> Finding:
    command = f"python -m study run {study}"
    why = f"{note}; " if note else ""
    return Finding(claim, source, study, "not run", "", note=f"{why}run it with: {command}")


def findings(rows: list[TrialRecord]) -> list[Finding]:
    """One Finding per claim of the paper, in the paper's order."""
    done = [r for r in rows if r.completed]
    single = [r for r in done if not r.is_merge and mode(r) == "single_task"]
    single = [r for r in single if not config(r).get("orthogonal")]

    def lora(m: str, r: int, targets: str, bias: str = "none") -> tuple[dict, list]:
        return _by_seed(single, method=m, r=r, targets=targets, bias=bias)

    out = [_rank_trend(single, lora)]
    out.append(
        _greater(
            "DoRA ≥ LoRA at r=64 on q/k/v",
            "Table 2, rows 4-5",
            "lora_sweep",
            "DoRA - LoRA, dev overall",
            lora("dora", 64, "qkv"),
            lora("lora", 64, "qkv"),
        )
    )
    out.append(
        _greater(
            "all linear layers > q/k/v at r=64",
            "Table 2, rows 4 and 6",
            "lora_sweep",
            "all linear - q/k/v, dev overall",
            lora("lora", 64, "all_linear"),
            lora("lora", 64, "qkv"),
        )
    )
    out.append(
        _same(
            "bias training changes nothing",
            "Table 2, rows 6-7",
            "lora_sweep",
            "bias - no bias (all linear, r=64), dev overall",
            lora("lora", 64, "all_linear", "all"),
            lora("lora", 64, "all_linear"),
        )
    )
    out.append(
        _greater(
            "r=128 ≥ r=64 on all linear layers",
            "Table 2, rows 7-8",
            "lora_sweep",
            "r=128 - r=64 (all linear, bias), dev overall",
            lora("lora", 128, "all_linear", "all"),
            lora("lora", 64, "all_linear", "all"),
        )
    )
    out.append(_head_designs(done))
    out.append(_task_order(done))
    out.append(_ensembles(done))
    return out


def _rank_trend(single: list[TrialRecord], lora) -> Finding:  # noqa: ANN001
    claim, source = "the overall score rises with r for q/k/v LoRA", "Table 2, rows 1-4"
    ranks = (2, 4, 16, 64)
    per_rank = {r: lora("lora", r, "qkv") for r in ranks}
    if any(not s for s, _ in per_rank.values()):
        return _not_run(claim, source, "lora_sweep", "not every rank 2, 4, 16, 64 has trials")
    seeds = sorted(set.intersection(*(set(s) for s, _ in per_rank.values())))
    x = np.log2(ranks)
    slopes = [float(np.polyfit(x, [per_rank[r][0][s] for r in ranks], 1)[0]) for s in seeds]
    trials = [t for _, ts in per_rank.values() for t in ts]
    effect = "slope of dev overall per doubling of r, per seed"
    return _finding(claim, source, "lora_sweep", "greater", effect, slopes, trials)


def _head_designs(done: list[TrialRecord]) -> Finding:
    claim, source = "head design 3 > designs 1 and 2", "Figure 2"
    full = [r for r in done if not r.is_merge and r.method == "full"]
    by = {
        d: {(task_order(r), r.seed_value): r for r in full if config(r).get("head_design") == d}
        for d in (1, 2, 3)
    }
    if not all(by.values()):
        return _not_run(claim, source, "full_finetune", "not every head design has trials")
    parts = []
    for other in (1, 2):
        keys = sorted(set(by[3]) & set(by[other]))
        diffs = [by[3][k].overall - by[other][k].overall for k in keys]
        trials = [str(by[d][k].trial_id) for d in (3, other) for k in keys]
        parts.append(
            _finding(
                claim,
                source,
                "full_finetune",
                "greater",
                f"design 3 - design {other}, paired by task order and seed",
                diffs,
                trials,
            )
        )
    worst = min(parts, key=lambda f: f.low if math.isfinite(f.low) else -math.inf)
    verdicts = {f.verdict for f in parts}
    verdict = (
        "holds"
        if verdicts == {"holds"}
        else ("reversed" if "reversed" in verdicts else "inconclusive")
    )
    note = "; ".join(
        f"{f.effect}: {f.mean:+.4f} [{f.low:+.4f}, {f.high:+.4f}], {f.verdict}" for f in parts
    )
    return Finding(
        claim,
        source,
        "full_finetune",
        verdict,
        worst.effect,
        worst.mean,
        worst.low,
        worst.high,
        worst.n,
        worst.p_better,
        worst.seeds_needed,
        parts[0].trials + parts[1].trials,
        note,
    )


def _task_order(done: list[TrialRecord]) -> Finding:
    claim, source = "the task order barely moves the overall score", "Table 3, top"
    seq = [r for r in done if not r.is_merge and mode(r) == "sequential" and r.method != "full"]
    orders: dict[str, dict[int, TrialRecord]] = {}
    for r in seq:
        orders.setdefault(task_order(r), {}).setdefault(r.seed_value, r)
    if len(orders) < 2:
        return _not_run(claim, source, "multitask_order", "fewer than two task orders have trials")
    pairs = []
    for a, b in itertools.combinations(sorted(orders), 2):
        seeds = sorted(set(orders[a]) & set(orders[b]))
        diffs = [orders[a][s].overall - orders[b][s].overall for s in seeds]
        trials = [str(orders[o][s].trial_id) for o in (a, b) for s in seeds]
        pairs.append(
            _finding(claim, source, "multitask_order", "same", f"{a} - {b}", diffs, trials)
        )
    largest = max(pairs, key=lambda f: abs(f.mean) if math.isfinite(f.mean) else -1)
    verdicts = {f.verdict for f in pairs}
    verdict = (
        "holds"
        if verdicts == {"holds"}
        else ("reversed" if "reversed" in verdicts else "inconclusive")
    )
    note = f"{len(pairs)} pairs of orders; the largest difference is shown"
    return Finding(
        claim,
        source,
        "multitask_order",
        verdict,
        f"largest pair: {largest.effect}",
        largest.mean,
        largest.low,
        largest.high,
        largest.n,
        largest.p_better,
        largest.seeds_needed,
        largest.trials,
        note,
    )


def _ensembles(done: list[TrialRecord]) -> Finding:
    claim, source = "EoE > FedAvg and OrthoAda", "Table 3, bottom"
    merges = [r for r in done if r.is_merge]
    paper = {"eoe": 1.0, "fedavg": 1 / 3, "orthoada": 1 / 3}  # the paper's λ
    by: dict[str, dict[int, TrialRecord]] = {}
    for r in merges:
        name, lambdas, _ = merge_setting(r)
        if name in paper and all(x is not None and abs(x - paper[name]) < 1e-6 for x in lambdas):
            by.setdefault(name, {}).setdefault(r.seed_value, r)
    if set(by) != set(paper):
        return _not_run(
            claim, source, "merge", "EoE, FedAvg or OrthoAda at the paper's λ is missing"
        )
    parts = []
    for other in ("fedavg", "orthoada"):
        seeds = sorted(set(by["eoe"]) & set(by[other]))
        diffs = [by["eoe"][s].overall - by[other][s].overall for s in seeds]
        trials = [str(by[m][s].trial_id) for m in ("eoe", other) for s in seeds]
        parts.append(_finding(claim, source, "merge", "greater", f"EoE - {other}", diffs, trials))
    worst = min(parts, key=lambda f: f.mean if math.isfinite(f.mean) else -math.inf)
    verdicts = {f.verdict for f in parts}
    verdict = (
        "holds"
        if verdicts == {"holds"}
        else ("reversed" if "reversed" in verdicts else "inconclusive")
    )
    note = "; ".join(f"{f.effect}: {f.mean:+.4f}, n={f.n}, {f.verdict}" for f in parts)
    return Finding(
        claim,
        source,
        "merge",
        verdict,
        worst.effect,
        worst.mean,
        worst.low,
        worst.high,
        worst.n,
        worst.p_better,
        worst.seeds_needed,
        parts[0].trials + parts[1].trials,
        note,
    )
