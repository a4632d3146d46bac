"""The findings on synthetic trials built so that each verdict, and each number behind it, is
known by hand."""

from __future__ import annotations

import math

import pytest

from reports.findings.claims import SLOPE_EFFECT, findings
from reports.findings.verdicts import judge, with_holm
from reports.stats import MIN_EFFECT
from study.records import TrialRecord
from tests.reports.synthetic import record

SEEDS = (0, 1, 2)
NOISE = (0.0, 0.002, -0.002)  # per seed, shared by every configuration: paired seeds cancel it
JITTER = (0.0, 0.0005, -0.0005)  # per seed, added to one side: the differences' spread


def _lora_rows(scores: dict[tuple, float], lr: float | None = None) -> list[TrialRecord]:
    """3 seeds per configuration; the i-th configuration gets i x JITTER on top of NOISE, so
    that the differences of any two have a spread."""
    rows = []
    for i, ((method, r, targets, bias), value) in enumerate(scores.items()):
        for seed, noise in zip(SEEDS, NOISE, strict=True):
            name = f"{method}{r}{targets}{bias}{lr or ''}_s{seed}"
            cfg = {"method": method, "r": r, "targets": targets, "bias": bias, "lr": lr}
            rows.append(record(name, seed, value + noise + i * JITTER[seed], **cfg))
    return rows


def _jitter(rows: list[TrialRecord], scale: float = 1.0) -> list[TrialRecord]:
    return [r.replace(overall=r.overall + scale * JITTER[r.seed_value]) for r in rows]


def _by_claim(rows: list[TrialRecord]) -> dict[str, object]:
    return {f.claim: f for f in findings(rows)}


def test_each_table2_claim_gets_its_known_verdict():
    rows = _lora_rows(
        {
            ("lora", 2, "qkv", "none"): 0.70,
            ("lora", 4, "qkv", "none"): 0.71,
            ("lora", 16, "qkv", "none"): 0.72,
            ("lora", 64, "qkv", "none"): 0.73,  # rises with r: holds
            ("lora", 64, "all_linear", "none"): 0.75,  # all linear above q/k/v: holds
            ("lora", 64, "all_linear", "all"): 0.7505,  # bias changes nothing: holds
            ("lora", 128, "all_linear", "all"): 0.7505,  # no gain from r=128: inconclusive
            ("dora", 64, "qkv", "none"): 0.70,  # below LoRA: reversed
        }
    )
    rows[-4] = rows[-4].replace(overall=rows[-4].overall + 0.004)  # an r=128 seed disagrees
    got = _by_claim(rows)
    rank = got["the overall score rises with r for q/k/v LoRA"]
    assert rank.verdict == "holds" and rank.n == 3 and rank.min_effect == SLOPE_EFFECT
    assert SLOPE_EFFECT == pytest.approx(0.001)  # 0.005 over the 5 doublings from 2 to 64
    dora = got["DoRA ≥ LoRA at r=64 on q/k/v"]
    assert dora.verdict == "reversed" and dora.mean == pytest.approx(-0.03) and dora.high < 0
    assert dora.p_one_sided > 0.99  # H1 is DoRA > LoRA
    assert len(dora.trials) == 6
    bias = got["bias training changes nothing"]
    assert bias.verdict == "holds" and -MIN_EFFECT <= bias.low and bias.high <= MIN_EFFECT
    r128 = got["r=128 ≥ r=64 on all linear layers"]
    assert r128.verdict == "inconclusive" and r128.low < 0 < r128.high
    assert r128.seeds_to_decide is not None and r128.to_decide
    # every other claim's study did not run
    assert got["head design 3 > designs 1 and 2"].verdict == "not run"


def test_a_claim_compares_at_the_papers_learning_rate_whatever_the_file_order():
    """Two 3-seed LoRA r=64 q/k/v groups: lr 1e-3 (first in the file, 0.60) and the paper's
    3e-4 (0.70). DoRA at 3e-4 scores 0.72: the claim reads +0.02, never +0.12, and lists only
    the six paired trials at the paper's point."""
    rows = _lora_rows({("lora", 64, "qkv", "none"): 0.60}, lr=1e-3)
    rows += _lora_rows({("lora", 64, "qkv", "none"): 0.70})  # lr None: the default, 3e-4
    rows += _jitter(_lora_rows({("dora", 64, "qkv", "none"): 0.72}, lr=3e-4))
    dora = _by_claim(rows)["DoRA ≥ LoRA at r=64 on q/k/v"]
    assert dora.mean == pytest.approx(0.02) and dora.n == 3 and dora.verdict == "holds"
    assert sorted(dora.trials) == sorted(
        [f"dora64qkvnone0.0003_s{s}" for s in SEEDS] + [f"lora64qkvnone_s{s}" for s in SEEDS]
    )


def test_no_difference_differs_only_outside_the_band_and_zero_spread_decides_nothing():
    big = _lora_rows({("lora", 64, "all_linear", "none"): 0.70})
    big += _jitter(_lora_rows({("lora", 64, "all_linear", "all"): 0.75}))
    assert _by_claim(big)["bias training changes nothing"].verdict == "differs"
    same = _lora_rows({("lora", 64, "all_linear", "none"): 0.70})
    same += _lora_rows({("lora", 64, "all_linear", "all"): 0.75})
    found = _by_claim(same)["bias training changes nothing"]  # three identical differences
    assert found.verdict == "inconclusive" and "no spread" in found.to_decide


