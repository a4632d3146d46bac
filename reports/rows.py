"""Read-only accessors for the TrialRecord rows of trials.jsonl (study/records/record.py).

Old rows may lack any field, so each accessor has a default."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from model.spec import TASKS
from study.config import DEFAULT_LR
from study.records import Status, TrialRecord

METRIC_LABELS = {"sst": "SST", "para": "Para", "sts": "STS", "overall": "Overall"}
METRIC_UNITS = {
    "sst": "SST accuracy",
    "para": "Para accuracy",
    "sts": "STS Pearson r",
    "overall": "overall score",
}


def config(row: TrialRecord) -> dict[str, Any]:
    return row.config


def learning_rate(row: TrialRecord) -> float | None:
    """The encoder/adapter learning rate the trial trained with (TrialConfig.learning_rate:
    lr, else the method's default times lr_scale); None for a merge row."""
    if row.is_merge:
        return None
    c = config(row)
    if c.get("lr") is not None:
        return float(c["lr"])
    default = DEFAULT_LR.get(row.method)
    return None if default is None else default * float(c.get("lr_scale", 1.0))


def number(value: Any) -> float | None:
    """A finite float, or None for missing / NaN / non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def mode(row: TrialRecord) -> str:
    return str(config(row).get("mode", "single_task"))


def task_order(row: TrialRecord) -> str:
    """e.g. 'sst-para-sts' (the paper's order labels, lower case)."""
    order = config(row).get("task_order") or TASKS
    return "-".join(order) if isinstance(order, list | tuple) else str(order)


def order_label(order: str) -> str:
    """'sst-para-sts' -> 'SST-Para-STS' as the paper writes it."""
    return "-".join(METRIC_LABELS.get(t, t) for t in order.split("-"))


def trial_label(row: TrialRecord) -> str:
    return str(row.trial_id or "?")


def status_counts(rows: list[TrialRecord]) -> dict[str, int]:
    """Rows per status, in the order of Status, then rows without one as "unknown"."""
    counts = Counter(str(r.status or "unknown") for r in rows)
    ordered = {s.value: counts.pop(s.value, 0) for s in Status}
    ordered.update(sorted(counts.items()))
    return ordered


DENSITY_METHODS = ("ties", "dare", "dare_ties")  # merges that read the density


def merge_setting(row: TrialRecord) -> tuple[str, tuple[float | None, ...], float | None]:
    """(merge_method, (λ_sst, λ_para, λ_sts), density) of a merge row.

    Looks in config, then the record's merge info, then the sampled params (lambda_sst, ...);
    lambdas may be a list in task order or a {task: λ} dict. density is kept only where the
    method reads it.
    """
    c, params, info = config(row), row.params, row.merge
    merged = {"merge_method": info.method, "lambdas": info.lambdas} if info else {}
    merged |= {"density": info.density} if info else {}
    sources = (c, merged, params)
    name = next((str(s["merge_method"]) for s in sources if s.get("merge_method")), "?")
    lambdas: Any = next((s["lambdas"] for s in sources if s.get("lambdas") is not None), None)
    if lambdas is None:
        lambdas = [params.get(f"lambda_{t}") for t in TASKS]
    if isinstance(lambdas, dict):
        lambdas = [lambdas.get(t) for t in TASKS]
    density = next((s["density"] for s in sources if s.get("density") is not None), None)
    if name not in DENSITY_METHODS:
        density = None
    return name, tuple(number(x) for x in lambdas), number(density)
