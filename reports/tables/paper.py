"""Tables 1-3 of the paper from trials.jsonl rows, ours beside the paper's (paper_reference).

Tables use completed trials only: a trial stopped early by ASHA was scored after fewer epochs,
so it would pull a configuration's mean down for a reason that is not the configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from reports import paper_reference as ref
from reports.palette import TARGET_LABELS
from reports.rows import (
    METRIC_LABELS,
    config,
    learning_rate,
    mode,
    order_label,
    task_order,
)
from reports.tables.ensembles import merge_records
from reports.tables.methods import methods_table
from reports.tables.model import DIFF_NOTE, FLOOR, PARAMS_NOTE, Table, floor_record, summarize
from study.metrics import METRICS
from study.records import Configuration, TrialRecord, config_key, rank_configurations

COMPLETED_NOTE = "Completed trials only; trials stopped early by ASHA appear in the figures."
_METHOD_NAMES = {"lora": "LoRA", "dora": "DoRA", "full": "Full"}
_TARGET_RANK = {"qkv": 0, "attn": 1, "all_linear": 2}
_BIAS_RANK = {"none": 0, "all": 1}


def build_tables(rows: list[TrialRecord], floors: dict[str, float] | None = None) -> list[Table]:
    """The tables the rows support (a table with no rows of ours is left out), each with a
    'no training' row first when the study recorded its floors."""
    done = [r for r in rows if r.completed]
    tables = [table1(done), table2(done), table3(done), methods_table(done)]
    tables = [t for t in tables if t is not None]
    if floors:
        for table in tables:
            flag_below_floor(table, floors)
            table.data = pd.concat([_floor_row(table, floors), table.data], ignore_index=True)
    return tables


def flag_below_floor(table: Table, floors: dict[str, float]) -> None:
    """A 'Below floor' column naming each task whose mean is under the no-training floor: such
    a row learned less than nothing at this scale, and says so in the row (the table's notes
    give the start it was tried from)."""
    tasks = [t for t in METRICS if t in floors]

    def below(row: pd.Series) -> str:
        if not row.get("n"):
            return ""
        low = [METRIC_LABELS[t] for t in tasks if pd.notna(row[t]) and row[t] < floors[t]]
        return ", ".join(low)

    table.data["below_floor"] = [below(row) for _, row in table.data.iterrows()]
    if table.data["below_floor"].astype(bool).any():
        table.key_columns.append(("below_floor", "Below floor"))
        table.notes.insert(
            0,
            "Below floor: the tasks whose mean is under the no-training floor (the first row): "
            "such a configuration learned less than nothing at this scale.",
        )


def _floor_row(table: Table, floors: dict[str, float]) -> pd.DataFrame:
    """The floors as a row of `table`: its key columns name it, its values are the floors."""
    keys = {column: None for column, _ in table.key_columns}
    first = table.key_columns[0][0]
    keys[first] = FLOOR
    return pd.DataFrame([keys | floor_record(floors, None)])


def table1(rows: list[TrialRecord]) -> Table | None:
    """Full fine-tuning, dev. The paper's Table 1 model used head design 3 (Sec. 6.1): its row
    here is the design-3 configuration (task order included) chosen on validation, read on dev
    over its seeds. Then one row per configuration (design, order), and, where a design ran
    several orders, a pooled row that is named as pooled and has no seed interval."""
    full = [r for r in rows if not r.is_merge and r.method == "full"]
    if not full:
        return None
    paper = ref.table1_dev()
    configs = rank_configurations(full)
    design3 = [c for c in configs if config(c.records[0]).get("head_design") == 3]
    records = []
    if design3:
        choice = "head design 3 (the paper's), its task order chosen on validation"
        records.append(_t1("design 3, chosen on validation", design3[0].records, paper))
    elif configs:
        design = config(configs[0].records[0]).get("head_design")
        choice = f"no design-3 trials; the configuration chosen on validation (design {design})"
        records.append(_t1("chosen on validation", configs[0].records, paper))
    else:
        choice = "no trial with a validation or dev score"

    def shown(c: Configuration) -> tuple[str, str, str]:
        first = c.records[0]
        return (str(config(first).get("head_design")), task_order(first), c.key)

    for c in sorted(configs, key=shown):
        design, order, _ = shown(c)
        records.append(_t1(f"design {design}, {order_label(order)}", c.records, None))
    by_design: dict[str, list[Configuration]] = {}
    for c in configs:
        by_design.setdefault(shown(c)[0], []).append(c)
    for design, group in sorted(by_design.items()):
        if len(group) > 1:
            members = [r for c in group for r in c.records]
            name = f"design {design}, pooled over {len(group)} orders"
            records.append(_t1(name, members, None, pooled=True))
    return Table(
        key="table1",
        title="Table 1: full fine-tuning, dev",
        data=pd.DataFrame(records),
        key_columns=[("setting", "Setting"), ("head_design", "Head"), ("task_order", "Order")],
        notes=[
            f"First row: {choice}, read on dev over its seeds; the paper's value (dev) is shown "
            "beside it only. Then one row per configuration (head design and task order): n "
            "counts its seeds. A pooled row mixes task orders: its spread is over "
            "configurations, so it has no seed interval. " + _starts(configs),
            orders_run(full, "full_finetune"),
            DIFF_NOTE,
            COMPLETED_NOTE,
            PARAMS_NOTE,
        ],
    )


def orders_run(rows: list[TrialRecord], study: str) -> str:
    """Which of the paper's six task orders have trials here, so a table that ran a subset (the
    cpu scale's preset: search_spaces/<study>.py) names it rather than reading as the whole."""
    paper = ref.table3_orders()
    rank = {o: i for i, o in enumerate(paper)}  # the paper's order of rows; others after
    ran = sorted({task_order(r) for r in rows}, key=lambda o: (rank.get(o, len(paper)), o))
    scales = sorted({str(config(r).get("scale", "?")) for r in rows})
    shown = ", ".join(order_label(o) for o in ran)
    if set(paper) <= set(ran):
        return f"Task orders: all {len(paper)} of the paper's ({shown})."
    return (
        f"Task orders run: {shown}, {len(ran)} of the paper's {len(paper)} (the "
        f"{'/'.join(scales)} scale's preset, search_spaces/{study}.py); the others have no "
        "trials here."
    )


