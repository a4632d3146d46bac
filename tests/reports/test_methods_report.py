"""The methods table, the budget findings and the Pareto page on synthetic rows whose answers
are known (the real study's pages are checked by running `study report peft_methods`)."""

from __future__ import annotations

import pytest

from reports.figures.search import pareto_figure
from reports.findings.budgets import budget_findings
from reports.tables.methods import methods_table
from reports.tables.model import display_frame
from study.records import TrialRecord
from tests.reports.synthetic import record

NOISE = (0.0, 0.003, -0.003)  # per seed, shared by every method: paired seeds cancel it
# per method and seed, so that paired differences have a spread (a zero one decides nothing)
JITTER = {"lora": 1, "oft": 2, "ia3": -1, "vera": 3, "adalora": 0, "boft": -2}


def _row(name: str, seed: int, overall: float, pct: float, **config) -> TrialRecord:
    extra = {"params_pct": pct, "adapter_pct": pct / 2, "seconds": 40.0 + seed}
    extra |= {"adapter_bytes": int(pct * 1e6) + 10_000 * seed}
    extra |= {"peak_rss_mb": 1500.0, "optimizer_steps": {"sst": 50, "para": 50, "sts": 50}}
    return record(name, seed, overall, **extra, **config)


def _method(name: str, overall: float, pct: float, seeds: int = 3, **config) -> list[TrialRecord]:
    jitter = [JITTER[name] * 0.0005 * (s - 1) for s in range(seeds)]  # mean 0 over 3 seeds
    return [
        _row(f"{name}_s{s}", s, overall + NOISE[s] + jitter[s], pct, **config) for s in range(seeds)
    ]


@pytest.fixture
def rows() -> list[TrialRecord]:
    out = _method("lora", 0.71, 1.0, method="lora", r=16)
    out += [_row("lora_other", 0, 0.73, 2.0, method="lora", r=64)]  # one seed: not its best
    out += _method("oft", 0.73, 1.0, method="oft", r=64)
    out += _method("ia3", 0.72, 0.15, method="ia3", targets="all_linear")
    out += _method("vera", 0.70, 0.15, method="vera", r=64, targets="all_linear")
    out += _method("adalora", 0.69, 1.0, method="adalora", r=16)
    return out


def test_the_table_holds_each_methods_rerun_configuration(rows):
    table = methods_table(rows)
    data = table.data.set_index("method")
    assert list(data.index) == ["lora", "vera", "ia3", "oft", "adalora"]  # PEFT_METHODS order
    assert data.loc["lora", "size"] == "r 16" and data.loc["lora", "n"] == 3  # not the r=64 run
    assert data.loc["oft", "size"] == "block 64"
    assert data.loc["oft", "overall"] == pytest.approx(0.73)
    assert data.loc["oft", "overall_ci_low"] < 0.73 < data.loc["oft", "overall_ci_high"]
    assert data.loc["ia3", "note"] == "natural size" and data.loc["vera", "note"] == "natural size"
    assert "rank schedule over only 50 steps: not meaningful here" in data.loc["adalora", "note"]
    assert data.loc["lora", "seconds_text"] == "41" and data.loc["lora", "memory_text"] == "1500"
    assert data.loc["lora", "size_mb_text"] == "1.01"  # mean of 1.00, 1.01, 1.02 MB on disk
    cells, _ = display_frame(table)
    assert not any("paper" in c or "diff" in c for c in cells.columns)  # no paper row to show
    assert "Overall ours" in cells.columns and "±" in cells["Overall ours"][0]


def test_only_the_papers_methods_leave_it_out(rows):
    assert methods_table([r for r in rows if r.config["method"] == "lora"]) is None
    (finding,) = budget_findings([r for r in rows if r.config["method"] == "lora"])
    assert finding.verdict == "not run" and "python -m study run peft_methods" in finding.note


def test_each_budget_gets_its_winner(rows):
    found = budget_findings(rows)
    claims = [f.claim for f in found]
    # ≤ 0.2: IA3 and VeRA only; ≤ 1 (and every larger tier): OFT; one finding per new set
    assert claims == ["params_pct ≤ 0.2: IA3 wins", "params_pct ≤ 1: OFT wins"]
    small, big = found
    assert small.verdict == "holds" and small.mean == pytest.approx(0.02)
    assert big.effect == "OFT - IA3, dev overall" and big.mean == pytest.approx(0.01)
    assert big.verdict == "holds" and big.n == 3 and len(big.trials) == 6


def test_a_tie_within_noise_is_inconclusive(rows):
    rows += _method("boft", 0.7299, 1.0, method="boft", r=32)
    rows[-1] = rows[-1].replace(overall=rows[-1].overall + 0.01)  # one seed disagrees
    big = budget_findings(rows)[-1]
    assert big.verdict == "inconclusive" and big.low < 0 < big.high


def test_the_pareto_page_colours_every_method(rows):
    fig = pareto_figure(rows)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    for name in ("LoRA", "OFT", "IA3", "VeRA", "AdaLoRA"):
        assert name in labels


def test_a_budget_winner_is_chosen_on_validation_and_tested_on_dev(rows):
    """Within 0.2%: VeRA has the better validation score (0.73 against IA3's 0.72) but the
    worse dev (0.70): VeRA is the winner, and dev reverses it (-0.02, by hand)."""
    rows = [r.replace(val_overall=0.73) if r.config["method"] == "vera" else r for r in rows]
    small = budget_findings(rows)[0]
    assert small.claim == "params_pct ≤ 0.2: VeRA wins"
    assert small.effect == "VeRA - IA3, dev overall" and small.mean == pytest.approx(-0.02)
    assert small.verdict == "reversed"
    assert "ranked on mean validation overall" in small.note
