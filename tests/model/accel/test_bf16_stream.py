"""model/accel/bf16_stream.py: LayerNorm returns the autocast dtype with fp32 statistics."""

from __future__ import annotations

import torch
from torch import nn

from model.accel.bf16_stream import AutocastDtypeLayerNorm, keep_activations_in_autocast_dtype


def _norms() -> tuple[nn.LayerNorm, nn.LayerNorm]:
    torch.manual_seed(0)
    plain = nn.LayerNorm(384, eps=1e-12)
    with torch.no_grad():
        plain.weight.normal_(1.0, 0.1)
        plain.bias.normal_(0.0, 0.1)
    ours = nn.LayerNorm(384, eps=1e-12)
    ours.load_state_dict(plain.state_dict())
    block = nn.Sequential(ours, nn.Linear(384, 8))
    assert keep_activations_in_autocast_dtype(block) == 1
    assert type(ours) is AutocastDtypeLayerNorm and ours.weight.dtype == torch.float32
    return plain, ours


def test_layer_norm_is_unchanged_outside_autocast():
    plain, ours = _norms()
    x = torch.randn(4, 9, 384) * 3 + 1
    assert torch.equal(ours(x), plain(x))


def test_layer_norm_returns_the_autocast_dtype_under_autocast():
    plain, ours = _norms()
    x = torch.randn(4, 9, 384) * 3 + 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        from_fp32 = ours(x)  # the embedding sum arrives in fp32: computed in fp32, cast once
        from_bf16 = ours(x.bfloat16())  # inside the blocks
        autocast_fp32, autocast_bf16 = plain(x), plain(x.bfloat16())
    assert autocast_fp32.dtype == torch.float32  # plain autocast keeps an fp32 stream fp32
    assert from_fp32.dtype == from_bf16.dtype == torch.bfloat16
    assert torch.equal(from_fp32, autocast_fp32.bfloat16())
    assert torch.equal(from_bf16, autocast_bf16)  # bf16 in: torch's kernel, fp32 statistics


def test_layer_norm_gradients_reach_fp32_parameters_under_autocast():
    plain, ours = _norms()
    x = torch.randn(4, 9, 384)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours(x.bfloat16()).float().square().mean().backward()
        plain(x.bfloat16()).float().square().mean().backward()
    assert ours.weight.grad.dtype == torch.float32
    for a, b in ((ours.weight.grad, plain.weight.grad), (ours.bias.grad, plain.bias.grad)):
        cos = torch.nn.functional.cosine_similarity(a, b, 0)
        assert cos > 0.999, float(cos)
