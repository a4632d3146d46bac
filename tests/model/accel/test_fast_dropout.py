"""model/accel/fast_dropout.py: the mask's distribution and seeding, and that the swapped model computes
what the stock one does (eval: identical; training with p ~ 0: the attention math path)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from model.accel.attention import ATTENTION
from model.accel.fast_dropout import FastDropout, MaskSource, use_fast_dropout
from study.config import TrialConfig
from study.train.run import build_trial_model

CPU = torch.device("cpu")


def test_mask_keeps_one_minus_p_and_rescales():
    x = torch.ones(1000, 1000)
    out = FastDropout(0.1, MaskSource(0)).train()(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.002  # 1e6 draws: sd 0.0003
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.9))


def test_mask_follows_the_bf16_input_and_its_gradient_is_the_mask():
    x = torch.randn(64, 384, dtype=torch.bfloat16, requires_grad=True)
    out = FastDropout(0.3, MaskSource(1)).train()(x)
    assert out.dtype == torch.bfloat16
    out.sum().backward()
    scale = torch.tensor(1 / 0.7, dtype=torch.bfloat16)
    assert torch.equal(x.grad, torch.where(out != 0, scale, torch.zeros_like(scale)))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_float_masks_are_the_bool_mask_in_that_dtype(dtype):
    # same seed, same stream: the float mask (written as bit patterns) keeps the same elements
    x = torch.zeros(37, 384, dtype=torch.float64)  # float64 gets the bool mask
    bool_mask = MaskSource(3).keep(x, 0.1)
    mask = MaskSource(3).keep(x.to(dtype), 0.1)
    assert bool_mask.dtype == torch.bool and mask.dtype == dtype
    assert torch.equal(mask, bool_mask.to(dtype))
    assert set(mask.unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_a_float_mask_gives_the_bool_masks_output_and_gradient(monkeypatch, dtype):
    import model.accel.fast_dropout as fast_dropout

    x = torch.randn(32, 40, 384, dtype=dtype, requires_grad=True)
    results = []
    for bits in (dict(fast_dropout._ONE_BITS), {}):  # the float mask, then the bool mask
        monkeypatch.setattr(fast_dropout, "_ONE_BITS", bits)
        out = FastDropout(0.1, MaskSource(5)).train()(x)
        (grad,) = torch.autograd.grad(out.sum(), x)
        results.append((out, grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_eval_and_p_zero_pass_through():
    x = torch.randn(8, 16)
    assert torch.equal(FastDropout(0.5, MaskSource(0)).eval()(x), x)
    assert torch.equal(FastDropout(0.0, MaskSource(0)).train()(x), x)


def _masks(seed: int) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Dropout(0.2), nn.Dropout(0.2))
    use_fast_dropout(model)
    x = torch.ones(50, 50)
    return [model[0](x), model[1](x)]


def test_masks_are_seeded_by_torch_and_differ_between_layers():
    a, b, c = _masks(0), _masks(0), _masks(1)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0], a[1])


@pytest.fixture(scope="module")
def sst_batch():
    from model.encoder import load_tokenizer

    tokenizer = load_tokenizer("")
    enc = tokenizer(
        ["a gripping , funny film .", "dull", "it is neither long nor short , just fine ."],
        padding=True,
        return_tensors="pt",
    )
    return {**enc, "labels": torch.tensor([3, 0, 2])}


@pytest.mark.slow
def test_swapped_model_matches_the_stock_one(sst_batch):
    config = TrialConfig(lora_dropout=0.1, mode="sequential")
    torch.manual_seed(0)
    stock = build_trial_model(config, CPU, skip=("fast_dropout",)).eval()
    torch.manual_seed(0)
    fast = build_trial_model(config, CPU)
    assert not [m for m in fast.modules() if type(m) is nn.Dropout]
    assert fast.encoder_for("sst").base_model.model.config._attn_implementation == ATTENTION
    with torch.no_grad():
        want = stock("sst", sst_batch)
        assert torch.equal(fast.eval()("sst", sst_batch), want)  # eval: SDPA, no masks
        # Training with p ~ 0 keeps every element, so the padded batch runs the attention math
        # path (bool padding mask, softmax, the mask's 1/(1-p) scale) and must agree with SDPA.
        for m in fast.modules():
            if isinstance(m, FastDropout):
                m.p = 1e-9
        assert torch.allclose(fast.train()("sst", sst_batch), want, atol=1e-5)


@pytest.mark.slow
def test_attention_math_in_bf16_is_as_close_to_fp32_as_sdpa(sst_batch):
    """Under bf16 autocast the math path keeps scores and probabilities in bf16 (softmax too,
    as SDPA's kernels do). With p ~ 0 its logits are about as far from fp32 as bf16 SDPA's."""
    config = TrialConfig(lora_dropout=0.1, mode="sequential")
    torch.manual_seed(0)
    stock = build_trial_model(config, CPU, skip=("fast_dropout",)).eval()
    torch.manual_seed(0)
    fast = build_trial_model(config, CPU).train()
    for m in fast.modules():
        if isinstance(m, FastDropout):
            m.p = 1e-9
    with torch.no_grad():
        want = stock("sst", sst_batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            sdpa = stock("sst", sst_batch).float()
            math = fast("sst", sst_batch).float()
    sdpa_err, math_err = (want - sdpa).abs().max(), (want - math).abs().max()
    assert 0 < math_err <= 2 * sdpa_err + 1e-3, (math_err, sdpa_err)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_one_pass_masked_scale_equals_multiplying_twice(dtype):
    from model.accel.fast_dropout import _masked_scale

    x = torch.randn(32, 23, 384).to(dtype)
    keep = MaskSource(2).keep(x, 0.1)
    assert torch.equal(_masked_scale(x, keep, 1 / 0.9), x.mul(keep).mul_(1 / 0.9))


def attention_inputs(dtype: torch.dtype, b: int = 3, h: int = 2, t: int = 6, d: int = 4):
    """q, k, v (requiring grad), an fp32/float64 additive mask with padded keys, a keep mask."""
    from model.accel.attention import _wide, additive_mask

    torch.manual_seed(0)
    q, k, v = (torch.randn(b, h, t, d).to(dtype).requires_grad_(True) for _ in range(3))
    mask = torch.ones(b, 1, t, t, dtype=torch.bool)
    mask[1, :, :, t - 2 :] = False  # two padded keys in the second sentence
    keep = MaskSource(5).keep_mask((b, h, t, t), dtype, 0.2)
    return q, k, v, additive_mask(mask, _wide(dtype)), keep, mask


def test_dropped_softmax_attention_gradient_in_float64():
    from model.accel.attention import DroppedSoftmaxAttention

    q, k, v, bias, keep, _ = attention_inputs(torch.float64)
    bias = bias.clamp(min=-1e4)  # finite differences need finite scores
    for dropped in (keep, None):
        args = (bias, dropped, 1.25, 0.5)
        assert torch.autograd.gradcheck(
            lambda q, k, v, args=args: DroppedSoftmaxAttention.apply(q, k, v, *args), (q, k, v)
        )


def test_dropped_softmax_attention_in_bf16_is_the_fp32_math_rounded():
    """bf16 q, k, v: output and gradients as the same math in fp32 autograd from the same
    inputs, to bf16 rounding (the scores and the dropped probabilities are rounded to bf16 for
    the products, as under autocast): within 1% in norm (0.3-0.4% here); masked keys get
    probability 0."""
    from model.accel.attention import DroppedSoftmaxAttention

    q, k, v, bias, keep, mask = attention_inputs(torch.bfloat16, b=4, h=12, t=22, d=32)
    g = torch.randn(q.shape).bfloat16()
    out = DroppedSoftmaxAttention.apply(q, k, v, bias, keep, 1 / 0.9, 32**-0.5)
    got = (out, *torch.autograd.grad(out, (q, k, v), g))
    q32, k32, v32 = (x.detach().float().requires_grad_(True) for x in (q, k, v))
    probs = torch.softmax(q32 @ k32.transpose(2, 3) * 32**-0.5 + bias, dim=-1)
    assert (probs[~mask.expand_as(probs)] == 0).all()
    want_out = (probs * keep.float() / 0.9) @ v32
    want = (want_out, *torch.autograd.grad(want_out, (q32, k32, v32), g.float()))
    for a, b in zip(got, want, strict=True):
        assert a.dtype == torch.bfloat16
        error = float((a.float() - b).norm() / b.norm())
        assert error < 0.01, error


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_an_added_mask_gives_masked_fills_probabilities_and_gradients(dtype):
    from model.accel.attention import additive_mask

    torch.manual_seed(0)
    scores = torch.randn(3, 4, 6, 6).to(dtype)
    mask = torch.ones(3, 1, 6, 6, dtype=torch.bool)
    mask[1, :, :, 4:] = False  # two padded keys in the second sentence
    mask[2, :, :, 1:] = False  # only [CLS] left in the third
    g = torch.randn(3, 4, 6, 6).to(dtype)
    results = []
    for added in (False, True):
        s = scores.clone().requires_grad_(True)
        masked = (
            s + additive_mask(mask, dtype)
            if added
            else s.masked_fill(~mask, torch.finfo(dtype).min)
        )
        probs = torch.softmax(masked, dim=-1)
        results.append((probs, torch.autograd.grad(probs, s, g)[0]))
    (p0, g0), (p1, g1) = results
    assert torch.equal(p0, p1) and torch.equal(g0, g1)
    assert (p1[~mask.expand_as(p1)] == 0).all() and (g1[~mask.expand_as(g1)] == 0).all()
