"""peft adapters (LoRA, DoRA): identity at init, merge equivalence, parameter accounting."""

from __future__ import annotations

import copy

import pytest
import torch

from model.adapters import apply_adapter, count_all, count_trainable, trained_layer_names
from model.multitask import build_model, parameter_counts
from study.config import TrialConfig


def _tiny_encoder(bert_config):  # noqa: ANN202
    from transformers import BertModel

    torch.manual_seed(0)
    return BertModel(bert_config, add_pooling_layer=False).eval()


def _inputs(vocab: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def _states(encoder: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return encoder(**inputs).last_hidden_state


@pytest.mark.parametrize("method", ["lora", "dora"])
@pytest.mark.parametrize("targets", ["qkv", "attn", "all_linear"])
def test_adapter_at_init_is_the_base_model(tiny_bert_config, method, targets):
    base = _tiny_encoder(tiny_bert_config)
    inputs = _inputs(tiny_bert_config.vocab_size)
    expected = _states(base, inputs)
    config = TrialConfig(method=method, targets=targets, r=4, lora_dropout=0.1)
    adapted = apply_adapter(copy.deepcopy(base), config.model_spec().adapter).eval()
    assert count_trainable(adapted) > 0
    assert torch.allclose(_states(adapted, inputs), expected, atol=1e-5)


def _perturb_lora_b(encoder: torch.nn.Module) -> int:
    """Make the adapter non-trivial (lora_B starts at zero); returns how many were changed."""
    g = torch.Generator().manual_seed(2)
    changed = 0
    with torch.no_grad():
        for name, p in encoder.named_parameters():
            if "lora_B" in name:
                p.add_(0.05 * torch.randn(p.shape, generator=g))
                changed += 1
    return changed


@pytest.mark.parametrize("method", ["lora", "dora"])
@pytest.mark.parametrize("targets", ["qkv", "all_linear"])
def test_merged_adapter_matches_unmerged(tiny_bert_config, method, targets):
    base = _tiny_encoder(tiny_bert_config)
    inputs = _inputs(tiny_bert_config.vocab_size)
    before = _states(base, inputs)
    spec = TrialConfig(method=method, targets=targets, r=4).model_spec()
    adapted = apply_adapter(base, spec.adapter).eval()
    assert _perturb_lora_b(adapted) > 0
    unmerged = _states(adapted, inputs)
    assert not torch.allclose(unmerged, before, atol=1e-3)  # the adapter does something
    merged_model = copy.deepcopy(adapted).merge_and_unload().eval()
    assert not any("lora_" in n for n, _ in merged_model.named_parameters())
    assert torch.allclose(_states(merged_model, inputs), unmerged, atol=1e-5)
    adapted.merge_adapter()  # in place, adapter kept
    assert torch.allclose(_states(adapted, inputs), unmerged, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "dora"])
def test_adapter_at_init_on_embedded_model(method):
    from model.encoder import load_encoder, load_tokenizer

    tokenizer = load_tokenizer()
    inputs = dict(
        tokenizer(
            ["A man is playing a guitar.", "Nobody likes it ."],
            ["A man plays guitar.", "Everyone does ."],
            padding=True,
            return_tensors="pt",
        )
    )
    base = load_encoder().eval()
    expected = _states(base, inputs)
    spec = TrialConfig(method=method, targets="all_linear", r=8).model_spec()
    adapted = apply_adapter(base, spec.adapter).eval()
    assert torch.allclose(_states(adapted, inputs), expected, atol=1e-5)


def test_qkv_r2_on_bert_base_shape():
    """12 layers x 3 matrices x (A: 2x768 + B: 768x2) = 110,592 (the paper's 0.10%)."""
    from transformers import BertConfig, BertModel

    bert_base = BertConfig()  # 12 layers, hidden 768: BERT-base's shape, random weights
    assert (bert_base.num_hidden_layers, bert_base.hidden_size) == (12, 768)
    encoder = BertModel(bert_base, add_pooling_layer=False)
    config = TrialConfig(method="lora", targets="qkv", r=2, mode="sequential")
    model = build_model(config.model_spec(), encoder)
    counts = parameter_counts(model)
    assert counts["adapter_params"] == 110_592
    assert count_trainable(model.encoders["shared"]) == 110_592
    assert counts["base_params"] == count_all(encoder) - 110_592 == 108_891_648
    assert round(counts["adapter_pct"], 2) == 0.10
    heads = count_all(model.heads)
    assert counts["trainable_params"] == 110_592 + heads
    assert counts["params_pct"] == pytest.approx(100.0 * (110_592 + heads) / (108_891_648 + heads))


def test_params_pct_single_task_definition(tiny_bert_config):
    config = TrialConfig(method="lora", targets="qkv", r=2, mode="single_task")
    model = build_model(config.model_spec(), _tiny_encoder(tiny_bert_config))
    counts = parameter_counts(model)
    layers, hidden = tiny_bert_config.num_hidden_layers, tiny_bert_config.hidden_size
    adapter = layers * 3 * 2 * (2 * hidden)  # per task
    base = count_all(_tiny_encoder(tiny_bert_config))
    heads = count_all(model.heads)
    assert counts["adapter_params"] == adapter
    assert counts["base_params"] == base
    # one task's model = its encoder + its head; summed over the three tasks on both sides
    assert counts["params_pct"] == pytest.approx(100.0 * (3 * adapter + heads) / (3 * base + heads))
    assert counts["params_total_pct"] == pytest.approx(
        100.0 * (3 * adapter + heads) / (base + heads)
    )
    assert counts["adapter_pct"] == pytest.approx(100.0 * adapter / base)


@pytest.mark.parametrize("mode", ["single_task", "sequential"])
def test_full_fine_tuning_is_100_percent(tiny_bert_config, mode):
    model = build_model(
        TrialConfig(method="full", mode=mode).model_spec(), _tiny_encoder(tiny_bert_config)
    )
    counts = parameter_counts(model)
    assert counts["params_pct"] == pytest.approx(100.0)
    assert counts["adapter_pct"] == pytest.approx(100.0)


QKV = {"attention.self.query", "attention.self.key", "attention.self.value"}
ATTN = QKV | {"attention.output.dense"}
ALL_LINEAR = ATTN | {"intermediate.dense", "output.dense"}


@pytest.mark.parametrize(
    ("changes", "adapted", "extra"),
    [
        ({}, QKV, set()),
        ({"targets": "attn"}, ATTN, set()),
        ({"targets": "all_linear"}, ALL_LINEAR, set()),
        ({"method": "dora"}, QKV, {"attention.self.query.lora_magnitude_vector"}),
        ({"bias": "all"}, QKV, {"attention.self.query.bias", "output.dense.bias"}),
    ],
)
def test_trained_layers(tiny_bert_config, changes, adapted, extra):
    """Figure 1's source: which layers of block 0 train; never the embeddings or a pooler."""
    spec = TrialConfig(r=2, **changes).model_spec()
    encoder = apply_adapter(_tiny_encoder(tiny_bert_config), spec.adapter)
    names = set(trained_layer_names(encoder))
    assert {n.removesuffix(".lora_A") for n in names if n.endswith(".lora_A")} == adapted
    assert {n.removesuffix(".lora_B") for n in names if n.endswith(".lora_B")} == adapted
    assert extra <= names
    assert not any("pooler" in n or "embeddings" in n for n in names)
    if changes.get("bias") != "all":
        assert not any(n.endswith(".bias") for n in names)
