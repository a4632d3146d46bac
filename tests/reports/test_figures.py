"""Figure and helper behaviour of the report: Figure 1's colours, long tables, the Pareto
front, merge settings, importances, and the fixture's recorded names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reports.figures.figure1 import block_parts, figure1
from reports.figures.importance import importance_figure
from reports.figures.search import pareto_front
from reports.palette import TRAINED_COLOR
from reports.rows import merge_setting
from reports.tables.paper import table2
from reports.tables.render import table_pages
from study.records import TrialRecord
from study.tuning.journal import read_importances
from tests.reports.fixtures.report_study import (
    TRAINED,
    train_row,
    write_journal,
)

ROOT = Path(__file__).resolve().parents[2]


def test_figure1_colours_come_from_the_recorded_names():
    parts, unknown = block_parts(TRAINED["dora_qkv"])
    assert unknown == []
    assert parts["attention.self.query"] == {"lora_A", "lora_B", "magnitude"}
    assert parts["intermediate.dense"] == set()
    parts, _ = block_parts(TRAINED["lora_all_linear_bias"])
    assert parts["output.LayerNorm"] == {"bias"} and parts["output.dense"] == {
        "bias",
        "lora_A",
        "lora_B",
    }
    rng = np.random.default_rng(0)
    trained = {}
    for key, kwargs in {
        "full": {"method": "full"},
        "lora": {"method": "lora", "targets": "qkv"},
        "dora": {"method": "dora", "targets": "qkv"},
    }.items():
        fig, _ = figure1([TrialRecord.from_dict(train_row(key, rng, **kwargs))])
        ax = fig.axes[0]
        trained[key] = sum(tuple(p.get_facecolor()[:3]) == _rgb(TRAINED_COLOR) for p in ax.patches)
    # full: 8 weights + 8 biases; LoRA qkv: A and B on 3 blocks; DoRA adds 3 magnitudes
    assert trained == {"full": 16, "lora": 6, "dora": 9}


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(hex_colour)


def test_a_long_table_continues_on_further_pages():
    rng = np.random.default_rng(2)
    rows = [
        TrialRecord.from_dict(train_row(f"t{r}{t}{b}", rng, r=r, targets=t, bias=b))
        for r in (2, 4, 8, 16, 32)
        for t in ("qkv", "attn", "all_linear")
        for b in ("none", "all")
    ]
    table = table2(rows)
    assert len(table.data) == 35  # 30 of ours + the 5 paper rows at r 64 and 128 (paper only)
    pages = table_pages(table, rows_per_page=24)
    assert len(pages) == 2 and "continued, 2/2" in pages[1].texts[0].get_text()


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 0.6), (2.0, 0.5), (3.0, 0.7), (0.5, 0.4), (3.0, 0.65)]
    assert pareto_front(points) == [3, 0, 2]


def test_merge_setting_reads_config_row_or_sampled_params():
    in_config = {"kind": "merge", "config": {"merge_method": "ties", "lambdas": [1, 0.5, 0.25]}}
    in_config["config"]["density"] = 0.2
    assert merge_setting(TrialRecord.from_dict(in_config)) == ("ties", (1.0, 0.5, 0.25), 0.2)
    as_dict = {"kind": "merge", "merge_method": "eoe", "lambdas": {"sts": 3, "sst": 1, "para": 2}}
    assert merge_setting(TrialRecord.from_dict(as_dict)) == ("eoe", (1.0, 2.0, 3.0), None)
    sampled = {"kind": "merge", "config": {"method": "lora"}, "params": {"merge_method": "fedavg"}}
    sampled["params"] |= {"lambda_sst": 0.1, "lambda_para": 0.2, "lambda_sts": 0.3, "density": 0.5}
    assert merge_setting(TrialRecord.from_dict(sampled)) == (
        "fedavg",
        (0.1, 0.2, 0.3),
        None,
    )  # fedavg reads no density


def test_importances_skip_with_a_note_when_too_few_trials(tmp_path):
    rows = [train_row(f"t{i}", np.random.default_rng(i), r=2 ** (i + 1)) for i in range(2)]
    write_journal(tmp_path / "optuna.journal", rows)
    found, notes = read_importances("few", tmp_path)
    assert found == [] and "2 completed Optuna trials" in notes[0]
    assert importance_figure(found, notes) is None
    found, notes = read_importances("none", tmp_path / "absent")
    assert found == [] and "no Optuna journal" in notes[0]


@pytest.mark.slow
def test_fixture_names_match_the_real_model():
    """The synthetic rows' trained_params are what model/adapters.py records today."""
    from model.adapters import trained_layer_names
    from model.encoder import load_encoder
    from model.multitask import build_model
    from study.config import TrialConfig

    settings = {
        "full": {"method": "full"},
        "lora_qkv": {"method": "lora", "targets": "qkv"},
        "dora_qkv": {"method": "dora", "targets": "qkv"},
        "lora_attn": {"method": "lora", "targets": "attn"},
        "lora_all_linear": {"method": "lora", "targets": "all_linear"},
        "lora_all_linear_bias": {"method": "lora", "targets": "all_linear", "bias": "all"},
    }
    for key, kwargs in settings.items():
        model = build_model(
            TrialConfig(mode="sequential", r=2, **kwargs).model_spec(), load_encoder("")
        )
        assert trained_layer_names(model.encoder_for("sst")) == TRAINED[key], key
    assert (
        json.loads((ROOT / "tests" / "reports" / "fixtures" / "trained_params.json").read_text())
        == TRAINED
    )
