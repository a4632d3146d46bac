"""The findings page on synthetic trials built so that each verdict is known."""

from __future__ import annotations

import math

import pytest

from reports.findings.claims import findings
from study.config import TrialConfig
from study.records import TrialRecord

SEEDS = (0, 1, 2)
NOISE = (0.0, 0.002, -0.002)  # per seed, shared by every configuration: paired seeds cancel it


def _row(trial_id: str, seed: int, overall: float, kind: str = "train", **config) -> TrialRecord:
    base = TrialConfig(seed=seed, **config).to_dict() if kind == "train" else dict(config)
    if kind == "merge":
        base["seed"] = seed
    return TrialRecord(
        kind=kind,
        config=base,
        trial_id=trial_id,
        status="completed",
        seed=seed,
        sst=overall,
        para=overall,
        sts=2 * overall - 1,
        overall=overall,
        study="synthetic",
    )


def _lora_rows(scores: dict[tuple, float]) -> list[TrialRecord]:
    rows = []
    for (method, r, targets, bias), value in scores.items():
        for seed, noise in zip(SEEDS, NOISE, strict=True):
            name = f"{method}{r}{targets}{bias}_s{seed}"
            cfg = {"method": method, "r": r, "targets": targets, "bias": bias}
            rows.append(_row(name, seed, value + noise, **cfg))
    return rows


def _by_claim(rows: list[TrialRecord]) -> dict[str, object]:
    return {f.claim: f for f in findings(rows)}


def test_each_table2_claim_gets_its_known_verdict():
    rows = _lora_rows(
        {
            ("lora", 2, "qkv", "none"): 0.70,
            ("lora", 4, "qkv", "none"): 0.71,
            ("lora", 16, "qkv", "none"): 0.72,
            ("lora", 64, "qkv", "none"): 0.73,  # rises with r: holds
            ("dora", 64, "qkv", "none"): 0.70,  # DoRA below LoRA: reversed
            ("lora", 64, "all_linear", "none"): 0.75,  # all linear above q/k/v: holds
            ("lora", 64, "all_linear", "all"): 0.7505,  # bias changes nothing: holds
            ("lora", 128, "all_linear", "all"): 0.7505,  # no gain from r=128: inconclusive
        }
    )
    rows[-1] = rows[-1].replace(overall=rows[-1].overall + 0.004)  # a seed that disagrees
    got = _by_claim(rows)
    rank = got["the overall score rises with r for q/k/v LoRA"]
    assert rank.verdict == "holds" and rank.n == 3
    assert rank.mean == pytest.approx(0.03 / (math.log2(64) - 1) * 1.0, rel=0.5)
    dora = got["DoRA ≥ LoRA at r=64 on q/k/v"]
    assert dora.verdict == "reversed" and dora.mean == pytest.approx(-0.03) and dora.high < 0
    assert got["all linear layers > q/k/v at r=64"].verdict == "holds"
    bias = got["bias training changes nothing"]
    assert bias.verdict == "holds" and -0.01 <= bias.low and bias.high <= 0.01
    r128 = got["r=128 ≥ r=64 on all linear layers"]
    assert r128.verdict == "inconclusive" and r128.low < 0 < r128.high
    assert r128.seeds_needed is None or r128.seeds_needed > 3
    assert 0 < r128.p_better < 1 and len(r128.trials) == 6


def test_a_big_difference_reverses_a_no_difference_claim():
    rows = _lora_rows(
        {("lora", 64, "all_linear", "none"): 0.70, ("lora", 64, "all_linear", "all"): 0.75}
    )
    assert _by_claim(rows)["bias training changes nothing"].verdict == "reversed"


def test_one_seed_is_inconclusive_and_missing_studies_are_not_run():
    rows = [
        _row("a", 0, 0.70, method="dora", r=64, targets="qkv"),
        _row("b", 0, 0.60, method="lora", r=64, targets="qkv"),
    ]
    got = _by_claim(rows)
    dora = got["DoRA ≥ LoRA at r=64 on q/k/v"]
    assert dora.verdict == "inconclusive" and dora.n == 1 and math.isnan(dora.low)
    not_run = got["head design 3 > designs 1 and 2"]
    assert not_run.verdict == "not run" and "python -m study run full_finetune" in not_run.note
    assert got["EoE > FedAvg and OrthoAda"].verdict == "not run"


def test_head_designs_pair_by_task_order_and_seed():
    rows = []
    for order in ("sst-para-sts", "sts-para-sst"):
        for seed, noise in zip(SEEDS, NOISE, strict=True):
            for design, value in ((1, 0.60), (2, 0.62), (3, 0.70)):
                rows.append(
                    _row(
                        f"d{design}{order}{seed}",
                        seed,
                        value + noise,
                        method="full",
                        mode="sequential",
                        head_design=design,
                        task_order=order,
                    )
                )
    found = _by_claim(rows)["head design 3 > designs 1 and 2"]
    assert found.verdict == "holds" and found.n == 6  # 2 orders x 3 seeds
    assert found.mean == pytest.approx(0.08)  # the smaller of the two effects


def test_task_order_and_ensembles():
    rows = []
    for seed, noise in zip(SEEDS, NOISE, strict=True):
        for order, value in (
            ("sst-para-sts", 0.700),
            ("para-sts-sst", 0.702),
            ("sts-sst-para", 0.699),
        ):
            rows.append(
                _row(
                    f"o{order}{seed}",
                    seed,
                    value + noise,
                    mode="sequential",
                    r=64,
                    targets="all_linear",
                    task_order=order,
                )
            )
        for name, lam, value in (
            ("eoe", 1.0, 0.70),
            ("fedavg", 1 / 3, 0.60),
            ("orthoada", 1 / 3, 0.65),
        ):
            merge = {"merge_method": name, "lambdas": [lam] * 3, "density": None}
            rows.append(_row(f"m{name}{seed}", seed, value + noise, kind="merge", **merge))
    got = _by_claim(rows)
    assert got["the task order barely moves the overall score"].verdict == "holds"
    ensembles = got["EoE > FedAvg and OrthoAda"]
    assert ensembles.verdict == "holds" and ensembles.mean == pytest.approx(0.05)
