"""model/accel/prepacked_linear.py: frozen bf16 linear layers on weights oneDNN reordered once give
exactly what nn.Linear under bf16 autocast gives, and a trial model trains bit-identically."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from model.accel.prepacked_linear import (
    PrepackedFrozenLinear,
    available,
    prepack_frozen_linears,
)
from model.encoder import load_tokenizer
from study.config import TrialConfig
from study.data.batching import collate, encode
from study.data.files import load_split
from study.train.run import build_trial_model
from tests.conftest import train_steps_bf16

pytestmark = pytest.mark.skipif(
    available() is not None, reason="this torch build has no oneDNN linear ops"
)
CPU = torch.device("cpu")


def frozen_linear(d_in: int, d_out: int, bias: bool = True) -> nn.Linear:
    """A LoRA-style base layer: bf16 weight, fp32 bias, both frozen."""
    layer = nn.Linear(d_in, d_out, bias=bias)
    layer.weight.data = layer.weight.data.to(torch.bfloat16)
    layer.requires_grad_(False)
    return layer


def output_and_input_grad(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    (y.float() * torch.linspace(-1, 1, y.shape[-1])).sum().backward()
    return y.detach(), x.grad


@pytest.mark.parametrize(
    ("d_in", "d_out", "bias"), [(384, 384, True), (384, 1536, True), (1536, 384, False)]
)
def test_output_and_input_gradient_are_bit_identical_to_autocast_linear(d_in, d_out, bias):
    torch.manual_seed(0)
    plain = frozen_linear(d_in, d_out, bias)
    packed = nn.Sequential(frozen_linear(d_in, d_out, bias))
    packed[0].load_state_dict(plain.state_dict())
    assert prepack_frozen_linears(packed) == 1 and type(packed[0]) is PrepackedFrozenLinear
    for shape in [(4, 7, d_in), (1, 3, d_in), (32, 23, d_in)]:
        x = torch.randn(shape, dtype=torch.bfloat16)
        want_y, want_dx = output_and_input_grad(plain, x)
        got_y, got_dx = output_and_input_grad(packed, x)
        assert got_y.dtype == torch.bfloat16
        assert torch.equal(got_y, want_y) and torch.equal(got_dx, want_dx), shape


def test_trained_layers_and_fp32_are_left_to_nn_linear():
    torch.manual_seed(0)
    model = nn.Sequential(frozen_linear(8, 8, bias=False), nn.Linear(8, 8), frozen_linear(8, 8))
    model[2].bias.requires_grad_(True)  # bias training (peft bias="all"): needs its gradient
    assert prepack_frozen_linears(model) == 2
    assert type(model[1]) is nn.Linear  # a trainable weight is never swapped
    x = torch.randn(2, 8, dtype=torch.bfloat16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model[2](x).sum().backward()
    assert model[2].bias.grad is not None and model[2].bias.grad.abs().sum() > 0
    with torch.no_grad():  # no autocast: nn.Linear's own forward, bf16 in and out
        y = model[0](x)
    assert model[0]._can_prepack(x) is False
    assert torch.equal(y, nn.functional.linear(x, model[0].weight))


def test_a_changed_weight_is_reordered_again():
    torch.manual_seed(0)
    model = nn.Sequential(frozen_linear(64, 32))
    prepack_frozen_linears(model)
    x = torch.randn(5, 64, dtype=torch.bfloat16)
    first, _ = output_and_input_grad(model, x)
    with torch.no_grad():
        model[0].weight.mul_(2)  # in place: its version changes
    doubled, _ = output_and_input_grad(model, x)
    model[0].weight = nn.Parameter(torch.zeros(32, 64, dtype=torch.bfloat16), requires_grad=False)
    replaced, _ = output_and_input_grad(model, x)
    plain = frozen_linear(64, 32)
    plain.bias.data = model[0].bias.data
    plain.weight.data = torch.zeros(32, 64, dtype=torch.bfloat16)
    assert not torch.equal(first, doubled)
    assert torch.equal(replaced, output_and_input_grad(plain, x)[0])


@pytest.fixture(scope="module")
def sst_train_batch() -> dict[str, torch.Tensor]:
    """16 real SST training sentences, padded to the longest."""
    data = encode(
        load_split("sst", "train").subset(np.arange(16)), load_tokenizer(), 64, joint=False
    )
    return collate(data, np.arange(16))


@pytest.mark.slow
def test_trial_model_shares_one_reordered_base_and_trains_bit_identically(sst_train_batch):
    """The real model in bf16, single_task (three task encoders on one frozen base): two training
    steps with the prepacked layers and with nn.Linear give the same losses and gradients."""
    config = TrialConfig(method="lora", r=4, mode="single_task", precision="bf16")

    def train(prepacked: bool) -> tuple[list[float], dict[str, torch.Tensor]]:
        torch.manual_seed(0)
        skip = () if prepacked else ("prepacked_linear",)
        model = build_trial_model(config, CPU, "bf16", skip=skip).train()
        layers = [m for m in model.modules() if type(m) is PrepackedFrozenLinear]
        if prepacked:  # 3 encoders x 6 blocks x (q, k, v, o, in, out), one copy per weight
            assert len(layers) >= 3 * 36
            assert len({id(m._prepacked_cache[1]) for m in layers}) == len(layers) // 3
        losses = train_steps_bf16(model, config, sst_train_batch, 2)
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        return losses, grads

    packed_losses, packed_grads = train(True)
    plain_losses, plain_grads = train(False)
    assert packed_losses == plain_losses
    assert packed_grads.keys() == plain_grads.keys() and packed_grads
    assert all(torch.equal(packed_grads[n], plain_grads[n]) for n in plain_grads)
