"""The named studies as data: each loads, samples valid configs through Optuna's own API, and
starts with the points it promises."""

from __future__ import annotations

import optuna
import pytest

from search_spaces import load_study, study_names
from search_spaces.spec import Choice, LogUniform, Uniform
from study.merge.stage2 import merge_params
from study.scales import scale_config


def fixed_params(space: dict, pick: int) -> dict:
    """Sample through Optuna's own API (FixedTrial): value number `pick` of each parameter."""
    values = {}
    for name, p in space.items():
        if isinstance(p, Choice):
            values[name] = p.values[pick % len(p.values)]
        else:
            values[name] = p.low if pick % 2 == 0 else p.high
    trial = optuna.trial.FixedTrial(values)
    out = {}
    for name, p in space.items():
        if isinstance(p, Choice):
            out[name] = trial.suggest_categorical(name, list(p.values))
        else:
            out[name] = trial.suggest_float(name, p.low, p.high, log=isinstance(p, LogUniform))
    return out


@pytest.mark.parametrize("name", study_names())
def test_every_study_loads_and_samples_valid_configs(name):
    spec = load_study(name)
    assert spec.description and spec.samples
    if spec.includes:
        for sub in spec.includes:
            assert load_study(sub).samples.keys() >= spec.samples.keys()
        for scale, n in spec.samples.items():
            assert n == sum(load_study(s).samples[scale] for s in spec.includes)
        return
    for scale in spec.samples:
        base = scale_config(scale).replace(**{**spec.base, **spec.scale_base.get(scale, {})})
        for pick in range(3):
            params = fixed_params(spec.space, pick)
            if spec.kind == "merge":
                method, lambdas, _ = merge_params(params)
                assert method == params["merge_method"] and len(lambdas) == 3
            else:
                assert base.replace(**params).scale == scale
        for point in spec.points_to_evaluate:
            assert set(point) == set(spec.space), "a first point must set every searched parameter"
            merge_params(point) if spec.kind == "merge" else base.replace(**point)
    for p in spec.space.values():
        assert isinstance(p, Choice | LogUniform | Uniform)


def test_lora_sweep_starts_with_the_paper_table2_rows():
    spec = load_study("lora_sweep")
    rows = [(p["method"], p["r"], p["targets"], p["bias"]) for p in spec.points_to_evaluate]
    assert rows[:8] == [
        ("lora", 2, "qkv", "none"),
        ("lora", 4, "qkv", "none"),
        ("lora", 16, "qkv", "none"),
        ("lora", 64, "qkv", "none"),
        ("dora", 64, "qkv", "none"),
        ("lora", 64, "all_linear", "none"),
        ("lora", 64, "all_linear", "all"),
        ("lora", 128, "all_linear", "all"),
    ]
    assert spec.samples["cpu"] >= 10  # the 8 paper rows and a few proposed by TPE


def test_peft_methods_first_points_share_one_budget_but_natural_sizes():
    """Each method's first point sits within 5% of LoRA r=16 on q/k/v (adapters per task);
    VeRA and IA3, whose size the model sets, are far below it and say so."""
    from model.param_count import count_parameters
    from model.peft_configs import NATURAL_SIZE

    spec = load_study("peft_methods")
    base = scale_config("cpu").replace(**spec.base)
    first = [p for p in spec.points_to_evaluate if p["lr_scale"] == 1.0]
    assert sorted(p["method"] for p in first) == sorted(spec.space["method"].values)
    counts = {
        p["method"]: count_parameters(base.replace(**p).model_spec())["adapter_params"]
        for p in first
    }
    for method, n in counts.items():
        if method in NATURAL_SIZE:
            assert n < 0.15 * counts["lora"], (method, n)
        else:
            assert abs(n / counts["lora"] - 1) < 0.05, (method, n)
