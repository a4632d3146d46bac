"""OrthoAda on a tiny random BERT through the real build_model / optimizer / peft save path."""

from __future__ import annotations

import pytest
import torch

from model.errors import ModelConfigError
from model.heads import task_loss
from model.merging.saved import max_residual_overlap, read_lora_adapter
from model.multitask import build_model
from model.orthogonal import orthogonal_basis
from study.config import TASKS, TrialConfig
from study.errors import ConfigError
from study.train.loop import make_optimizer
from tests.model.merge_fixtures import hidden_states, tiny_bert, token_batch

CONFIG = TrialConfig(
    r=4, targets="all_linear", orthogonal=True, head_design=3, proj_dim=8, lora_dropout=0.0
)
LABELS = {
    "sst": torch.tensor([0, 3, 4]),
    "para": torch.tensor([1, 0, 1]),
    "sts": torch.tensor([4.5, 0.5, 2.0]),
}


def _lora_a(model, task):
    """{layer path: lora_A weight (r, in)} of one task's encoder."""
    return {
        name.split("base_model.model.")[-1]: p
        for name, p in model.encoders[task].named_parameters()
        if "lora_A" in name
    }


def _train(model, steps=3):
    optimizer = make_optimizer(model, CONFIG.replace(lr=0.05))
    model.train()
    for step in range(steps):
        for task in TASKS:
            batch = {**token_batch(step), "labels": LABELS[task]}
            loss = task_loss(task, model(task, batch), batch["labels"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def test_lora_a_is_a_frozen_disjoint_block_of_one_orthogonal_basis():
    model = build_model(CONFIG.model_spec(), tiny_bert())
    layers = {t: _lora_a(model, t) for t in TASKS}
    assert len(layers["sst"]) == 12  # 2 blocks × 6 linear layers
    for name in layers["sst"]:
        stacked = torch.cat([layers[t][name] for t in TASKS])  # (3r, in)
        assert not any(layers[t][name].requires_grad for t in TASKS)
        # rows of all tasks together are orthonormal: one shared basis, disjoint rows
        torch.testing.assert_close(stacked @ stacked.T, torch.eye(12), atol=1e-5, rtol=0)
    again = build_model(CONFIG.model_spec(), tiny_bert())
    other_seed = build_model(CONFIG.replace(seed=1).model_spec(), tiny_bert())
    name = "encoder.layer.0.attention.self.query.lora_A.default.weight"
    torch.testing.assert_close(_lora_a(again, "para")[name], layers["para"][name])
    assert not torch.allclose(_lora_a(other_seed, "para")[name], layers["para"][name])


def test_residuals_stay_orthogonal_after_training(tmp_path):
    model = build_model(CONFIG.model_spec(), tiny_bert())
    before = {t: {k: v.clone() for k, v in _lora_a(model, t).items()} for t in TASKS}
    b_before = [p.clone() for n, p in model.encoders["sts"].named_parameters() if "lora_B" in n]
    _train(model)
    for task in TASKS:
        for name, weight in _lora_a(model, task).items():
            torch.testing.assert_close(weight, before[task][name], atol=0, rtol=0)
    b_after = [p for n, p in model.encoders["sts"].named_parameters() if "lora_B" in n]
    assert all(b.abs().max() > 0 for b in b_after)
    assert any(not torch.equal(x, y) for x, y in zip(b_before, b_after, strict=True))
    # ‖ΔWᵢ ΔWⱼᵀ‖ ≈ 0 from peft's own get_delta_weight, for every layer and task pair
    layer = "encoder.layer.1.output.dense"
    deltas = [
        model.encoders[t].base_model.model.get_submodule(layer).get_delta_weight("default")
        for t in TASKS
    ]
    for i in range(3):
        for j in range(i + 1, 3):
            cross = (deltas[i] @ deltas[j].T).norm()
            assert cross <= 1e-5 * deltas[i].norm() * deltas[j].norm()
    # and through the saved peft adapters (what stage 2 merges)
    for task in TASKS:
        model.encoders[task].save_pretrained(str(tmp_path / task))
    saved = [read_lora_adapter(tmp_path / t) for t in TASKS]
    assert max_residual_overlap(saved) < 1e-5


def test_standard_adapters_are_not_orthogonal(tmp_path):
    model = _train(build_model(CONFIG.replace(orthogonal=False).model_spec(), tiny_bert()))
    for task in TASKS:
        model.encoders[task].save_pretrained(str(tmp_path / task))
    assert max_residual_overlap([read_lora_adapter(tmp_path / t) for t in TASKS]) > 1e-3


def test_orthoada_trains_only_lora_b():
    model = build_model(CONFIG.model_spec(), tiny_bert())
    trainable = [n for n, p in model.encoders["sst"].named_parameters() if p.requires_grad]
    assert trainable and all("lora_B" in n for n in trainable)
    out = hidden_states(model.encoders["sst"], token_batch())
    assert torch.isfinite(out).all()


def test_rank_too_large_is_a_one_line_config_error():
    with pytest.raises(ModelConfigError) as err:
        build_model(CONFIG.replace(r=16).model_spec(), tiny_bert())  # 16 × 3 = 48 > 32 inputs
    message = str(err.value)
    assert "\n" not in message
    assert "r=16" in message and "48 > 32" in message and "r <= 10" in message


@pytest.mark.parametrize(
    "changes",
    [{"method": "dora"}, {"mode": "sequential"}, {"init": "pissa"}],
    ids=["dora", "sequential", "pissa"],
)
def test_orthogonal_needs_single_task_lora(changes):
    with pytest.raises(
        ConfigError, match="orthogonal=true needs method=lora, init=default and mode=single_task"
    ):
        build_model(CONFIG.replace(**changes).model_spec(), tiny_bert())


def test_orthogonal_basis_is_orthogonal_and_seeded():
    q = orthogonal_basis(20, seed=3)
    torch.testing.assert_close(q @ q.T, torch.eye(20), atol=1e-5, rtol=0)
    torch.testing.assert_close(q, orthogonal_basis(20, seed=3), atol=0, rtol=0)
    assert not torch.allclose(q, orthogonal_basis(20, seed=4))