def _starts(configs: list[Configuration]) -> str:
    """What each head design started from (the recipe a row below its floor was tried with)."""
    seen: dict[Any, str] = {}
    for c in configs:
        first = c.records[0]
        cfg = config(first)
        design = cfg.get("head_design")
        head = cfg.get("pair_head", "paper")
        if head == "auto":
            head = "cosine" if design == 2 else "paper"
        head = {"cosine": "calibrated cosine (Eq. 2, W = I)", "paper": "Eq. 4/5"}.get(head, head)
        lr = learning_rate(first)
        seen.setdefault(
            design,
            f"design {design}: {cfg.get('pooling', 'cls')} pooling, {head} pair heads, head lr "
            f"{cfg.get('head_lr', 0):g}, lr {lr:g}"
            if lr
            else f"design {design}",
        )
    if not seen:
        return ""
    return "Each design's start: " + "; ".join(seen[d] for d in sorted(seen, key=str)) + "."


def _t1(
    setting: str, group: Sequence[TrialRecord], paper: dict | None, pooled: bool = False
) -> dict:
    orders = {task_order(r) for r in group}
    order = orders.pop() if len(orders) == 1 else "pooled"
    design = config(group[0]).get("head_design")
    return {"setting": setting, "head_design": design, "task_order": order} | summarize(
        list(group), paper, pooled=pooled
    )


def _t2_fields(row: TrialRecord) -> tuple[str, int, str, str, bool, float | None]:
    """What a Table 2 row shows of its configuration: (method, r, targets, bias, orthogonal,
    learning rate)."""
    c = config(row)
    return (
        row.method,
        int(c.get("r", 0)),
        str(c.get("targets", "qkv")),
        str(c.get("bias", "none")),
        bool(c.get("orthogonal", False)),
        learning_rate(row),
    )


