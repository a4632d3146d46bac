"""model/accel/lean_dora.py computes peft's DoRA, and under bf16 autocast keeps its activations
bf16."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from peft import get_peft_model
from peft.tuners.lora.dora import DoraLinearLayer

from model.accel import NAMES, accelerate
from model.accel.lean_dora import LeanDoraLinearLayer
from model.adapters import apply_adapter, lora_config
from model.encoder import load_encoder, load_tokenizer
from study.config import TrialConfig
from study.data.batching import collate, encode
from study.data.files import load_split


@pytest.fixture(scope="module")
def sst_batch():
    split = load_split("sst", "dev").subset(np.arange(16))
    return collate(encode(split, load_tokenizer(), 64, joint=True), np.arange(16))


def _pair(lora_dropout: float, bias: str = "none"):
    """(peft's DoRA encoder, ours) with equal non-trivial adapters: B != 0, m != ||W0 + sBA||."""
    config = TrialConfig(
        method="dora", r=4, targets="all_linear", bias=bias, lora_dropout=lora_dropout
    )
    encoder = load_encoder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stock = get_peft_model(copy.deepcopy(encoder), lora_config(config.model_spec().adapter))
    lean = _lean(encoder, config)
    torch.manual_seed(0)
    with torch.no_grad():
        for (name, a), b in zip(stock.named_parameters(), lean.parameters(), strict=True):
            if "lora_B" in name or "magnitude" in name:
                a.add_(torch.randn_like(a) * 0.05)
            b.copy_(a)
    return stock, lean


def _lean(encoder, config):
    """The peft model a trial trains: the adapter, then the speed-up pack (lean DoRA)."""
    model = apply_adapter(encoder, config.model_spec().adapter)
    accelerate(model, torch.device("cpu"), "fp32", skip=set(NAMES) - {"lean_dora"})
    return model


def _forward_backward(model, batch, bf16: bool = False):
    """Mean-pooled states and every trainable parameter's gradient after one backward."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same lora_dropout masks in both models
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        states = out.last_hidden_state
    (states.float() ** 2).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    return states.detach(), grads


def test_accelerate_uses_lean_dora_with_peft_parameters():
    config = TrialConfig(method="dora", r=4, targets="qkv")
    lean = _lean(load_encoder(), config)
    layers = [m for m in lean.modules() if isinstance(m, DoraLinearLayer)]
    assert len(layers) == 18 and all(type(m) is LeanDoraLinearLayer for m in layers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stock = get_peft_model(load_encoder(), lora_config(config.model_spec().adapter))
    assert lean.state_dict().keys() == stock.state_dict().keys()  # checkpoints stay peft's


@pytest.mark.parametrize(("lora_dropout", "bias"), [(0.0, "none"), (0.0, "all"), (0.2, "none")])
def test_lean_dora_matches_peft_in_fp32(sst_batch, lora_dropout, bias):
    """Same outputs and gradients (magnitude, A, B, biases) as peft's layer, to float rounding;
    lora_dropout > 0 is the path where peft recomputes W0x on the dropped-out input."""
    stock, lean = _pair(lora_dropout, bias)
    stock.train(), lean.train()
    want, want_grads = _forward_backward(stock, sst_batch)
    got, got_grads = _forward_backward(lean, sst_batch)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)  # 6 blocks of fp32 rounding
    assert got_grads.keys() == want_grads.keys()
    assert any("magnitude" in n for n in got_grads)
    for name, grad in want_grads.items():
        torch.testing.assert_close(got_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_lean_dora_keeps_bf16_activations_under_autocast(sst_batch):
    """peft's layer hands back fp32 (B, T, d) tensors under bf16 autocast (the fp32 magnitude
    promotes them); ours hands back bf16 and is as close to the fp32 result as peft's is."""
    stock, lean = _pair(0.0)
    dtypes: dict[str, list[torch.dtype]] = {"stock": [], "lean": []}
    for key, model in (("stock", stock), ("lean", lean)):
        for module in model.modules():
            if isinstance(module, DoraLinearLayer):
                module.register_forward_hook(
                    lambda _m, _a, out, key=key: dtypes[key].append(out.dtype)
                )
    stock.train(), lean.train()
    exact, exact_grads = _forward_backward(stock, sst_batch)  # fp32 reference
    dtypes["stock"].clear()
    want, want_grads = _forward_backward(stock, sst_batch, bf16=True)
    got, got_grads = _forward_backward(lean, sst_batch, bf16=True)
    assert set(dtypes["stock"]) == {torch.float32}  # what this module exists to avoid
    assert set(dtypes["lean"]) == {torch.bfloat16} and len(dtypes["lean"]) == 36
    peft_error = (want.float() - exact).abs()
    our_error = (got.float() - exact).abs()
    assert our_error.mean() <= 1.25 * peft_error.mean(), (our_error.mean(), peft_error.mean())
    assert our_error.max() <= 2 * peft_error.max(), (our_error.max(), peft_error.max())
    for name, grad in exact_grads.items():  # every gradient points where the fp32 one does
        cos = torch.nn.functional.cosine_similarity(got_grads[name].flatten(), grad.flatten(), 0)
        assert cos > 0.99, (name, float(cos))
    assert want_grads.keys() == got_grads.keys()
