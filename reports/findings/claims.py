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
import itertools
import math
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Contrast:
    """One comparison a claim rests on, per seed: the sum of weight x dev overall over its arms
    (A - B: +1 and -1; a slope: the least-squares weights; an average over task orders: 1/k)."""

    effect: str
    """What the values are, in words, e.g. "DoRA - LoRA, dev overall"."""
    kind: str
    """A VERDICTS key: greater | at_least | same."""
    weights: tuple[tuple[str, float], ...]
    """(arm, weight) pairs."""
    min_effect: float = MIN_EFFECT

    def seeds(self, arms: dict[str, dict[int, TrialRecord]]) -> list[int]:
        """The seeds every arm of the contrast has, in order."""
        sets = [set(arms.get(a, {})) for a, _ in self.weights]
        return sorted(set.intersection(*sets)) if sets else []

    def values(self, arms: dict[str, dict[int, TrialRecord]], seeds: list[int]) -> list[float]:
        return [sum(w * arms[a][s].overall for a, w in self.weights) for s in seeds]


@dataclass(frozen=True)
class Claim:
    """A claim of the paper (or a study's best against its next configurations), with the
    configurations ("arms") it rests on: arm -> seed -> completed row."""

    claim: str
    source: str
    study: str
    contrasts: tuple[Contrast, ...] = ()
    arms: dict[str, dict[int, TrialRecord]] = dataclasses.field(default_factory=dict)
    rule: str = "all"
    """all: every contrast must hold (an intersection-union test). orders: every pair of arms
    within ±E (the task order; Tukey's intervals, Bonferroni's under --decide)."""
    missing: str = ""
    """Why it cannot be judged yet (a "not run" verdict); "" when it can."""
    chosen: tuple[str, ...] = ()
    """Arms the search chose on validation: their search run is not a pilot seed (--decide)."""


def _pair(effect: str, kind: str, a: str = "A", b: str = "B") -> Contrast:
    return Contrast(effect, kind, ((a, 1.0), (b, -1.0)))


def paper_claims(rows: list[TrialRecord]) -> list[Claim]:
    """The paper's claims, in the paper's order, with the rows each rests on."""
    done = [r for r in rows if r.completed]
    single = [r for r in done if not r.is_merge and mode(r) == "single_task"]
    single = [r for r in single if not config(r).get("orthogonal")]

    def point(method: str, r: int, targets: str, bias: str = "none") -> dict[int, TrialRecord]:
        return at_paper_point(single, method=method, r=r, targets=targets, bias=bias)

    def two(claim: str, source: str, contrast: Contrast, a: dict, b: dict) -> Claim:
        why = "" if a and b else "no completed trials of both configurations at the paper's point"
        return Claim(claim, source, "lora_sweep", (contrast,), {"A": a, "B": b}, missing=why)

    return [
        _rank_trend(point),
        two(
            "DoRA ≥ LoRA at r=64 on q/k/v",
            "Table 2, rows 4-5",
            _pair("DoRA - LoRA, dev overall", "at_least"),
            point("dora", 64, "qkv"),
            point("lora", 64, "qkv"),
        ),
        two(
            "all linear layers > q/k/v at r=64",
            "Table 2, rows 4 and 6",
            _pair("all linear - q/k/v, dev overall", "greater"),
            point("lora", 64, "all_linear"),
            point("lora", 64, "qkv"),
        ),
        two(
            "bias training changes nothing",
            "Table 2, rows 6-7",
            _pair("bias - no bias (all linear, r=64), dev overall", "same"),
            point("lora", 64, "all_linear", "all"),
            point("lora", 64, "all_linear"),
        ),
        two(
            "r=128 ≥ r=64 on all linear layers",
            "Table 2, rows 7-8",
            _pair("r=128 - r=64 (all linear, bias), dev overall", "at_least"),
            point("lora", 128, "all_linear", "all"),
            point("lora", 64, "all_linear", "all"),
        ),
        _head_designs(done),
        _task_order(done),
        _ensembles(done),
    ]


def findings(rows: list[TrialRecord]) -> list[Finding]:
    """One Finding per claim of the paper, in the paper's order."""
    return [judge_claim(c) for c in paper_claims(rows)]


