"""The speed-up pack behind one call: each rewrite against torch's plain path (outputs and
gradients within the tolerance stated per rewrite), the one-line fallback when a private API
is missing, and accelerate=false running none of them. Real embedded model, real SST rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import model.accel as accel
from model.accel import REWRITES, AccelFallbackWarning, accelerate
from model.encoder import load_tokenizer
from model.heads import task_loss
from study.config import TrialConfig
from study.data.batching import collate, encode
from study.data.files import load_split
from study.train.run import build_trial_model

CPU = torch.device("cpu")
# What each rewrite needs applied with it (prepacking reads bf16 weights; fusing, prepacked ones).
NEEDS = {"prepacked_linear": ("bf16_weights",), "fused_qkv": ("bf16_weights", "prepacked_linear")}
# (precision, how close to the plain path): "exact" = bit for bit; a float = the largest
# |difference| of outputs, relative to the largest |plain output|, and the least cosine between
# each trainable parameter's gradients.
TOLERANCE = {
    "bf16_weights": ("bf16", "exact"),  # the stored bf16 values are what autocast casts to
    "prepacked_linear": ("bf16", "exact"),  # the same oneDNN kernels on a reordered weight
    "fused_qkv": ("bf16", 0.02),  # the LoRA term is summed in fp32 instead of rounded first
    "lean_dora": ("fp32", 1e-4),  # the same math, another order of operations
    "fast_dropout": ("fp32", "exact"),  # in eval; the masks' distribution: test_fast_dropout.py
}


@pytest.fixture(scope="module")
def sst_batch():
    split = load_split("sst", "dev").subset(np.arange(12))
    return collate(encode(split, load_tokenizer(), 64, joint=True), np.arange(12))


def _config(rewrite: str) -> TrialConfig:
    method = "dora" if rewrite == "lean_dora" else "lora"
    return TrialConfig(method=method, r=4, targets="qkv", mode="sequential", accelerate=False)


def _forward_backward(model, batch, precision):
    """SST logits and every trainable parameter's gradient (eval mode: no dropout masks)."""
    model.eval()
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits = model("sst", batch)
        loss = task_loss("sst", logits, batch["labels"])
    loss.backward()
    grads = {n: p.grad.float() for n, p in model.named_parameters() if p.grad is not None}
    return logits.detach().float(), grads


def _pair(rewrite: str, precision: str):
    """(plain model, the same weights with `rewrite` and what it needs applied)."""
    keep = {rewrite, *NEEDS.get(rewrite, ())}
    missing = [f"{n}: {accel.unavailable(n)}" for n in sorted(keep) if accel.unavailable(n)]
    if missing:
        pytest.skip("; ".join(missing))  # test_a_missing_private_api_falls_back covers it
    config = _config(rewrite)
    torch.manual_seed(0)
    plain = build_trial_model(config, CPU, precision)
    torch.manual_seed(0)
    fast = build_trial_model(config, CPU, precision)
    with torch.no_grad():  # non-zero adapters (lora_B starts at 0), the same in both
        for (name, a), b in zip(plain.named_parameters(), fast.parameters(), strict=True):
            if "lora_B" in name:
                a.normal_(0, 0.05)
                b.copy_(a)
    applied = accelerate(fast, CPU, precision, skip=set(REWRITES) - keep)
    assert set(applied) == keep, applied
    return plain, fast


@pytest.mark.parametrize("rewrite", list(TOLERANCE))
def test_each_rewrite_matches_the_plain_path(rewrite, sst_batch):
    precision, tolerance = TOLERANCE[rewrite]
    plain, fast = _pair(rewrite, precision)
    want, want_grads = _forward_backward(plain, sst_batch, precision)
    got, got_grads = _forward_backward(fast, sst_batch, precision)
    assert got_grads.keys() == want_grads.keys() and want_grads
    if tolerance == "exact":
        assert torch.equal(got, want)
        for name, grad in want_grads.items():
            assert torch.equal(got_grads[name], grad), name
        return
    assert (got - want).abs().max() <= tolerance * want.abs().max(), (got - want).abs().max()
    for name, grad in want_grads.items():
        cos = torch.nn.functional.cosine_similarity(got_grads[name].flatten(), grad.flatten(), 0)
        assert cos >= 1 - tolerance, (name, float(cos))


def test_a_missing_private_api_falls_back_with_one_warning(monkeypatch, sst_batch):
    """Without torch.ops.mkldnn's linear op (another torch build), prepacking and fused q/k/v
    are off with one warning line each, and the model computes what the plain path does."""
    from model.accel import prepacked_linear

    monkeypatch.setattr(prepacked_linear, "LINEAR_OP", "_no_such_linear_op")
    monkeypatch.setattr(accel, "_WARNED", set())
    plain, _ = _pair("bf16_weights", "bf16")
    torch.manual_seed(0)
    model = build_trial_model(_config("lora"), CPU, "bf16")
    model.load_state_dict(plain.state_dict())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        applied = accelerate(model, CPU, "bf16")
        accelerate(model, CPU, "bf16")  # warned once per process
    messages = [str(w.message) for w in caught if issubclass(w.category, AccelFallbackWarning)]
    assert len(messages) == 2, messages
    assert all("\n" not in m and "_no_such_linear_op" in m for m in messages)
    assert {m.split()[1] for m in messages} == {"prepacked_linear", "fused_qkv"}
    assert "prepacked_linear" not in applied and "fused_qkv" not in applied
    assert "bf16_weights" in applied
    plain_bf16 = build_trial_model(_config("lora"), CPU, "bf16")
    plain_bf16.load_state_dict(plain.state_dict())
    accelerate(plain_bf16, CPU, "bf16", skip=set(REWRITES) - {"bf16_weights"})
    want, _ = _forward_backward(plain_bf16, sst_batch, "bf16")
    got, _ = _forward_backward(model, sst_batch, "bf16")
    assert torch.equal(got, want)


def test_a_missing_softmax_backward_turns_the_fast_dropout_off(monkeypatch):
    from model.accel import attention
    from model.accel.fast_dropout import FastDropout

    monkeypatch.setattr(attention, "SOFTMAX_BACKWARD", "_no_such_softmax_backward")
    monkeypatch.setattr(accel, "_WARNED", set())
    model = build_trial_model(_config("lora"), CPU, "fp32")
    with pytest.warns(AccelFallbackWarning, match="fast_dropout is off"):
        applied = accelerate(model, CPU, "fp32")
    assert "fast_dropout" not in applied
    assert not any(isinstance(m, FastDropout) for m in model.modules())


def test_accelerate_false_runs_no_rewrite():
    from model.accel.fast_dropout import FastDropout
    from model.accel.prepacked_linear import PrepackedFrozenLinear

    model = build_trial_model(_config("lora"), CPU, "bf16")
    kinds = {type(m) for m in model.modules()}
    assert FastDropout not in kinds and PrepackedFrozenLinear not in kinds
    weights = {m.weight.dtype for m in model.modules() if isinstance(m, torch.nn.Linear)}
    assert weights == {torch.float32}  # nothing stored in bf16
    fast = build_trial_model(_config("lora").replace(accelerate=True), CPU, "bf16")
    expected = {FastDropout} | (
        {PrepackedFrozenLinear} if accel.unavailable("prepacked_linear") is None else set()
    )
    assert expected <= {type(m) for m in fast.modules()}


def test_unknown_rewrite_in_skip_is_refused():
    with pytest.raises(ValueError, match="unknown speed-up 'nosuch'"):
        accelerate(torch.nn.Linear(2, 2), CPU, "fp32", skip=("nosuch",))