def table2(rows: list[TrialRecord]) -> Table | None:
    """PEFT single task: one row per full configuration (its seeds alone behind its interval);
    paper-only rows keep ours blank."""
    peft = [
        r
        for r in rows
        if not r.is_merge and mode(r) == "single_task" and r.method in ("lora", "dora")
    ]
    if not peft:
        return None
    groups: dict[str, list] = {}
    for r in peft:
        groups.setdefault(config_key(r.config), []).append(r)
    shown = {key: _t2_fields(group[0]) for key, group in groups.items()}
    present = {fields[:5] for fields in shown.values()}
    for m, r, t, b in ref.table2_keys():
        if (m, r, t, b, False) not in present:
            key = f"paper:{m}:{r}:{t}:{b}"
            groups[key], shown[key] = [], (m, r, t, b, False, None)

    def paper_order(key: str) -> tuple:
        # the paper's order: by target set, LoRA before DoRA, no bias before bias, by rank
        m, r, t, b, ortho, lr = shown[key]
        ranks = (_TARGET_RANK.get(t, 9), m != "lora", _BIAS_RANK.get(b, 9), r, lr or 0.0)
        return (ortho, *ranks, key)

    records = []
    for key in sorted(groups, key=paper_order):
        m, r, t, b, ortho, lr = shown[key]
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
            "A row is one full configuration (learning rate included); n counts its seeds. "
            "n = 0: a paper row we have no completed trial for. Best of ours per column in bold "
            "(highest score, lowest params %).",
            DIFF_NOTE,
            COMPLETED_NOTE,
            PARAMS_NOTE,
        ],
    )


def table3(rows: list[TrialRecord]) -> Table | None:
    """Sequential LoRA by task order (top) and the merged ensembles (bottom): each merge method
    at the λ chosen on validation, and at the paper's λ."""
    seq = [
        r
        for r in rows
        if not r.is_merge and mode(r) == "sequential" and r.method in ("lora", "dora")
    ]
    merges = [r for r in rows if r.is_merge]
    if not seq and not merges:
        return None
    records = _sequential_records(seq) + merge_records(merges)
    return Table(
        key="table3",
        title="Table 3: PEFT multi-task (dev): sequential training and model ensembles",
        data=pd.DataFrame(records),
        key_columns=[("group", "Group"), ("name", "Order / method"), ("setting", "Setting")],
        notes=[
            "Sequential rows: one per full configuration; they match the paper's only in its "
            "setting (LoRA r=64, all linear, no bias). Ensembles: per merge method, the λ "
            "setting chosen on validation with the first stage-1 seed's adapters, read on dev "
            "over every stage-1 seed it was applied to; and the paper's λ, where it has one, "
            "beside the paper's value. n_settings in the CSV is how many settings were tried. "
            "FedAvg is what the paper calls AvgFed.",
            *([orders_run(seq, "multitask_order")] if seq else []),
            DIFF_NOTE,
            COMPLETED_NOTE,
            PARAMS_NOTE,
        ],
    )


def _sequential_records(seq: list[TrialRecord]) -> list[dict[str, Any]]:
    groups: dict[str, list[TrialRecord]] = {}
    for r in seq:
        groups.setdefault(config_key(r.config), []).append(r)

    def shown(group: list[TrialRecord]) -> tuple[str, str, int, str, str, float | None]:
        first = group[0]
        c = config(first)
        setting = (first.method, int(c.get("r", 0)), str(c.get("targets")), str(c.get("bias")))
        return (task_order(first), *setting, learning_rate(first))

    fields = {key: shown(group) for key, group in groups.items()}
    present = {f[:5] for f in fields.values()}
    for order in ref.table3_orders():
        if (order, *ref.SEQUENTIAL_SETTING) not in present:
            key = f"paper:{order}"
            groups[key], fields[key] = [], (order, *ref.SEQUENTIAL_SETTING, None)
    order_rank = {o: i for i, o in enumerate(ref.table3_orders())}

    def paper_order(key: str) -> tuple:
        order, *setting, lr = fields[key]
        at_paper = tuple(setting) == ref.SEQUENTIAL_SETTING
        return (order_rank.get(order, 99), order, not at_paper, str(setting), lr or 0.0, key)

    records = []
    for key in sorted(groups, key=paper_order):
        order, m, r, t, b, lr = fields[key]
        at_paper = (m, r, t, b) == ref.SEQUENTIAL_SETTING
        paper = ref.table3_sequential(order) if at_paper else None
        setting = f"{_METHOD_NAMES.get(m, m)} r={r}, {TARGET_LABELS.get(t, t)}, bias {b}"
        setting += f", lr {lr:.1e}" if lr is not None else ""
        records.append(
            {"group": "sequential", "name": order_label(order), "setting": setting}
            | {"task_order": order, "method": m, "r": r, "targets": t, "bias": b}
            | {"merge_method": None, "lambdas": None, "density": None}
            | {"n_settings": 1 if groups[key] else 0}
            | summarize(groups[key], paper)
        )
    return records
