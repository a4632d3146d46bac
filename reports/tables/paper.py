"""Tables 1-3 of the paper from trials.jsonl rows, ours beside the paper's (paper_reference).

Tables use completed trials only: a trial stopped early by ASHA was scored after fewer epochs,
so it would pull a configuration's mean down for a reason that is not the configuration.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports import paper_reference as ref
from reports.palette import TARGET_LABELS
from reports.rows import (
    config,
    merge_setting,
    mode,
    order_label,
    task_order,
)
from reports.tables.methods import methods_table
from reports.tables.model import DIFF_NOTE, FLOOR, PARAMS_NOTE, Table, floor_record, summarize
from study.config import DEFAULT_LR
from study.records import TrialRecord

COMPLETED_NOTE = "Completed trials only; trials stopped early by ASHA appear in the figures."
_METHOD_NAMES = {"lora": "LoRA", "dora": "DoRA", "full": "Full"}
_TARGET_RANK = {"qkv": 0, "attn": 1, "all_linear": 2}
_BIAS_RANK = {"none": 0, "all": 1}
_MERGE_NAMES = {
    "eoe": "EoE",
    "fedavg": "FedAvg (paper: AvgFed)",
    "orthoada": "OrthoAda",
    "ties": "TIES",
    "dare": "DARE",
    "dare_ties": "DARE-TIES",
    "task_arithmetic": "Task arithmetic",
}


def build_tables(rows: list[TrialRecord], floors: dict[str, float] | None = None) -> list[Table]:
    """The tables the rows support (a table with no rows of ours is left out), each with a
    'no training' row first when the study recorded its floors."""
    done = [r for r in rows if r.completed]
    tables = [table1(done), table2(done), table3(done), methods_table(done)]
    tables = [t for t in tables if t is not None]
    if floors:
        for table in tables:
            table.data = pd.concat([_floor_row(table, floors), table.data], ignore_index=True)
    return tables


def _floor_row(table: Table, floors: dict[str, float]) -> pd.DataFrame:
    """The floors as a row of `table`: its key columns name it, its values are the floors."""
    keys = {column: None for column, _ in table.key_columns}
    first = table.key_columns[0][0]
    keys[first] = FLOOR
    return pd.DataFrame([keys | floor_record(floors, None)])


def table1(rows: list[TrialRecord]) -> Table | None:
    """Full fine-tuning, dev. The paper's Table 1 model used head design 3 (Sec. 6.1)."""
    full = [r for r in rows if not r.is_merge and r.method == "full"]
    if not full:
        return None
    paper = ref.table1_dev()
    design3 = [r for r in full if config(r).get("head_design") == 3]
    records = []
    if design3:
        best = max(design3, key=lambda r: r.overall)
        choice = "head design 3 (the paper's): the mean over all design-3 trials and the best one"
        records.append(_t1("design 3, all orders (mean)", 3, "all", design3, paper))
        records.append(_t1("design 3, best trial", 3, task_order(best), [best], paper))
    else:
        best = max(full, key=lambda r: r.overall)
        design = config(best).get("head_design")
        choice = f"no design-3 trials; the best trial (head design {design}) is compared"
        records.append(_t1("best trial", design, task_order(best), [best], paper))
    for design in sorted({config(r).get("head_design") for r in full} - {3}, key=str):
        group = [r for r in full if config(r).get("head_design") == design]
        records.append(_t1(f"design {design}, all orders (mean)", design, "all", group, None))
    return Table(
        key="table1",
        title="Table 1: full fine-tuning, dev",
        data=pd.DataFrame(records),
        key_columns=[("setting", "Setting"), ("head_design", "Head"), ("task_order", "Order")],
        notes=[
            f"Rows: {choice}. The paper's value (dev) is shown beside design-3 rows only; "
            "designs 1 and 2 are in Figure 2.",
            DIFF_NOTE,
            COMPLETED_NOTE,
            PARAMS_NOTE,
        ],
    )


def _t1(setting: str, design: Any, order: str, group: list, paper: dict | None) -> dict:
    return {"setting": setting, "head_design": design, "task_order": order} | summarize(
        group, paper
    )


def _t2_key(row: TrialRecord) -> tuple[str, int, str, str, bool, float | None]:
    """A Table 2 row: (method, r, targets, bias, orthogonal, learning rate); the seeds of one
    configuration share it, so its interval is over seeds alone."""
    c = config(row)
    lr = c.get("lr") if c.get("lr") is not None else DEFAULT_LR.get(row.method)
    return (
        row.method,
        int(c.get("r", 0)),
        str(c.get("targets", "qkv")),
        str(c.get("bias", "none")),
        bool(c.get("orthogonal", False)),
        lr,
    )