def judge_claim(c: Claim) -> Finding:
    """A claim's verdict from the seeds its arms share (verdicts.py has the rules)."""
    if c.missing:
        return not_run(c.claim, c.source, c.study, c.missing)
    if c.rule == "orders":
        table = {o: {s: row.overall for s, row in seeds.items()} for o, seeds in c.arms.items()}
        tukey = tukey_intervals(table)
        shared = list(tukey.seeds) if tukey else []
        trials = [str(c.arms[o][s].trial_id) for o in sorted(c.arms) for s in shared]
        effect = c.contrasts[0].effect if c.contrasts else "dev overall, order - order"
        return judge_tukey(c.claim, c.source, c.study, effect, tukey, trials)
    parts = []
    for contrast in c.contrasts:
        seeds = contrast.seeds(c.arms)
        diffs = contrast.values(c.arms, seeds)
        trials = [str(c.arms[a][s].trial_id) for a, _ in contrast.weights for s in seeds]
        parts.append(
            judge(
                c.claim,
                c.source,
                c.study,
                contrast.kind,
                contrast.effect,
                diffs,
                trials,
                min_effect=contrast.min_effect,
            )
        )
    found = parts[0] if len(parts) == 1 else combine(c.claim, c.source, c.study, parts)
    if c.study == "merge" and found.verdict == "inconclusive" and found.n < MIN_PAIRS:
        # more merge trials cannot help: every one reads the same stage-1 adapters
        words = f"train stage 1 with {MIN_PAIRS} or more seeds"
        found = dataclasses.replace(found, to_decide=words)
    return found


def _rank_trend(point) -> Claim:  # noqa: ANN001
    """The least-squares slope of dev overall on log2 r, per seed: a linear contrast."""
    claim, source = "the overall score rises with r for q/k/v LoRA", "Table 2, rows 1-4"
    arms = {f"r={r}": point("lora", r, "qkv") for r in RANKS}
    x = np.log2(RANKS)
    w = (x - x.mean()) / float(((x - x.mean()) ** 2).sum())
    weights = tuple((f"r={r}", float(wr)) for r, wr in zip(RANKS, w, strict=True))
    effect = "slope of dev overall per doubling of r, per seed"
    contrast = Contrast(effect, "greater", weights, SLOPE_EFFECT)
    why = "" if all(arms.values()) else "not every rank 2, 4, 16, 64 has trials"
    return Claim(claim, source, "lora_sweep", (contrast,), arms, missing=why)


def _head_designs(done: list[TrialRecord]) -> Claim:
    """Design 3 against 1 and 2, per seed averaged over the task orders every design ran: the
    seeds are the pairs (orders of one seed share its data order, and are not independent)."""
    claim, source = "head design 3 > designs 1 and 2", "Figure 2"
    full = sorted(
        (r for r in done if not r.is_merge and r.method == "full"),
        key=lambda r: (config_key(r.config), r.seed_value),
    )
    arms: dict[str, dict[int, TrialRecord]] = {}
    for r in full:
        design = config(r).get("head_design")
        if design in (1, 2, 3):
            arms.setdefault(f"design {design}, {task_order(r)}", {}).setdefault(r.seed_value, r)
    orders = [
        o
        for o in sorted({k.split(", ", 1)[1] for k in arms})
        if all(f"design {d}, {o}" in arms for d in (1, 2, 3))
    ]
    if not orders:
        why = "not every head design has trials of one task order"
        return Claim(claim, source, "full_finetune", missing=why)
    contrasts = []
    for other in (1, 2):
        weights = tuple(
            (f"design {d}, {o}", sign / len(orders))
            for o in orders
            for d, sign in ((3, 1.0), (other, -1.0))
        )
        effect = f"design 3 - design {other}, per seed over {len(orders)} task order(s)"
        contrasts.append(Contrast(effect, "greater", weights))
    kept = {k: v for k, v in arms.items() if k.split(", ", 1)[1] in orders}
    return Claim(claim, source, "full_finetune", tuple(contrasts), kept)


def _task_order(done: list[TrialRecord]) -> Claim:
    """Every pair of orders within ±E, as one claim over order x seed."""
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
    orders = {o: s for o, s in sorted(orders.items()) if s}
    if len(orders) < 2:
        why = "fewer than two task orders have trials at the paper's setting"
        return Claim(claim, source, "multitask_order", missing=why)
    contrasts = tuple(
        _pair(f"{a} - {b}, dev overall", "same", a, b) for a, b in itertools.combinations(orders, 2)
    )
    return Claim(claim, source, "multitask_order", contrasts, orders, rule="orders")


def _ensembles(done: list[TrialRecord]) -> Claim:
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
        return Claim(claim, source, "merge", missing=why)
    contrasts = tuple(
        _pair(f"EoE - {other}, paired by stage-1 seed", "greater", "eoe", other)
        for other in ("fedavg", "orthoada")
    )
    return Claim(claim, source, "merge", contrasts, by)
