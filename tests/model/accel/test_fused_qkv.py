"""model/accel/fused_qkv.py: LoRA query/key/value as one product on CPU in bf16 compute what peft's
three layers compute (to bf16 rounding), train, and step aside whenever fusing would change
the math."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.models.bert.modeling_bert import BertSelfAttention

from model.accel.fused_qkv import FusedQKVSelfAttention, fuse_qkv_lora
from model.accel.prepacked_linear import available
from model.encoder import load_tokenizer
from model.heads import task_loss
from study.config import TrialConfig
from study.data.batching import collate, encode
from study.data.files import load_split
from study.train.run import build_trial_model
from tests.conftest import train_steps_bf16

pytestmark = pytest.mark.skipif(
    available() is not None, reason="this torch build has no oneDNN linear ops"
)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def sst_batch() -> dict[str, torch.Tensor]:
    """24 real SST training sentences, padded to the longest."""
    data = encode(
        load_split("sst", "train").subset(np.arange(24)), load_tokenizer(), 64, joint=False
    )
    return collate(data, np.arange(24))


def attention_modules(model: torch.nn.Module) -> list[BertSelfAttention]:
    return [m for m in model.modules() if isinstance(m, BertSelfAttention)]


def unfuse(model: torch.nn.Module) -> torch.nn.Module:
    for module in attention_modules(model):
        module.__class__ = BertSelfAttention
    return model


def loss_and_grads(
    config: TrialConfig, precision: str, batch: dict[str, torch.Tensor], fused: bool
) -> tuple[float, dict[str, torch.Tensor]]:
    """One training-mode forward and backward of the real model (dropout on: the same seed
    draws the same masks in every variant), with lora_B set non-zero so every path counts."""
    torch.manual_seed(0)
    model = build_trial_model(config, CPU, precision).train()
    if not fused:
        unfuse(model)
    generator = torch.Generator().manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.02, generator=generator)
        if "lora_magnitude" in name:  # DoRA's column scales m/||.|| away from 1
            p.data.mul_(torch.rand(p.shape, generator=generator) + 0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = task_loss("sst", model("sst", batch), batch["labels"])
    loss.backward()
    grads = {n: p.grad.float() for n, p in model.named_parameters() if p.grad is not None}
    return loss.item(), grads


def relative_error(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> float:
    """|got - want| / |want| over all gradients together."""
    diff = sum(float((got[n] - want[n]).norm() ** 2) for n in want)
    return (diff / sum(float(want[n].norm() ** 2) for n in want)) ** 0.5


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "dora"])
def test_fused_bf16_is_as_close_to_fp32_as_peft_bf16(sst_batch, method):
    """Against the same model in fp32 (no fusing there), the fused bf16 loss and gradients of
    every trainable tensor (DoRA's magnitudes too) are within bf16 rounding, and no farther
    than peft's own bf16 path."""
    config = TrialConfig(method=method, r=8, targets="qkv", precision="bf16")
    want_loss, want = loss_and_grads(config, "fp32", sst_batch, fused=False)
    fused_loss, fused = loss_and_grads(config, "bf16", sst_batch, fused=True)
    plain_loss, plain = loss_and_grads(config, "bf16", sst_batch, fused=False)
    assert fused.keys() == plain.keys() == want.keys()
    assert any("query.lora_A" in n for n in want) and any("value.lora_B" in n for n in want)
    assert any("key.lora_magnitude" in n for n in want) == (method == "dora")
    assert abs(fused_loss - want_loss) < 1e-3 and abs(plain_loss - want_loss) < 1e-3
    fused_error, plain_error = relative_error(fused, want), relative_error(plain, want)
    assert fused_error < 0.02 and plain_error < 0.02
    assert fused_error <= 1.25 * plain_error, (fused_error, plain_error)
    for name in want:  # each tensor on its own: no gradient lost or misrouted between q, k, v
        fused_error = float((fused[name] - want[name]).norm())
        plain_error = float((plain[name] - want[name]).norm())
        # ~2-3% each in bf16, fused and peft alike
        assert fused_error <= 1.5 * plain_error + 0.005 * float(want[name].norm()), name


@pytest.mark.slow
def test_trial_model_fuses_every_block_and_trains(sst_batch):
    """build_trial_model fuses the six blocks of all three task encoders (single_task) with one
    packed base for the three; a few steps lower the loss on a fixed batch."""
    config = TrialConfig(method="lora", r=4, mode="single_task", precision="bf16", lr=1e-3)
    torch.manual_seed(0)
    model = build_trial_model(config, CPU, "bf16").train()
    fused = [m for m in model.modules() if type(m) is FusedQKVSelfAttention]
    assert len(fused) == 3 * 6
    assert len({id(m._qkv_packed[1]) for m in fused}) == 6  # shared by the task encoders
    calls = []
    for module in fused:  # count the fused products actually run
        module.register_forward_hook(lambda m, args, out: calls.append(m._qkv_packed[0]))
    losses = train_steps_bf16(model, config, sst_batch, 4)
    assert len(calls) == 4 * 6 and all(key is not None for key in calls)
    assert losses[-1] < losses[0], losses
    # the fused path sent gradients to every adapter of the trained encoder
    sst = model.encoder_for("sst")
    adapters = [p for n, p in sst.named_parameters() if "lora_" in n and ".self." in n]
    assert len(adapters) == 6 * 3 * 2 and all(float(p.grad.abs().sum()) > 0 for p in adapters)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"lora_dropout": 0.1}, "lora_dropout"),
        ({"bias": "all"}, "trained bias"),
        ({"targets": "attn"}, "other targets"),
        ({"targets": "attn", "method": "dora"}, "other targets"),
    ],
)
def test_fusing_steps_aside_when_it_would_change_the_math(sst_batch, changes, why):
    """lora_dropout and a trained bias run peft's own layers (bit-identical to an unfused
    model); LoRA or DoRA on q/k/v among other targets fuses (close to the unfused output)."""
    config = TrialConfig(
        **{"method": "lora", "r": 4, "mode": "sequential", "precision": "bf16", **changes}
    )
    torch.manual_seed(0)
    model = build_trial_model(config, CPU, "bf16").eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # gradients on: training's forward
        fusable = [
            m._fusable_adapter(torch.zeros(1, dtype=torch.bfloat16))
            for m in attention_modules(model)
        ]
        out = model("sst", sst_batch).detach()
        plain = unfuse(model)("sst", sst_batch).detach()
    if why == "other targets":
        assert fusable == ["default"] * 6
        assert torch.allclose(out.float(), plain.float(), atol=0.05)
    else:
        assert fusable == [None] * 6, why
        assert torch.equal(out, plain), why


