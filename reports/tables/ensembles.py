"""Table 3's ensemble rows: per merge method, the λ setting chosen on validation with the
first stage-1 seed's adapters, read on dev over every seed it was applied to, and the paper's
λ beside the paper's value."""

from __future__ import annotations

from typing import Any

from reports import paper_reference as ref
from reports.rows import merge_setting
from reports.tables.model import summarize
from study.records import TrialRecord

_MERGE_NAMES = {
    "eoe": "EoE",
    "fedavg": "FedAvg (paper: AvgFed)",
    "orthoada": "OrthoAda",
    "ties": "TIES",
    "dare": "DARE",
    "dare_ties": "DARE-TIES",
    "task_arithmetic": "Task arithmetic",
}


Setting = tuple[tuple[float | None, ...], float | None]  # (λ per task, density)


def chosen_setting(settings: dict[Setting, list[TrialRecord]]) -> Setting | None:
    """The λ setting with the best validation score at the first stage-1 seed (where the
    search ran); ties to the smaller setting. None without a scored row."""
    seeds = [r.seed_value for rows in settings.values() for r in rows]
    if not seeds:
        return None
    first = min(seeds)
    scored: dict[Setting, float] = {}
    for key, rows in settings.items():
        found = [r.selection_score() for r in rows if r.seed_value == first]
        found = [s for s in found if s is not None]
        if found:
            scored[key] = sum(found) / len(found)
    if not scored:
        return None
    return min(scored, key=lambda k: (-scored[k], repr(k)))


def merge_records(merges: list[TrialRecord]) -> list[dict[str, Any]]:
    by_method: dict[str, dict[Setting, list[TrialRecord]]] = {}
    for r in merges:
        name, lambdas, density = merge_setting(r)
        by_method.setdefault(name, {}).setdefault((lambdas, density), []).append(r)
    for name in ref.MERGE_PAPER_NAMES:
        by_method.setdefault(name, {})
    order = list(_MERGE_NAMES)
    records = []
    for name in sorted(by_method, key=lambda n: (order.index(n) if n in order else 99, n)):
        settings = by_method[name]
        chosen = chosen_setting(settings)
        paper_key = _paper_setting(name, settings)
        label = _MERGE_NAMES.get(name, name)
        if chosen is not None:
            same = chosen == paper_key
            how = "chosen on validation" + (" (the paper's λ)" if same else "")
            paper = ref.table3_ensemble(name) if same or paper_key is None else None
            records.append(_merge_record(name, f"{label}, {how}", chosen, settings, paper))
        if paper_key is not None and paper_key != chosen:
            paper = ref.table3_ensemble(name)
            records.append(
                _merge_record(name, f"{label}, the paper's λ", paper_key, settings, paper)
            )
        if chosen is None and paper_key is None:
            records.append(_merge_record(name, label, None, settings, ref.table3_ensemble(name)))
    return records


def _paper_setting(name: str, settings: dict[Setting, list[TrialRecord]]) -> Setting | None:
    """The setting at the paper's λ (EoE 1, FedAvg and OrthoAda 1/3 per task), if it ran."""
    lam = ref.PAPER_LAMBDA.get(name)
    if lam is None:
        return None
    for key in settings:
        lambdas, _ = key
        if lambdas and all(x is not None and abs(x - lam) < 1e-6 for x in lambdas):
            return key
    return None


def _merge_record(
    name: str,
    title: str,
    key: Setting | None,
    settings: dict[Setting, list[TrialRecord]],
    paper: dict | None,
) -> dict[str, Any]:
    lambdas, density = key if key else ((), None)
    setting = ""
    if key:
        setting = "lambda=(" + ", ".join(f"{x:g}" for x in lambdas if x is not None) + ")"
        setting += f", density {density:g}" if density is not None else ""
    return (
        {"group": "ensemble", "name": title, "setting": setting}
        | {"task_order": None, "method": None, "r": None, "targets": None, "bias": None}
        | {"merge_method": name}
        | {"lambdas": " ".join(f"{x!r}" for x in lambdas), "density": density}
        | {"n_settings": len(settings)}
        | summarize(settings.get(key, []) if key else [], paper)
    )