def test_one_or_two_seeds_are_inconclusive_with_unknown_seeds_to_decide():
    rows = [
        record("a", 0, 0.70, method="dora", r=64, targets="qkv"),
        record("b", 0, 0.60, method="lora", r=64, targets="qkv"),
    ]
    dora = _by_claim(rows)["DoRA ≥ LoRA at r=64 on q/k/v"]
    assert dora.verdict == "inconclusive" and dora.n == 1 and math.isnan(dora.low)
    assert dora.seeds_to_decide is None and dora.to_decide.startswith("unknown")
    assert math.isnan(dora.p_one_sided)
    two = judge("c", "s", "x", "greater", "e", [0.05, 0.0501], ["t1", "t2"])
    assert two.verdict == "inconclusive" and two.low > 0  # the interval alone would say holds
    assert math.isnan(two.p_one_sided)


def test_holm_turns_a_marginal_verdict_inconclusive_over_several_claims():
    # mean 0.03, sd 0.005, n 3: t = 6 sqrt 3, one-sided p = 1/2 - t / (2 sqrt(2 + t^2)) =
    # 0.00457, so p_verdict = 0.00915: holds alone; Holm over 8 claims multiplies the smallest
    # p by 8 (0.073 > 0.05): inconclusive in the family
    strong = judge("a", "s", "x", "greater", "e", [0.025, 0.03, 0.035], [])
    t = 6 * math.sqrt(3)
    p = 0.5 - t / (2 * math.sqrt(2 + t**2))
    assert strong.verdict == "holds" and strong.p_verdict == pytest.approx(2 * p)
    others = [judge(f"o{i}", "s", "x", "greater", "e", [0.01, -0.01, 0.0], []) for i in range(7)]
    family = with_holm([strong, *others])
    assert family[0].holm_p == pytest.approx(8 * strong.p_verdict)
    assert family[0].holm_verdict == "inconclusive"
    alone = with_holm([strong])
    assert alone[0].holm_verdict == "holds"


def test_head_designs_pair_by_seed_averaged_over_the_task_orders():
    rows = []
    for order in ("sst-para-sts", "sts-para-sst"):
        for seed, noise in zip(SEEDS, NOISE, strict=True):
            for design, value in ((1, 0.60), (2, 0.62), (3, 0.70)):
                jitter = JITTER[seed] * design
                rows.append(
                    record(
                        f"d{design}{order}{seed}",
                        seed,
                        value + noise + jitter,
                        method="full",
                        mode="sequential",
                        head_design=design,
                        task_order=order,
                    )
                )
    found = _by_claim(rows)["head design 3 > designs 1 and 2"]
    assert found.verdict == "holds" and found.n == 3  # 3 seeds, each over 2 orders
    assert found.mean == pytest.approx(0.08)  # the weaker of the two effects
    assert len(found.trials) == 18


def _order_rows(values: dict[str, float], jitter: float) -> list[TrialRecord]:
    rows = []
    for seed, noise in zip(SEEDS, NOISE, strict=True):
        for i, (order, value) in enumerate(values.items()):
            cfg = {"mode": "sequential", "r": 64, "targets": "all_linear", "task_order": order}
            score = value + noise + jitter * JITTER[seed] * (i - 1)
            rows.append(record(f"o{order}{seed}", seed, score, **cfg))
    return rows


def test_the_task_order_is_one_claim_over_tukey_intervals():
    close = {"sst-para-sts": 0.700, "para-sts-sst": 0.701, "sts-sst-para": 0.6995}
    found = _by_claim(_order_rows(close, 1.0))["the task order barely moves the overall score"]
    assert found.verdict == "holds" and found.n == 3 and len(found.trials) == 9
    assert -MIN_EFFECT <= found.low and found.high <= MIN_EFFECT
    assert "3 pairs of 3 orders" in found.note and "df=4" in found.note
    apart = {"sst-para-sts": 0.700, "para-sts-sst": 0.720, "sts-sst-para": 0.700}
    found = _by_claim(_order_rows(apart, 1.0))["the task order barely moves the overall score"]
    assert found.verdict == "differs" and found.mean == pytest.approx(0.02)  # para-sts-sst


def _merge_rows(seeds: tuple[int, ...]) -> list[TrialRecord]:
    rows = []
    for seed in seeds:
        for name, lam, value in (
            ("eoe", 1.0, 0.70),
            ("fedavg", 1 / 3, 0.60),
            ("orthoada", 1 / 3, 0.65),
        ):
            merge = {"merge_method": name, "lambdas": [lam] * 3, "density": None}
            score = value + NOISE[seed] + (JITTER[seed] if name != "eoe" else 0.0)
            rows.append(record(f"m{name}{seed}", seed, score, kind="merge", **merge))
    return rows


def test_ensembles_pair_by_stage1_seed_and_say_what_one_seed_needs():
    found = _by_claim(_merge_rows(SEEDS))["EoE > FedAvg and OrthoAda"]
    assert found.verdict == "holds" and found.mean == pytest.approx(0.05) and found.n == 3
    one = _by_claim(_merge_rows((0,)))["EoE > FedAvg and OrthoAda"]
    assert one.verdict == "inconclusive" and one.to_decide == "train stage 1 with 3 or more seeds"