def table2(rows: list[TrialRecord]) -> Table | None:
    """PEFT single task: rows by (method, r, targets, bias, lr); paper-only rows keep ours blank."""
    peft = [
        r
        for r in rows
        if not r.is_merge and mode(r) == "single_task" and r.method in ("lora", "dora")
    ]
    if not peft:
        return None
    groups: dict[tuple, list] = {}
    for r in peft:
        groups.setdefault(_t2_key(r), []).append(r)
    present = {k[:5] for k in groups}
    for m, r, t, b in ref.table2_keys():
        if (m, r, t, b, False) not in present:
            groups[(m, r, t, b, False, None)] = []
    records = []
    for key in sorted(
        groups,
        # the paper's order: by target set, LoRA before DoRA, no bias before bias, by rank
        key=lambda k: (
            k[4],
            _TARGET_RANK.get(k[2], 9),
            k[0] != "lora",
            _BIAS_RANK.get(k[3], 9),
            k[1],
            k[5] or 0.0,
        ),
    ):
        m, r, t, b, ortho, lr = key
        paper = None if ortho else ref.table2(m, r, t, b)
        name = _METHOD_NAMES.get(m, m) + (" (orthogonal A)" if ortho else "")
        records.append(
            {"method": m, "r": r, "targets": t, "bias": b, "orthogonal": ortho, "lr": lr}
            | {"method_label": name, "targets_label": TARGET_LABELS.get(t, t)}
            | summarize(groups[key], paper)
        )
    return Table(
        key="table2",
        title="Table 2: PEFT single task (dev)",
        data=pd.DataFrame(records),
        key_columns=[
            ("method_label", "Method"),
            ("r", "r"),
            ("targets_label", "Targets"),
            ("bias", "Bias"),
            ("lr", "lr"),
        ],
        notes=[
            "Paper rows map by (method, r, targets, bias); 'LoRA (all linear & bias)' is bias=all. "
            "A row is one configuration (learning rate included); n counts its seeds. "
            "n = 0: a paper row we have no completed trial for. Best of ours per column in bold "
            "(highest score, lowest params %).",
            DIFF_NOTE,
            COMPLETED_NOTE,
            PARAMS_NOTE,
        ],
    )


def table3(rows: list[TrialRecord]) -> Table | None:
    """Sequential LoRA by task order (top) and the merged ensembles at their best lambda."""
    seq = [
        r
        for r in rows
        if not r.is_merge and mode(r) == "sequential" and r.method in ("lora", "dora")
    ]
    merges = [r for r in rows if r.is_merge]
    if not seq and not merges:
        return None
    records = _sequential_records(seq) + _merge_records(merges)
    return Table(
        key="table3",
        title="Table 3: PEFT multi-task (dev): sequential training and model ensembles",
        data=pd.DataFrame(records),
        key_columns=[("group", "Group"), ("name", "Order / method"), ("setting", "Setting")],
        notes=[
            "Sequential rows match the paper's only in its setting (LoRA r=64, all linear, no "
            "bias). Ensembles: the best lambda per method by mean overall; n_settings in the CSV "
            "is how many lambda settings were tried. FedAvg is what the paper calls AvgFed.",
            DIFF_NOTE,
            COMPLETED_NOTE,
            PARAMS_NOTE,
        ],
    )


def _sequential_records(seq: list[TrialRecord]) -> list[dict[str, Any]]:
    groups: dict[tuple, list] = {}
    for r in seq:
        c = config(r)
        key = (
            task_order(r),
            r.method,
            int(c.get("r", 0)),
            str(c.get("targets")),
            str(c.get("bias")),
        )
        groups.setdefault(key, []).append(r)
    for order in ref.table3_orders():
        groups.setdefault((order, *ref.SEQUENTIAL_SETTING), [])
    order_rank = {o: i for i, o in enumerate(ref.table3_orders())}
    records = []
    for key in sorted(
        groups,
        key=lambda k: (order_rank.get(k[0], 99), k[0], k[1:] != ref.SEQUENTIAL_SETTING, str(k[1:])),
    ):
        order, m, r, t, b = key
        paper = ref.table3_sequential(order) if key[1:] == ref.SEQUENTIAL_SETTING else None
        setting = f"{_METHOD_NAMES.get(m, m)} r={r}, {TARGET_LABELS.get(t, t)}, bias {b}"
        records.append(
            {"group": "sequential", "name": order_label(order), "setting": setting}
            | {"task_order": order, "method": m, "r": r, "targets": t, "bias": b}
            | {"merge_method": None, "lambdas": None, "density": None}
            | {"n_settings": 1 if groups[key] else 0}
            | summarize(groups[key], paper)
        )
    return records


def _merge_records(merges: list[TrialRecord]) -> list[dict[str, Any]]:
    by_method: dict[str, dict[tuple, list]] = {}
    for r in merges:
        name, lambdas, density = merge_setting(r)
        by_method.setdefault(name, {}).setdefault((lambdas, density), []).append(r)
    for name in ref.MERGE_PAPER_NAMES:
        by_method.setdefault(name, {})
    order = list(_MERGE_NAMES)
    records = []
    for name in sorted(by_method, key=lambda n: (order.index(n) if n in order else 99, n)):
        settings = by_method[name]
        best_key, best_rows = None, []
        if settings:
            best_key, best_rows = max(
                settings.items(), key=lambda kv: sum(r.overall for r in kv[1]) / len(kv[1])
            )
        lambdas, density = best_key if best_key else ((), None)
        setting = ""
        if best_key:
            setting = "lambda=(" + ", ".join(f"{x:g}" for x in lambdas if x is not None) + ")"
            setting += f", density {density:g}" if density is not None else ""
        records.append(
            {"group": "ensemble", "name": _MERGE_NAMES.get(name, name), "setting": setting}
            | {"task_order": None, "method": None, "r": None, "targets": None, "bias": None}
            | {"merge_method": name}
            | {"lambdas": " ".join(f"{x!r}" for x in lambdas), "density": density}
            | {"n_settings": len(settings)}
            | summarize(best_rows, ref.table3_ensemble(name))
        )
    return records
