"""The paper's numbers (study/reference/paper_tables.csv), looked up by the keys our rows carry."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import pandas as pd

VALUE_COLUMNS = ("sst", "para", "sts", "overall", "params_pct")
# Our merge_method -> the paper's Table 3 name (the paper calls FedAvg "AvgFed").
MERGE_PAPER_NAMES = {"eoe": "EoE", "fedavg": "AvgFed", "orthoada": "OrthoAda"}
# Table 3's λ per task: EoE's experts at full weight, AvgFed's equal weights, OrthoAda's sum.
PAPER_LAMBDA = {"eoe": 1.0, "fedavg": 1 / 3, "orthoada": 1 / 3}


@functools.lru_cache(maxsize=1)
def paper_table() -> pd.DataFrame:
    """The reference CSV as shipped with the study package."""
    path = resources.files("study") / "reference" / "paper_tables.csv"
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype={"r": "Int64", "targets": str, "bias": str, "order": str})
    return df


def reference_path() -> str:
    return str(resources.files("study") / "reference" / "paper_tables.csv")


def _values(df: pd.DataFrame) -> dict[str, float] | None:
    if df.empty:
        return None
    row = df.iloc[0]
    return {c: float(row[c]) for c in VALUE_COLUMNS}


def table1_dev() -> dict[str, float] | None:
    """Table 1, dev split (full fine-tuning; the paper's submitted model)."""
    df = paper_table()
    return _values(df[(df["table"] == 1) & (df["split"] == "dev")])


def table2_keys() -> list[tuple[str, int, str, str]]:
    """(method, r, targets, bias) of every Table 2 row, in the paper's order."""
    df = paper_table()
    df = df[df["table"] == 2]
    return [
        (str(m).lower(), int(r), str(t), str(b))
        for m, r, t, b in zip(df["method"], df["r"], df["targets"], df["bias"], strict=True)
    ]


def table2(method: str, r: int, targets: str, bias: str) -> dict[str, float] | None:
    """Table 2 row for (method, r, targets, bias); 'LoRA (all linear & bias)' is bias=all."""
    df = paper_table()
    hit = df[
        (df["table"] == 2)
        & (df["method"].str.lower() == method)
        & (df["r"] == r)
        & (df["targets"] == targets)
        & (df["bias"] == bias)
    ]
    return _values(hit)


# The setting of the paper's sequential rows (Sec. 5.3): LoRA r=64 on all linear, no bias.
SEQUENTIAL_SETTING = ("lora", 64, "all_linear", "none")


def table3_orders() -> list[str]:
    df = paper_table()
    return [str(o) for o in df[(df["table"] == 3) & (df["group"] == "sequential")]["order"]]


def table3_sequential(order: str) -> dict[str, float] | None:
    """Table 3 sequential row for a task order like 'sst-para-sts'."""
    df = paper_table()
    return _values(df[(df["table"] == 3) & (df["group"] == "sequential") & (df["order"] == order)])


def table3_ensemble(merge_method: str) -> dict[str, float] | None:
    """Table 3 ensemble row (EoE, AvgFed, OrthoAda); None for methods the paper did not run."""
    name = MERGE_PAPER_NAMES.get(merge_method)
    if name is None:
        return None
    df = paper_table()
    return _values(df[(df["table"] == 3) & (df["group"] == "ensemble") & (df["method"] == name)])


def pareto_points() -> list[dict[str, Any]]:
    """The paper's (params %, overall) of Tables 1-3 dev rows, for the Pareto figure."""
    df = paper_table()
    df = df[df["split"] == "dev"]
    return [
        {"label": str(m), "params_pct": float(p), "overall": float(o)}
        for m, p, o in zip(df["method"], df["params_pct"], df["overall"], strict=True)
    ]
