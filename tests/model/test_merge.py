"""Merging real peft LoRA adapters on a tiny random BERT: exactness, EoE routing, TIES/DARE."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

from model.errors import ModelConfigError, ModelError
from model.heads import build_heads
from model.merging.methods import (
    check_lambdas,
    delta_weight,
    merge_deltas,
    method_weights,
    residual_overlap,
)
from model.merging.saved import build_merged_model, read_lora_adapter
from model.spec import HeadSpec
from study.config import TASKS, TrialConfig
from tests.model.merge_fixtures import HIDDEN, hidden_states, saved_adapter, tiny_bert, token_batch

RANKS = {"sst": 2, "para": 4, "sts": 8}  # different ranks on purpose: ΔW sums allow it
LAMBDAS = [0.3, 1.2, 0.7]
CONFIG = TrialConfig(head_design=3, proj_dim=8, seed=0)


@pytest.fixture(scope="module")
def adapter_dirs(tmp_path_factory):
    base = tiny_bert()
    root = tmp_path_factory.mktemp("adapters")
    return {t: saved_adapter(base, root / t, RANKS[t], seed=10 + i) for i, t in enumerate(TASKS)}


def _heads_state():
    torch.manual_seed(1)
    return build_heads(HIDDEN, HeadSpec(3, 8, dropout=0.3)).state_dict()


def _merged(adapter_dirs, method, lambdas=LAMBDAS, density=None, config=CONFIG):
    adapters = {t: read_lora_adapter(p) for t, p in adapter_dirs.items()}
    heads = config.model_spec().heads
    return build_merged_model(
        heads, tiny_bert(), adapters, _heads_state(), method, lambdas, density, config.seed
    )


def _by_hand(adapter_dirs, weights):
    """θ + Σ wᵢ Bᵢ Aᵢ (alpha/r), straight from the saved safetensors into each nn.Linear."""
    model = tiny_bert()
    with torch.no_grad():
        for task, w in zip(TASKS, weights, strict=True):
            state = load_file(str(adapter_dirs[task] / "adapter_model.safetensors"))
            for key, a in state.items():
                if ".lora_A." not in key:
                    continue
                b = state[key.replace(".lora_A.", ".lora_B.")]
                module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
                scaling = 2 * RANKS[task] / RANKS[task]
                model.get_submodule(module).weight += w * (b @ a) * scaling
    return model


def _peft_reference(adapter_dirs, weights, combination, **kwargs):
    """peft's own add_weighted_adapter on the same three saved adapters."""
    peft_model = PeftModel.from_pretrained(tiny_bert(), str(adapter_dirs["sst"]), "sst")
    for task in TASKS[1:]:
        peft_model.load_adapter(str(adapter_dirs[task]), adapter_name=task)
    peft_model.add_weighted_adapter(list(TASKS), weights, "merged", combination, **kwargs)
    peft_model.set_adapter("merged")
    return peft_model.eval()


def test_delta_weight_matches_peft(adapter_dirs):
    peft_model = PeftModel.from_pretrained(tiny_bert(), str(adapter_dirs["para"])).eval()
    adapter = read_lora_adapter(adapter_dirs["para"])
    layer = peft_model.base_model.model.get_submodule("encoder.layer.1.intermediate.dense")
    a, b, scaling = adapter.factors["encoder.layer.1.intermediate.dense"]
    assert a.shape == (4, 32) and b.shape == (64, 4) and scaling == 2.0
    expected = layer.get_delta_weight("default")
    assert expected.abs().max() > 0
    torch.testing.assert_close(delta_weight(a, b, scaling), expected)


@pytest.mark.parametrize("method", ["task_arithmetic", "fedavg", "orthoada"])
def test_weighted_merge_equals_hand_sum_and_peft_cat(adapter_dirs, method):
    weights = method_weights(method, LAMBDAS)
    if method == "fedavg":
        assert sum(weights) == pytest.approx(1.0)
        assert weights[1] / weights[0] == pytest.approx(LAMBDAS[1] / LAMBDAS[0])
    model = _merged(adapter_dirs, method)
    assert list(model.encoders) == ["shared"]
    batch = token_batch()
    merged = hidden_states(model.encoders["shared"], batch)
    torch.testing.assert_close(merged, hidden_states(_by_hand(adapter_dirs, weights), batch))
    # peft's "cat" is exact (rank 2+4+8); its "linear" mixes A and B and is not Eq. 6.
    cat = _peft_reference(adapter_dirs, weights, "cat")
    torch.testing.assert_close(merged, hidden_states(cat, batch), rtol=1e-4, atol=1e-5)
    assert (merged - hidden_states(tiny_bert(), batch)).abs().max() > 1e-2


def test_ties_equals_peft_ties_on_full_rank_delta(adapter_dirs):
    model = _merged(adapter_dirs, "ties", density=0.4)
    batch = token_batch(1)
    ours = hidden_states(model.encoders["shared"], batch)
    # ties_svd runs the same TIES on get_delta_weight; a full-rank SVD makes it exact.
    ref = _peft_reference(adapter_dirs, LAMBDAS, "ties_svd", density=0.4, svd_rank=HIDDEN)
    torch.testing.assert_close(ours, hidden_states(ref, batch), rtol=1e-4, atol=1e-4)
    summed = hidden_states(_merged(adapter_dirs, "task_arithmetic").encoders["shared"], batch)
    assert (ours - summed).abs().max() > 1e-3