@pytest.mark.slow
def test_evaluation_runs_pefts_layers(sst_batch):
    """Without gradients (evaluation, predict) nothing fuses: the output is the unfused one
    bit for bit, so `study predict` reproduces a trial's recorded dev scores."""
    config = TrialConfig(method="lora", r=4, mode="sequential", precision="bf16")
    torch.manual_seed(0)
    model = build_trial_model(config, CPU, "bf16").eval()
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.02)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        module = attention_modules(model)[0]
        assert module._fusable_adapter(torch.zeros(1, dtype=torch.bfloat16)) is None
        out = model("sst", sst_batch)
        plain = unfuse(model)("sst", sst_batch)
    assert torch.equal(out, plain)


def test_outside_bf16_autocast_the_module_is_bert_self_attention(tiny_bert_config):
    """A tiny BERT in fp32: fusing changes the class, and the outputs are BertSelfAttention's."""
    from peft import LoraConfig, get_peft_model
    from transformers import BertModel

    torch.manual_seed(0)
    model = get_peft_model(
        BertModel(tiny_bert_config), LoraConfig(r=2, target_modules=["query", "key", "value"])
    )
    ids = torch.randint(0, tiny_bert_config.vocab_size, (2, 5))
    want = model(input_ids=ids).last_hidden_state
    assert fuse_qkv_lora(model) == tiny_bert_config.num_hidden_layers
    assert all(type(m) is FusedQKVSelfAttention for m in attention_modules(model))
    assert torch.equal(model(input_ids=ids).last_hidden_state, want)
