"""The methods table: each PEFT method's best configuration (the one its seed reruns were for),
mean ± interval over those seeds, with its size, parameter share, seconds and peak memory.

A method's best configuration is its group with the most seeds, then the best mean
validation score: the reruns repeat the configuration the search chose on validation, so this
is that choice, read on dev.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from model.peft_configs import NATURAL_SIZE, PEFT_METHODS, SIZE_NAMES
from reports.palette import METHOD_LABELS
from reports.rows import config, mode, number
from reports.stats import mean_interval
from reports.tables.model import DIFF_NOTE, PARAMS_NOTE, Table, summarize
from study.config import DEFAULT_LR
from study.records import TrialRecord, rank_configurations

# The paper's two methods alone are Table 2; this table appears once another method ran.
PAPER_METHODS = ("lora", "dora")
# Below this many optimizer steps per task, AdaLoRA's budget schedule has too few pruning
# rounds to allocate ranks by importance (its paper prunes over thousands of steps).
ADALORA_MIN_STEPS = 500


def best_per_method(rows: list[TrialRecord]) -> dict[str, list[TrialRecord]]:
    """method -> the completed single-task rows of its best configuration (module docstring):
    among its configurations with the most seeds, the first in the one ranking
    (study.records.rank_configurations: mean validation score, then a fixed tie-break)."""
    by_method: dict[str, list[TrialRecord]] = {}
    for r in rows:
        if r.completed and not r.is_merge and mode(r) == "single_task":
            if r.method in PEFT_METHODS and not config(r).get("orthogonal"):
                by_method.setdefault(r.method, []).append(r)
    out = {}
    for m, group in by_method.items():
        ranked = rank_configurations(group)
        if ranked:
            most = max(len(c.records) for c in ranked)
            out[m] = list(next(c for c in ranked if len(c.records) == most).records)
    return out


def methods_table(rows: list[TrialRecord]) -> Table | None:
    best = best_per_method(rows)
    if not set(best) - set(PAPER_METHODS):
        return None
    records = []
    for m in sorted(best, key=PEFT_METHODS.index):
        group = best[m]
        c = config(group[0])
        lr = c.get("lr") if c.get("lr") is not None else DEFAULT_LR[m] * c.get("lr_scale", 1.0)
        size = "-" if SIZE_NAMES[m] == "-" else f"{SIZE_NAMES[m]} {c.get('r')}"
        records.append(
            {"method": m, "method_label": METHOD_LABELS.get(m, m), "size": size}
            | {"targets": c.get("targets"), "lr": f"{lr:.1e}"}
            | {"adapter_pct_text": _mean_text(group, "adapter_pct", 3)}
            | {"size_mb_text": _megabytes(group)}
            | {"seconds_text": _mean_text(group, "seconds", 0)}
            | {"memory_text": _memory_text(group), "note": _note(m, group)}
            | summarize(group, None)
        )
    return Table(
        key="methods",
        title="Methods: each method's best configuration (dev, mean over its seeds)",
        data=pd.DataFrame(records),
        key_columns=[
            ("method_label", "Method"),
            ("size", "Size"),
            ("targets", "Targets"),
            ("lr", "lr"),
            ("adapter_pct_text", "Adapter %"),
            ("size_mb_text", "MB on disk"),
            ("seconds_text", "s / trial"),
            ("memory_text", "Peak MB"),
            ("note", "Note"),
        ],
        notes=[
            "A method's row is the configuration its seed reruns were for (chosen on "
            "validation); n counts its seeds. Adapter % leaves the heads out (as the paper "
            "counts); s / trial and Peak MB (resident memory, or GPU memory on a GPU) are means "
            "over its trials. 'natural size': the method's count is set by the model, not by a "
            "size, so it cannot reach the common budget of about LoRA r=16 on q/k/v.",
            DIFF_NOTE.split(" The 'no training'")[0].replace("Diff = ours - paper. ", ""),
            PARAMS_NOTE,
        ],
        paper_columns=False,
    )


def _mean_text(group: list[TrialRecord], field: str, digits: int) -> str:
    iv = mean_interval([number(getattr(r, field)) for r in group])
    return "-" if math.isnan(iv.mean) else f"{iv.mean:.{digits}f}"


def _megabytes(group: list) -> str:
    """Mean MB on disk of the saved adapters and heads; '-' for rows made before it was kept."""
    sizes = [r.adapter_bytes for r in group if r.adapter_bytes]
    return f"{sum(sizes) / len(sizes) / 1e6:.2f}" if sizes else "-"


def _memory_text(group: list[TrialRecord]) -> str:
    gpu = [v for v in (number(r.peak_gpu_mb) for r in group) if v]
    return f"{sum(gpu) / len(gpu):.0f} (GPU)" if gpu else _mean_text(group, "peak_rss_mb", 0)


def _note(m: str, group: list[TrialRecord]) -> str:
    notes = ["natural size"] if m in NATURAL_SIZE else []
    if m == "adalora":
        steps = [min(r.optimizer_steps.values()) for r in group if r.optimizer_steps]
        if steps and min(steps) < ADALORA_MIN_STEPS:
            notes.append(f"rank schedule over only {min(steps)} steps: not meaningful here")
    return "; ".join(notes)


def method_rows(rows: list[TrialRecord]) -> dict[str, Any]:
    """method -> its best configuration's seeds (for the budget findings): {seed: dev overall}
    as "seeds", {seed: selection score} as "val", the mean params_pct and the trials by seed."""
    out = {}
    for m, group in best_per_method(rows).items():
        pct = mean_interval([number(r.params_pct) for r in group]).mean
        by_seed = {r.seed_value: r for r in group}
        out[m] = {
            "seeds": {s: r.overall for s, r in by_seed.items()},
            "val": {s: r.selection_score() for s, r in by_seed.items()},
            "params_pct": pct,
            "trials": {s: str(r.trial_id) for s, r in by_seed.items()},
        }
    return out
