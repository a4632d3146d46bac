"""What keeps a CPU trial under 2 GB: micro-batches (study/data/batching.py) whose gradients add up
to the whole batch's, and one frozen base shared by the three task encoders (model/adapters.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.adapters import share_frozen_weights
from model.encoder import load_tokenizer
from model.heads import task_loss
from model.multitask import build_model
from study.config import TrialConfig
from study.data.batching import collate, encode, micro_batches
from study.data.files import load_split


@pytest.fixture(scope="module")
def sts_pairs():
    """Real STS dev pairs encoded as two sentences (designs 1, 2): both lengths count."""
    split = load_split("sts", "dev").subset(np.arange(200))
    return encode(split, load_tokenizer(), 128, joint=False)


def test_micro_batches_split_long_batches_into_parts_within_budget(sts_pairs):
    longest = np.argsort(-sts_pairs.lengths())[:32]
    padded = 32 * (
        sts_pairs.ids.lengths()[longest].max() + sts_pairs.ids_b.lengths()[longest].max()
    )
    parts = micro_batches(sts_pairs, longest, 512)
    assert len(parts) == -(-padded // 512) > 1
    assert sorted(np.concatenate(parts).tolist()) == sorted(longest.tolist())
    for part in parts:
        batch = collate(sts_pairs, part)
        tokens = batch["input_ids"].numel() + batch["input_ids_b"].numel()
        assert tokens <= 512 * 1.1, tokens  # near-equal row counts: at most one row over
    assert micro_batches(sts_pairs, longest, 0) == [longest]
    assert micro_batches(sts_pairs, longest, int(padded)) == [longest]


def test_gradients_of_the_parts_add_up_to_the_whole_batch(sts_pairs):
    """The embedded model, fp32, no dropout: one batch at once vs in parts, share-weighted."""
    from model.encoder import load_encoder

    config = TrialConfig(method="lora", r=4, head_design=2, dropout=0.0)
    torch.manual_seed(0)
    model = build_model(config.model_spec(), load_encoder()).eval()
    index = np.argsort(-sts_pairs.lengths())[:16]

    def grads(parts: list[np.ndarray]) -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        for part in parts:
            batch = collate(sts_pairs, part)
            loss = task_loss("sts", model("sts", batch), batch["labels"])
            (loss * (len(part) / len(index))).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    whole = grads([index])
    parts = micro_batches(sts_pairs, index, 300)
    assert len(parts) >= 3
    split = grads(parts)
    assert whole.keys() == split.keys() and any("lora_B" in n for n in whole)
    for name, g in whole.items():
        torch.testing.assert_close(split[name], g, rtol=1e-4, atol=1e-6, msg=name)


def _tiny_model(tiny_bert_config, **changes):  # noqa: ANN202
    from transformers import BertModel

    torch.manual_seed(0)
    encoder = BertModel(tiny_bert_config, add_pooling_layer=False)
    return build_model(TrialConfig(r=4, **changes).model_spec(), encoder)


def test_task_encoders_share_one_frozen_base(tiny_bert_config):
    model = _tiny_model(tiny_bert_config, method="lora", bias="all", targets="all_linear")
    encoders = list(model.encoders.values())
    x = torch.randint(5, 100, (2, 9))
    before = [e(input_ids=x).last_hidden_state for e in encoders]
    freed = share_frozen_weights(encoders)
    frozen = [n for n, p in encoders[0].named_parameters() if not p.requires_grad]
    assert freed == 2 * sum(p.numel() * 4 for p in encoders[0].parameters() if not p.requires_grad)
    params = [dict(e.named_parameters()) for e in encoders]
    for name in frozen:  # one storage for all three
        assert len({p[name].data_ptr() for p in params}) == 1, name
    trainable = [n for n, p in params[0].items() if p.requires_grad]
    assert any("bias" in n for n in trainable) and any("lora_A" in n for n in trainable)
    for name in trainable:  # adapters and trained biases stay per task
        assert len({p[name].data_ptr() for p in params}) == 3, name
    for e, out in zip(encoders, before, strict=True):
        torch.testing.assert_close(e(input_ids=x).last_hidden_state, out)


def test_full_fine_tuning_shares_nothing(tiny_bert_config):
    model = _tiny_model(tiny_bert_config, method="full")
    assert share_frozen_weights(list(model.encoders.values())) == 0


@pytest.mark.parametrize("method", ["lora", "dora"])
def test_bf16_trial_model_is_as_close_to_fp32_as_plain_autocast(method, sts_pairs):
    """build_trial_model(..., "bf16") stores frozen linears in bf16 (the values autocast casts
    them to) and fuses q/k/v. Its output under autocast is within twice the error of plain
    autocast against the fp32 model; `study bench` checks that dev metrics stay within 0.01."""
    from model.encoder import load_encoder
    from study.train.device import autocast
    from study.train.run import build_trial_model

    config = TrialConfig(method=method, r=4, head_design=2, mode="sequential")
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    plain = build_model(config.model_spec(), load_encoder()).eval()
    torch.manual_seed(0)
    fast = build_trial_model(config, cpu, "bf16", skip=("fast_dropout",)).eval()
    frozen = [m.weight.dtype for m in fast.modules() if isinstance(m, torch.nn.Linear)]
    assert torch.bfloat16 in frozen and torch.float32 in frozen  # heads stay fp32
    with torch.no_grad():  # non-zero adapters (lora_B starts at 0), the same in both
        pairs = zip(plain.named_parameters(), fast.parameters(), strict=True)
        for (name, a), b in pairs:
            if "lora_B" in name:
                a.normal_(0, 0.05)
                b.copy_(a)
    batch = collate(sts_pairs, np.arange(8))
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def hidden(model: torch.nn.Module) -> torch.Tensor:  # (B, T, H) last hidden states
        return model.encoder_for("sts")(**inputs).last_hidden_state.float()

    with torch.no_grad():
        exact = hidden(plain)
        with autocast("bf16", cpu):
            want, got = hidden(plain), hidden(fast)
    mask = batch["attention_mask"].bool()
    autocast_error = (want - exact).abs()[mask].mean()
    our_error = (got - exact).abs()[mask].mean()
    assert our_error <= 2 * autocast_error, (our_error, autocast_error)
