"""OrthoAda's frozen lora_A stay float32 under bf16, in memory and in the saved safetensors, so
the saved bases are orthogonal to float32 rounding (the bf16 path stores only the base model's
frozen weights in bf16)."""

from __future__ import annotations

import itertools

import pytest
import torch
from safetensors.torch import load_file

from model.merging.methods import residual_overlap
from study.config import TASKS
from study.scales import scale_config
from study.train.run import build_trial_model, run_trial

CPU = torch.device("cpu")
CONFIG = scale_config("smoke").replace(
    method="lora",
    r=4,
    targets="qkv",
    orthogonal=True,
    precision="bf16",
    train_per_task=16,
    val_per_task=0,
    dev_per_task=16,
    epochs=1,
)


def test_frozen_lora_a_stays_fp32_in_a_bf16_model():
    model = build_trial_model(CONFIG, CPU, "bf16")
    frozen = {n: p.dtype for n, p in model.named_parameters() if "lora_A" in n}
    assert frozen and set(frozen.values()) == {torch.float32}
    base = [m.weight.dtype for n, m in model.named_modules() if n.endswith("query.base_layer")]
    assert set(base) == {torch.bfloat16}  # the base model's frozen weights are bf16


@pytest.mark.slow
def test_saved_orthoada_bases_are_orthogonal_to_fp32_rounding(tmp_path):
    run_trial(CONFIG, run_dir=tmp_path / "run")
    factors = {}
    for task in TASKS:
        state = load_file(
            str(tmp_path / "run/checkpoint/adapters" / task / "adapter_model.safetensors")
        )
        factors[task] = {
            k.removesuffix(".lora_A.weight"): (v, state[k.replace("lora_A", "lora_B")])
            for k, v in state.items()
            if k.endswith("lora_A.weight")
        }
        assert {v.dtype for v in state.values()} == {torch.float32}
    for task in TASKS:
        for a, _ in factors[task].values():
            eye = torch.eye(a.shape[0])
            assert (a.double() @ a.double().T - eye).abs().max() <= 1e-6
    for ti, tj in itertools.combinations(TASKS, 2):
        for layer, (a_i, b_i) in factors[ti].items():
            a_j, b_j = factors[tj][layer]
            cross = (a_i.double() @ a_j.double().T).norm() / (
                a_i.double().norm() * a_j.double().norm()
            )
            assert cross <= 1e-6, (ti, tj, layer, float(cross))
            assert residual_overlap(a_i, b_i, a_j, b_j) <= 1e-6
