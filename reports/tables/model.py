"""A report table: raw numbers (the CSV) plus the formatted cells the PDF/Markdown/LaTeX show.

Every compared quantity gets three columns: ours (mean over trials sharing the row's
configuration, with std/min/max/n in the CSV), the paper's value and the difference ours - paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reports.rows import METRIC_LABELS, number, trial_label
from reports.stats import mean_interval
from study.metrics import METRICS
from study.records import TrialRecord

VALUES = (*METRICS, "params_pct")
VALUE_LABELS = {**METRIC_LABELS, "params_pct": "Params %"}
PARAMS_NOTE = (
    "Our 'Params %' is params_pct: trainable parameters / (base encoder + head parameters) x 100, "
    "heads included on both sides (model/adapters.py). The paper counts adapters on BERT-base, "
    "so its % differs in definition and model size."
)
DIFF_NOTE = (
    "Diff = ours - paper. Ours = mean over n trials (seeds of one configuration) ± the half-width "
    "of its 95% t interval when n > 1. The 'no training' row is the floor on the same dev rows: "
    "SST's majority class, Para's and STS's cosine of mean-pooled embeddings (threshold chosen "
    "on training data)."
)
FLOOR = "no training"


@dataclass
class Table:
    """key: file stem (table1); data: one row per configuration, keys + summarize() columns."""

    key: str
    title: str
    data: pd.DataFrame
    key_columns: list[tuple[str, str]]  # (data column, header shown)
    notes: list[str] = field(default_factory=list)
    higher_is_better: dict[str, bool] = field(
        default_factory=lambda: {**{m: True for m in METRICS}, "params_pct": False}
    )
    paper_columns: bool = True
    """Show the paper's value and the difference beside each of ours (False: the paper has
    no such row, e.g. the methods table)."""


def summarize(
    rows: list[TrialRecord], paper: dict[str, float] | None, pooled: bool = False
) -> dict[str, Any]:
    """Mean, std (ddof=1), 95% t interval, min, max of each value over `rows`, the paper's value
    and the diff. pooled: the rows are several configurations, so their spread is not a seed
    interval and none is given (std, min and max stay in the CSV)."""
    out: dict[str, Any] = {
        "n": len(rows),
        "trials": " ".join(trial_label(r) for r in rows),
        "floor": False,
        "pooled": pooled,
    }
    for name in VALUES:
        vals = [v for v in (number(getattr(r, name)) for r in rows) if v is not None]
        interval = mean_interval(vals)
        out[name] = vals[0] if len(vals) == 1 else interval.mean  # one trial: its value, exactly
        out[f"{name}_std"] = interval.std if len(vals) > 1 else math.nan
        low, high = (math.nan, math.nan) if pooled else (interval.low, interval.high)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = low, high
        out[f"{name}_min"] = min(vals) if vals else math.nan
        out[f"{name}_max"] = max(vals) if vals else math.nan
        ref = paper.get(name, math.nan) if paper else math.nan
        out[f"{name}_paper"] = ref
        out[f"{name}_diff"] = out[name] - ref
    return out


def floor_record(floors: dict[str, float] | None, paper: dict[str, float] | None) -> dict[str, Any]:
    """The 'no training' row's values (params 0), beside the paper's where it has one."""
    out: dict[str, Any] = {"n": 0, "trials": "", "floor": True, "pooled": False}
    for name in VALUES:
        value = 0.0 if name == "params_pct" else (floors or {}).get(name, math.nan)
        out[name] = value
        for suffix in ("std", "ci_low", "ci_high"):
            out[f"{name}_{suffix}"] = math.nan
        out[f"{name}_min"] = out[f"{name}_max"] = value
        ref = paper.get(name, math.nan) if paper else math.nan
        out[f"{name}_paper"], out[f"{name}_diff"] = ref, value - ref
    return out


def _fmt(value: float, digits: int, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def digits_for(name: str) -> int:
    return 2 if name == "params_pct" else 3


def display_frame(table: Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells as strings, bold mask): keys, n, then ours / paper / diff per value.

    Bold marks the best 'ours' value in each column (highest score, lowest params %), as the
    paper bolds its best results.
    """
    data = table.data
    cells: dict[str, list[str]] = {}
    bold: dict[str, list[bool]] = {}
    for column, header in table.key_columns:
        cells[header] = [_key_text(v) for v in data[column]]
        bold[header] = [False] * len(data)
    floor = data["floor"].astype(bool) if "floor" in data else pd.Series([False] * len(data))
    cells["n"] = ["-" if f else str(int(v)) for v, f in zip(data["n"], floor, strict=True)]
    bold["n"] = [False] * len(data)
    for name in VALUES:
        label, d = VALUE_LABELS[name], digits_for(name)
        ours = data[name].astype(float)
        finite = ours[~floor.to_numpy()].dropna()  # the best of ours, never the floor
        best = None
        if len(finite):
            best = finite.max() if table.higher_is_better[name] else finite.min()
        half = (data[f"{name}_ci_high"].astype(float) - data[f"{name}_ci_low"].astype(float)) / 2
        cells[f"{label} ours"] = [
            _fmt(m, d) + ("" if math.isnan(h) else f"±{h:.{d}f}")
            for m, h in zip(ours, half, strict=True)
        ]
        bold[f"{label} ours"] = [
            best is not None and v == best and not f for v, f in zip(ours, floor, strict=True)
        ]
        if not table.paper_columns:
            continue
        cells[f"{label} paper"] = [_fmt(v, d) for v in data[f"{name}_paper"].astype(float)]
        cells[f"{label} diff"] = [_fmt(v, d, sign=True) for v in data[f"{name}_diff"].astype(float)]
        bold[f"{label} paper"] = [False] * len(data)
        bold[f"{label} diff"] = [False] * len(data)
    return pd.DataFrame(cells), pd.DataFrame(bold)


def _key_text(value: Any) -> str:
    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
