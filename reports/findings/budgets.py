"""Beyond the paper: which PEFT method wins at each parameter budget.

Each method is read at its best configuration (reports/tables/methods.py). At a budget of
params_pct ≤ B, the winner and the runner-up are the two methods with the best mean validation
score among those within B (chosen on validation, as every selection is); the verdict then tests
the winner against the runner-up on dev, paired by seed: "holds" when the interval of winner
minus runner-up lies above 0 (reports/findings/verdicts.py).
"""

from __future__ import annotations

from reports.findings.verdicts import Finding, judge, not_run
from reports.palette import METHOD_LABELS
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
        return [not_run(CLAIM, SOURCE, "peft_methods", "only LoRA/DoRA rows")]
    out, seen = [], set()
    for budget in BUDGETS:
        within = {m: v for m, v in methods.items() if v["params_pct"] <= budget}
        if not within or frozenset(within) in seen:
            continue
        seen.add(frozenset(within))
        out.append(_tier(budget, within))
    return out


def _mean(values: dict[int, float]) -> float:
    return sum(values.values()) / len(values)


def _tier(budget: float, within: dict) -> Finding:
    ranked = sorted(within, key=lambda m: (-_mean(within[m]["val"]), m))
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
            to_decide=f"a second method within {label}",
        )
    second = ranked[1]
    a, b = within[winner], within[second]
    seeds = sorted(set(a["seeds"]) & set(b["seeds"]))
    diffs = [a["seeds"][s] - b["seeds"][s] for s in seeds]
    trials = [side["trials"][s] for side in (a, b) for s in seeds]
    effect = f"{name} - {METHOD_LABELS.get(second, second)}, dev overall"
    means = ", ".join(f"{METHOD_LABELS.get(m, m)} {_mean(within[m]['val']):.3f}" for m in ranked)
    note = f"ranked on mean validation overall within {label}: {means}"
    return judge(claim, SOURCE, "peft_methods", "greater", effect, diffs, trials, note)