@pytest.mark.parametrize("method", ["dare", "dare_ties", "ties"])
def test_dare_and_ties_give_finite_seeded_outputs(adapter_dirs, method):
    batch = token_batch(2)
    first = _merged(adapter_dirs, method, density=0.3)
    again = _merged(adapter_dirs, method, density=0.3)
    other_seed = _merged(adapter_dirs, method, density=0.3, config=CONFIG.replace(seed=5))
    out = first("sst", batch)
    assert out.shape == (3, 5) and torch.isfinite(out).all()
    assert torch.isfinite(first("sts", batch)).all() and torch.isfinite(first("para", batch)).all()
    torch.testing.assert_close(out, again("sst", batch))
    states = hidden_states(first.encoders["shared"], batch)
    if method == "ties":  # deterministic: no random drop
        torch.testing.assert_close(states, hidden_states(other_seed.encoders["shared"], batch))
    else:
        assert (states - hidden_states(other_seed.encoders["shared"], batch)).abs().max() > 1e-4


def test_dare_with_density_one_is_task_arithmetic():
    deltas = [torch.randn(6, 5), torch.randn(6, 5)]
    summed = merge_deltas(deltas, [0.5, 2.0], "task_arithmetic")
    torch.testing.assert_close(merge_deltas(deltas, [0.5, 2.0], "dare", 1.0), summed)
    torch.testing.assert_close(summed, 0.5 * deltas[0] + 2.0 * deltas[1])


def test_eoe_routes_each_task_to_its_own_adapter(adapter_dirs):
    model = _merged(adapter_dirs, "eoe", lambdas=[1.0, 1.0, 1.0])
    assert sorted(model.encoders) == sorted(TASKS)
    batch = token_batch(3)
    outputs = {}
    for task in TASKS:
        single = PeftModel.from_pretrained(tiny_bert(), str(adapter_dirs[task])).eval()
        outputs[task] = hidden_states(model.encoder_for(task), batch)
        torch.testing.assert_close(outputs[task], hidden_states(single, batch))
    assert (outputs["sst"] - outputs["para"]).abs().max() > 1e-3
    assert (outputs["para"] - outputs["sts"]).abs().max() > 1e-3
    # λ scales the expert: λ = 0 is the base model for that task.
    zero = _merged(adapter_dirs, "eoe", lambdas=[0.0, 1.0, 1.0])
    torch.testing.assert_close(
        hidden_states(zero.encoder_for("sst"), batch), hidden_states(tiny_bert(), batch)
    )


def test_wrong_lambda_count_is_one_line_config_error(adapter_dirs):
    with pytest.raises(ModelConfigError) as err:
        _merged(adapter_dirs, "fedavg", lambdas=[1.0, 1.0])
    assert "\n" not in str(err.value) and "need 3" in str(err.value)
    with pytest.raises(ModelConfigError, match="need 2"):
        merge_deltas([torch.ones(2, 2)] * 2, [1.0], "task_arithmetic")
    with pytest.raises(ModelConfigError, match="finite"):
        check_lambdas([1.0, float("nan"), 1.0], 3)


def test_bad_method_and_density_are_config_errors(adapter_dirs):
    with pytest.raises(ModelConfigError, match="merge_method='avg' is invalid"):
        _merged(adapter_dirs, "avg")
    with pytest.raises(ModelConfigError, match="density=None is invalid for merge_method=ties"):
        _merged(adapter_dirs, "ties")
    with pytest.raises(ModelConfigError, match="density=0 is invalid"):
        _merged(adapter_dirs, "dare", density=0)
    with pytest.raises(ModelConfigError, match="positive sum"):
        method_weights("fedavg", [0.0, 0.0, 0.0])


def test_dora_adapter_cannot_merge(tmp_path):
    folder = saved_adapter(tiny_bert(), tmp_path / "dora", 4, seed=0, use_dora=True)
    with pytest.raises(ModelError, match="DoRA"):
        read_lora_adapter(folder)


def test_residual_overlap_matches_dense_product():
    gen = torch.Generator().manual_seed(0)
    a_i, b_i = torch.randn(3, 10, generator=gen), torch.randn(7, 3, generator=gen)
    a_j, b_j = torch.randn(5, 10, generator=gen), torch.randn(7, 5, generator=gen)
    d_i, d_j = b_i @ a_i, b_j @ a_j
    dense = (d_i @ d_j.T).norm() / (d_i.norm() * d_j.norm())
    assert residual_overlap(a_i, b_i, a_j, b_j) == pytest.approx(float(dense), rel=1e-5)
    q = torch.linalg.qr(torch.randn(10, 10, generator=gen)).Q.T
    assert residual_overlap(q[:3], b_i, q[3:8], b_j) < 1e-6


def test_merged_model_has_no_trainable_or_peft_parts(adapter_dirs):
    model = _merged(adapter_dirs, "fedavg")
    assert not any(p.requires_grad for p in model.parameters())
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert not model.training
    untouched = copy.deepcopy(tiny_bert().embeddings.word_embeddings.weight)
    torch.testing.assert_close(
        model.encoders["shared"].embeddings.word_embeddings.weight, untouched
    )
