"""Every merge method is exact where it merges and refuses what it cannot: one adapter merged
with weight 1 reproduces the unmerged peft adapter's forward pass within 1e-5 in fp32 (plain
LoRA and rsLoRA; TIES and DARE at density 1); DoRA and bias-trained adapters are refused with
one line naming the kind."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import PeftModel

from model.errors import ModelError
from model.heads import build_heads
from model.merging.methods import MERGE_METHODS, method_weights
from model.merging.saved import add_deltas, build_merged_model, merged_deltas, read_lora_adapter
from model.spec import TASKS, HeadSpec
from tests.model.merge_fixtures import HIDDEN, hidden_states, saved_adapter, tiny_bert, token_batch

ONE = [m for m in MERGE_METHODS if m != "eoe"]  # eoe keeps one adapter per task: below


@pytest.fixture(scope="module", params=[False, True], ids=["lora", "rslora"])
def adapter(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapter")
    path = saved_adapter(tiny_bert(), folder / "a", 4, seed=3, use_rslora=request.param)
    base = tiny_bert()
    with torch.no_grad():
        want = hidden_states(
            PeftModel.from_pretrained(copy.deepcopy(base), str(path)), token_batch()
        )
    return path, want


@pytest.mark.parametrize("method", ONE)
def test_one_adapter_with_weight_1_is_its_own_forward_pass(adapter, method):
    path, want = adapter
    weights = method_weights(method, [1.0])
    density = 1.0 if method in ("ties", "dare", "dare_ties") else None
    deltas = merged_deltas([read_lora_adapter(path)], weights, method, density)
    merged = add_deltas(tiny_bert(), deltas)
    torch.testing.assert_close(hidden_states(merged, token_batch()), want, atol=1e-5, rtol=0)


def test_eoe_with_weight_1_gives_each_task_its_adapter(adapter):
    path, want = adapter
    loaded = read_lora_adapter(path)
    heads = build_heads(HIDDEN, HeadSpec(3, 8)).state_dict()
    model = build_merged_model(
        HeadSpec(3, 8), tiny_bert(), dict.fromkeys(TASKS, loaded), heads, "eoe", [1.0] * 3
    )
    for task in TASKS:
        got = hidden_states(model.encoder_for(task), token_batch())
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("kind", "options", "named"),
    [
        ("dora", {"use_dora": True}, "a DoRA adapter (use_dora)"),
        ("bias", {"bias": "all"}, "bias=all"),
    ],
)
def test_what_cannot_merge_exactly_is_refused_in_one_line(tmp_path, kind, options, named):
    folder = saved_adapter(tiny_bert(), tmp_path / kind, 4, seed=0, **options)
    with pytest.raises(ModelError) as err:
        read_lora_adapter(folder)
    text = str(err.value)
    assert "\n" not in text and named in text and "merging supports LoRA and rsLoRA" in text
