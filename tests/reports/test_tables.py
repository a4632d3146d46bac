"""Tables 1 and 3 choose on validation and report dev; their rows are full configurations.
Numbers by hand."""

from __future__ import annotations

import pytest

from reports import paper_reference as ref
from reports.tables.paper import build_tables, table1, table2, table3
from tests.reports.synthetic import record


def _merge(trial_id: str, seed: int, dev: float, val: float, method: str, lam: float):
    cfg = {"merge_method": method, "lambdas": [lam] * 3, "density": None}
    return record(trial_id, seed, dev, val=val, kind="merge", **cfg)


def test_table3_reports_the_validation_best_lambda_on_dev_over_every_stage1_seed():
    """FedAvg at seed 0: λ 0.5 has the best validation (0.70) but not the best dev (0.60);
    λ 0.2 is dev-best (0.68). λ 0.5 is then applied to seeds 1 and 2 (dev 0.62, 0.64), and the
    paper's λ 1/3 ran on all three (dev 0.66 each). Table 3 shows λ 0.5 with dev (0.60 + 0.62
    + 0.64) / 3 = 0.62 over n = 3, and the paper's λ as its own row beside the paper."""
    rows = [
        _merge("a0", 0, 0.60, 0.70, "fedavg", 0.5),
        _merge("b0", 0, 0.68, 0.65, "fedavg", 0.2),
        _merge("a1", 1, 0.62, 0.66, "fedavg", 0.5),
        _merge("a2", 2, 0.64, 0.67, "fedavg", 0.5),
    ]
    rows += [_merge(f"p{s}", s, 0.66, 0.64, "fedavg", 1 / 3) for s in range(3)]
    data = table3(rows).data
    fedavg = data[data.merge_method == "fedavg"]
    chosen, paper = fedavg.iloc[0], fedavg.iloc[1]
    assert chosen["name"].endswith("chosen on validation") and chosen["setting"] == (
        "lambda=(0.5, 0.5, 0.5)"
    )
    assert chosen["n"] == 3 and chosen["overall"] == pytest.approx(0.62)
    assert chosen["trials"].split() == ["a0", "a1", "a2"] and chosen["n_settings"] == 3
    assert chosen["overall_paper"] != chosen["overall_paper"]  # NaN: not the paper's λ
    assert paper["name"].endswith("the paper's λ") and paper["n"] == 3
    assert paper["overall"] == pytest.approx(0.66)
    assert paper["overall_paper"] == ref.table3_ensemble("fedavg")["overall"]


def test_table1_chooses_the_design3_order_on_validation():
    """Design 3 in two orders, 3 seeds each: sst-para-sts has the better validation mean
    (0.70 against 0.65) and the worse dev (0.60 against 0.68): it is the chosen row, with
    its dev mean 0.60 and a seed interval; the pooled row has none."""
    rows = []
    for order, dev, val in (("sst-para-sts", 0.60, 0.70), ("sts-para-sst", 0.68, 0.65)):
        for seed, noise in enumerate((0.0, 0.01, -0.01)):
            cfg = {"method": "full", "mode": "sequential", "head_design": 3, "task_order": order}
            rows.append(record(f"{order}{seed}", seed, dev + noise, val=val + noise, **cfg))
    data = table1(rows).data
    chosen = data.iloc[0]
    assert chosen["setting"] == "design 3, chosen on validation"
    assert chosen["task_order"] == "sst-para-sts" and chosen["n"] == 3
    assert chosen["overall"] == pytest.approx(0.60)
    assert chosen["overall_ci_low"] == pytest.approx(0.60 - 4.3027 * 0.01 / 3**0.5, abs=1e-4)
    pooled = data[data.setting == "design 3, pooled over 2 orders"].iloc[0]
    assert pooled["n"] == 6 and pooled["overall"] == pytest.approx(0.64)
    assert pooled["overall_ci_low"] != pooled["overall_ci_low"]  # NaN: not a seed interval


def test_table2_rows_are_full_configurations_lr_scale_included():
    """Two LoRA r=16 configurations that differ only in lr_scale are two rows, not one."""
    rows = [
        record(f"s{scale}_{seed}", seed, 0.70 + scale / 100, r=16, lr_scale=scale)
        for scale in (1.0, 2.0)
        for seed in range(3)
    ]
    data = table2(rows).data
    ours = data[data.n > 0]
    assert sorted(ours["lr"]) == pytest.approx([3e-4, 6e-4])
    assert list(ours["n"]) == [3, 3]


def test_a_row_below_the_floor_says_so_and_the_table_names_each_designs_start():
    floors = {"sst": 0.282, "para": 0.764, "sts": 0.832, "overall": 0.654}
    rows = []
    for design, value in ((1, 0.70), (2, 0.80)):
        cfg = {"method": "full", "mode": "sequential", "head_design": design}
        cfg |= {"pair_head": "auto", "pooling": "mean", "head_lr": 3e-3}
        rows += [record(f"d{design}{s}", s, value, **cfg) for s in range(3)]
    (t1,) = [t for t in build_tables(rows, floors) if t.key == "table1"]
    data = t1.data.set_index("setting")
    # dev overall 0.70: SST 0.70, Para 0.70 (< 0.764), STS 0.40 (< 0.832); 0.80: STS 0.60
    assert data.loc["design 1, SST-Para-STS", "below_floor"] == "Para, STS"
    assert data.loc["design 2, SST-Para-STS", "below_floor"] == "STS"
    assert ("below_floor", "Below floor") in t1.key_columns
    notes = " ".join(t1.notes)
    assert "design 1: mean pooling, Eq. 4/5 pair heads, head lr 0.003, lr 5e-05" in notes
    assert "design 2: mean pooling, calibrated cosine (Eq. 2, W = I) pair heads" in notes


def test_tables_1_and_3_name_the_task_orders_a_subset_ran():
    """The cpu preset runs 1 of the paper's 6 orders in full_finetune and its 3 rotations in
    multitask_order: each table's note names them and says the others have no trials."""
    full = {"method": "full", "mode": "sequential", "head_design": 3, "scale": "cpu"}
    rows = [record(f"f{s}", s, 0.70, task_order=["sst", "para", "sts"], **full) for s in range(3)]
    seq = {"mode": "sequential", "r": 64, "targets": "all_linear", "scale": "cpu"}
    rotations = (["sst", "para", "sts"], ["para", "sts", "sst"], ["sts", "sst", "para"])
    rows += [
        record(f"o{i}{s}", s, 0.70, task_order=order, **seq)
        for i, order in enumerate(rotations)
        for s in range(3)
    ]
    t1_notes = " ".join(table1(rows).notes)
    assert (
        "Task orders run: SST-Para-STS, 1 of the paper's 6 (the cpu scale's preset, "
        "search_spaces/full_finetune.py); the others have no trials here." in t1_notes
    )
    t3_notes = " ".join(table3(rows).notes)
    assert "3 of the paper's 6 (the cpu scale's preset, search_spaces/multitask_order.py)" in (
        t3_notes
    )
    for order in ("SST-Para-STS", "Para-STS-SST", "STS-SST-Para"):
        assert order in t3_notes
