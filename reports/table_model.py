"""A report table: raw numbers (the CSV) plus the formatted cells the PDF/Markdown/LaTeX show.

Every compared quantity gets three columns: ours (mean over trials sharing the row's
configuration, with std/min/max/n in the CSV), the paper's value and the difference ours - paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reports.rows import METRIC_LABELS, number, trial_label
from study.metrics import METRICS
from study.records import TrialRecord

VALUES = (*METRICS, "params_pct")
VALUE_LABELS = {**METRIC_LABELS, "params_pct": "Params %"}
PARAMS_NOTE = (
    "Our 'Params %' is params_pct: trainable parameters / (base encoder + head parameters) x 100, "
    "heads included on both sides (model/adapters.py). The paper counts adapters on BERT-base, "
    "so its % differs in definition and model size."
)
DIFF_NOTE = "Diff = ours - paper. Ours = mean over n trials (+- sample std when n > 1)."


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


def summarize(rows: list[TrialRecord], paper: dict[str, float] | None) -> dict[str, Any]:
    """Mean, std (ddof=1), min, max of each value over `rows`, the paper's value and the diff."""
    out: dict[str, Any] = {
        "n": len(rows),
        "trials": " ".join(trial_label(r) for r in rows),
    }
    for name in VALUES:
        vals = [v for v in (number(getattr(r, name)) for r in rows) if v is not None]
        mean = float(np.mean(vals)) if vals else math.nan
        out[name] = vals[0] if len(vals) == 1 else mean  # one trial: its value, exactly
        out[f"{name}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else math.nan
        out[f"{name}_min"] = min(vals) if vals else math.nan
        out[f"{name}_max"] = max(vals) if vals else math.nan
        ref = paper.get(name, math.nan) if paper else math.nan
        out[f"{name}_paper"] = ref
        out[f"{name}_diff"] = out[name] - ref
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
    cells["n"] = [str(int(v)) for v in data["n"]]
    bold["n"] = [False] * len(data)
    for name in VALUES:
        label, d = VALUE_LABELS[name], digits_for(name)
        ours = data[name].astype(float)
        finite = ours.dropna()
        best = None
        if len(finite):
            best = finite.max() if table.higher_is_better[name] else finite.min()
        cells[f"{label} ours"] = [
            _fmt(m, d) + ("" if math.isnan(s) else f"±{s:.{d}f}")
            for m, s in zip(ours, data[f"{name}_std"].astype(float), strict=True)
        ]
        bold[f"{label} ours"] = [best is not None and v == best for v in ours]
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
