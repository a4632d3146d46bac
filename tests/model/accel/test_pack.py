"""The speed-up pack behind one call, driven from its table (model/accel REWRITES): each rewrite
against torch's plain path (outputs and gradients within the rewrite's stated tolerance), the
same state_dict keys and module paths with the pack on and off, the one-line fallback when a
private API or a module is missing, and accelerate=false running none of them. Real embedded
model, real SST rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import model.accel as accel
from model.accel import BY_NAME, NAMES, REWRITES, AccelFallbackWarning, accelerate
from model.encoder import load_tokenizer
from model.heads import task_loss
from study.config import TrialConfig
from study.data.batching import collate, encode
from study.data.files import load_split
from study.train.run import build_trial_model

CPU = torch.device("cpu")
# The rewrites a CPU test can run: the precision each is checked in (bf16 where it is bf16-only).
ON_CPU = [r for r in REWRITES if r.device in (None, "cpu")]


def _precision(name: str) -> str:
    return "bf16" if BY_NAME[name].bf16_only else "fp32"


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
    keep = {rewrite, *BY_NAME[rewrite].requires}
    reasons = {n: BY_NAME[n].unavailable() for n in sorted(keep)}
    missing = [f"{n}: {why}" for n, why in reasons.items() if why]
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
    applied = accelerate(fast, CPU, precision, skip=set(NAMES) - keep)
    assert set(applied) == keep, applied
    return plain, fast


@pytest.mark.parametrize("rewrite", [r.name for r in ON_CPU])
def test_each_rewrite_matches_the_plain_path(rewrite, sst_batch):
    precision, tolerance = _precision(rewrite), BY_NAME[rewrite].tolerance
    plain, fast = _pair(rewrite, precision)
    want, want_grads = _forward_backward(plain, sst_batch, precision)
    got, got_grads = _forward_backward(fast, sst_batch, precision)
    assert got_grads.keys() == want_grads.keys() and want_grads
    if tolerance is None:  # bit for bit
        assert torch.equal(got, want)
        for name, grad in want_grads.items():
            assert torch.equal(got_grads[name], grad), name
        return
    assert (got - want).abs().max() <= tolerance * want.abs().max(), (got - want).abs().max()
    for name, grad in want_grads.items():
        cos = torch.nn.functional.cosine_similarity(got_grads[name].flatten(), grad.flatten(), 0)
        assert cos >= 1 - tolerance, (name, float(cos))


def test_a_missing_private_api_falls_back_with_one_warning(monkeypatch, sst_batch):
    """Without torch.ops.mkldnn's linear op (another torch build), prepacking is off with one
    warning line, and the model computes what the plain path does."""
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
    assert len(messages) == 1, messages
    assert "\n" not in messages[0] and "_no_such_linear_op" in messages[0]
    assert messages[0].split()[1] == "prepacked_linear" and "prepacked_linear" not in applied
    assert "bf16_weights" in applied
    plain_bf16 = build_trial_model(_config("lora"), CPU, "bf16")
    plain_bf16.load_state_dict(plain.state_dict())
    accelerate(plain_bf16, CPU, "bf16", skip=set(NAMES) - {"bf16_weights"})
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
        {PrepackedFrozenLinear} if BY_NAME["prepacked_linear"].unavailable() is None else set()
    )
    assert expected <= {type(m) for m in fast.modules()}


def test_unknown_rewrite_in_skip_is_refused():
    with pytest.raises(ValueError, match="unknown speed-up 'nosuch'"):
        accelerate(torch.nn.Linear(2, 2), CPU, "fp32", skip=("nosuch",))


def test_a_rewrite_whose_module_fails_to_import_falls_back_with_one_warning(monkeypatch):
    """An ImportError (a peft without peft.tuners.lora.dora, say) turns the rewrite off."""
    import builtins

    real_import = builtins.__import__

    def no_dora(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name.startswith("peft.tuners.lora.dora"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(__import__("sys").modules, "model.accel.lean_dora", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_dora)
    monkeypatch.setattr(accel, "_WARNED", set())
    model = build_trial_model(_config("lean_dora"), CPU, "fp32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        applied = accelerate(model, CPU, "fp32")
    messages = [str(w.message) for w in caught if issubclass(w.category, AccelFallbackWarning)]
    assert len(messages) == 1 and "lean_dora is off" in messages[0], messages
    assert "ImportError" in messages[0] and "\n" not in messages[0]
    assert "lean_dora" not in applied and "fast_dropout" in applied


@pytest.mark.parametrize("method", ["lora", "dora"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_pack_keeps_state_dict_keys_and_module_paths(method, precision):
    """With the pack on and off: the same state_dict keys and module paths, and the same keys
    in what peft saves, so a saved adapter is plain peft."""
    from peft import get_peft_model_state_dict

    config = TrialConfig(method=method, r=4, targets="all_linear", mode="sequential")
    torch.manual_seed(0)
    off = build_trial_model(config.replace(accelerate=False), CPU, precision)
    torch.manual_seed(0)
    on = build_trial_model(config, CPU, precision)
    assert [n for n, _ in on.named_modules()] == [n for n, _ in off.named_modules()]
    assert list(on.state_dict()) == list(off.state_dict())
    encoders = [(n, m) for n, m in on.named_modules() if hasattr(m, "peft_config")]
    assert encoders
    for name, peft_model in encoders:
        saved_on = get_peft_model_state_dict(peft_model)
        saved_off = get_peft_model_state_dict(off.get_submodule(name))
        assert list(saved_on) == list(saved_off) and saved_on
        assert all(torch.equal(saved_on[k], saved_off[k]) for k in saved_off)
