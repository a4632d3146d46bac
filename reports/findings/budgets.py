"""Beyond the paper: which PEFT method wins at each parameter budget.

Each method is read at its best configuration (reports/tables/methods.py). At a budget of
params_pct ≤ B, the winner is the method with the best mean dev overall among those within B;
the verdict pairs its seeds with the runner-up's: "holds" when the interval of winner minus
runner-up lies above 0, else "inconclusive" (with the seeds that would likely decide it).
"""

from __future__ import annotations

from reports.findings.claims import Finding, _finding, _not_run
from reports.palette import METHOD_LABELS
from reports.stats import paired_difference
from reports.tables.methods import PAPER_METHODS, method_rows
from study.records import TrialRecord

BUDGETS = (0.2, 0.5, 1.0, 2.0, 5.0, 100.0)  # params_pct tiers (heads included)
SOURCE = "beyond the paper (peft_methods)"
CLAIM = "which method wins at each parameter budget"


def budget_findings(rows: list[TrialRecord]) -> list[Finding]:
    """One Finding per budget tier that holds a new set of methods; 'not run' without any
    method besides the paper's."""
    methods = method_rows(rows)
    if not set(methods) - set(PAPER_METHODS):
        return [_not_run(CLAIM, SOURCE, "peft_methods", "only LoRA/DoRA rows")]
    out, seen = [], set()
    for budget in BUDGETS:
        within = {m: v for m, v in methods.items() if v["params_pct"] <= budget}
        if not within or frozenset(within) in seen:
            continue
        seen.add(frozenset(within))
        out.append(_tier(budget, within))
    return out


def _tier(budget: float, within: dict) -> Finding:
    def mean(m: str) -> float:
        seeds = within[m]["seeds"]
        return sum(seeds.values()) / len(seeds)

    ranked = sorted(within, key=mean, reverse=True)
    label = "any budget" if budget >= 100 else f"params_pct ≤ {budget:g}"
    winner = ranked[0]
    name = METHOD_LABELS.get(winner, winner)
    claim = f"{label}: {name} wins"
    if len(ranked) == 1:
        return Finding(
            claim,
            SOURCE,
            "peft_methods",
            "inconclusive",
            f"{name} alone",
            note=f"the only method within {label}",
        )
    second = ranked[1]
    a, b = within[winner], within[second]
    pair = paired_difference(a["seeds"], b["seeds"])
    diffs = [a["seeds"][s] - b["seeds"][s] for s in pair.seeds]
    effect = f"{name} - {METHOD_LABELS.get(second, second)}, dev overall"
    others = ", ".join(f"{METHOD_LABELS.get(m, m)} {mean(m):.3f}" for m in ranked)
    return _finding(
        claim,
        SOURCE,
        "peft_methods",
        "greater",
        effect,
        diffs,
        a["trials"] + b["trials"],
        f"means within {label}: {others}",
    )
