"""Every PEFT method through peft's own configs: what each promises at init, the exact count
before training, the options each refuses, LoRA+ groups, and the merge refusals."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from model.adapters import apply_adapter, count_trainable
from model.errors import ModelError
from model.multitask import build_model, parameter_counts
from model.param_count import count_parameters
from study.config import TrialConfig
from study.errors import ConfigError
from tests.model.merge_fixtures import hidden_states, tiny_bert, token_batch

# Sizes valid on the tiny BERT (hidden 32, FFN 64): OFT/BOFT blocks divide both.
TINY_SIZE = {"lora": 4, "dora": 4, "vera": 4, "ia3": 4, "oft": 8, "boft": 8, "hra": 4}
TINY_SIZE |= {"adalora": 4}
# MiniLM (hidden 384, FFN 1536): the peft_methods study's first points.
MINILM = [("lora", 16, "qkv"), ("dora", 16, "qkv"), ("adalora", 16, "qkv"), ("oft", 64, "qkv")]
MINILM += [("boft", 32, "qkv"), ("hra", 32, "qkv"), ("vera", 64, "all_linear")]
MINILM += [("ia3", 16, "all_linear"), ("lora", 8, "all_linear"), ("oft", 32, "attn")]


@pytest.mark.parametrize("method", ["lora", "dora", "adalora", "vera", "ia3", "oft", "boft", "hra"])
def test_each_method_starts_at_the_base_model(method):
    """All eight promise ΔW = 0 at init (B, λ_b or E at zero; IA3 scales at one; OFT, BOFT and
    paired HRA reflections at the identity), so the adapted encoder is the base encoder."""
    base = tiny_bert()
    inputs = token_batch()
    expected = hidden_states(base, inputs)
    config = TrialConfig(method=method, r=TINY_SIZE[method], targets="all_linear")
    adapted = apply_adapter(copy.deepcopy(base), config.model_spec().adapter).eval()
    assert count_trainable(adapted) > 0
    torch.testing.assert_close(hidden_states(adapted, inputs), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_pissa_and_olora_keep_the_outputs_but_change_the_base_weights(init):
    """They split W into a residual W_res and the adapter's B A = W - W_res: the outputs stay
    (up to rounding), W itself does not, which is why merging refuses them."""
    base = tiny_bert()
    inputs = token_batch()
    before = base.encoder.layer[0].attention.self.query.weight.clone()
    config = TrialConfig(method="lora", r=4, init=init)
    adapted = apply_adapter(copy.deepcopy(base), config.model_spec().adapter).eval()
    torch.testing.assert_close(
        hidden_states(adapted, inputs), hidden_states(base, inputs), atol=1e-4, rtol=0
    )
    query = adapted.base_model.model.encoder.layer[0].attention.self.query
    assert (query.base_layer.weight - before).abs().max() > 1e-3  # W_res != W
    lora_b = query.lora_B["default"].weight
    assert lora_b.abs().max() > 0  # the principal part moved into the adapter


@pytest.mark.slow
@pytest.mark.parametrize(("method", "r", "targets"), MINILM)
def test_count_before_training_is_the_built_models(method, r, targets):
    """count_parameters (meta device, no weights) == parameter_counts of the built model."""
    from model.encoder import load_encoder

    spec = TrialConfig(method=method, r=r, targets=targets).model_spec()
    planned = count_parameters(spec)
    model = build_model(spec, load_encoder())
    built = parameter_counts(model)
    for key, value in built.items():
        assert planned[key] == pytest.approx(value, rel=1e-12), key
    stored = planned["stored_params"]
    assert (stored > 0) == (method == "vera")  # VeRA's shared projections: stored, not trained
    if method == "adalora":  # the budget it prunes to: target_r = 2r/3 ranks per layer
        per_layer = 384 + 384 + 1
        assert planned["adapter_params_final"] == 18 * (2 * r // 3) * per_layer
        assert planned["adapter_params_final"] < planned["adapter_params"]
    else:
        assert planned["adapter_params_final"] is None


def test_counts_match_the_methods_own_formulas():
    """Independent arithmetic on MiniLM's shapes (6 blocks, 384 wide, FFN 1536)."""
    spec = TrialConfig(method="ia3", targets="all_linear").model_spec()
    # IA3: a scale per output of q, k, v, attention out (384) and FFN in (1536); FFN out
    # (a feed-forward module) scales its 1536 inputs instead
    assert count_parameters(spec)["adapter_params"] == 6 * (4 * 384 + 1536 + 1536)
    spec = TrialConfig(method="vera", r=64, targets="qkv").model_spec()
    assert count_parameters(spec)["adapter_params"] == 18 * (384 + 64)  # λ_d (r) + λ_b (d_out)
    spec = TrialConfig(method="lora", r=16, targets="qkv").model_spec()
    assert count_parameters(spec)["adapter_params"] == 18 * 16 * (384 + 384)
    spec = TrialConfig(method="hra", r=32, targets="qkv").model_spec()
    assert count_parameters(spec)["adapter_params"] == 18 * 32 * 384  # one u per reflection


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"method": "ia3", "bias": "all"}, "bias='all' is not supported by method=ia3"),
        ({"method": "vera", "rslora": True}, "rslora=True is not supported by method=vera"),
        ({"method": "oft", "init": "pissa"}, "init='pissa' is not supported by method=oft"),
        ({"method": "hra", "lora_dropout": 0.1}, "lora_dropout=0.1 is not supported by method=hra"),
        ({"method": "dora", "orthogonal": True}, "orthogonal=true needs method=lora"),
        ({"method": "lora", "target_r": 4}, "target_r=4 is not supported by method=lora"),
        ({"method": "hra", "r": 5}, "hra needs an even r"),
        ({"method": "adalora", "r": 8, "target_r": 9}, "adalora target_r=9 is invalid"),
        ({"method": "vera", "loraplus_lr_ratio": 16}, "loraplus_lr_ratio needs method lora"),
        ({"method": "lora", "init": "kaiming"}, "init='kaiming' is invalid"),
    ],
)
def test_options_a_method_does_not_take_are_refused(changes, words):
    with pytest.raises(ConfigError) as err:
        TrialConfig().replace(**changes)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("method", ["oft", "boft"])
def test_a_block_size_that_does_not_divide_in_features_is_refused(method):
    spec = TrialConfig(method=method, r=12, targets="all_linear").model_spec()
    with pytest.raises(ModelError, match=r"block size r=12 must divide every adapted in_features"):
        apply_adapter(tiny_bert(), spec.adapter)


def test_loraplus_gives_lora_b_the_ratio_times_the_learning_rate():
    from study.train.loop import make_optimizer

    config = TrialConfig(method="lora", r=4, lr=1e-4, loraplus_lr_ratio=16, head_lr=1e-3)
    model = build_model(config.model_spec(), _minilm())
    optimizer = make_optimizer(model, config)
    names = {id(p): n for n, p in model.named_parameters()}
    lrs: dict[str, set[float]] = {"lora_A": set(), "lora_B": set(), "heads": set()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            name = names[id(p)]
            part = next((k for k in ("lora_A", "lora_B") if k in name), "heads")
            lrs[part].add(group["lr"])
    assert lrs == {"lora_A": {1e-4}, "lora_B": {1.6e-3}, "heads": {1e-3}}
    trained = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert trained == {id(p) for p in model.parameters() if p.requires_grad}


def test_adalora_schedule_spans_the_trials_steps():
    from model.peft_configs import adalora_schedule, peft_config

    schedule = adalora_schedule(100)
    assert schedule == {"total_step": 100, "tinit": 10, "tfinal": 20, "deltaT": 5}
    # each task's encoder gets its own trial's step count (optimizer_steps)
    steps = {"sst": 40, "para": 60, "sts": 20}
    model = build_model(TrialConfig(method="adalora", r=12).model_spec(steps=steps), _minilm())
    for task, total in steps.items():
        config = model.encoders[task].peft_config["default"]
        assert (config.total_step, config.init_r, config.target_r) == (total, 12, 8)
        assert config.tinit < config.total_step - config.tfinal  # peft's own requirement
    unset = peft_config(TrialConfig(method="adalora", r=12).model_spec().adapter)
    assert unset.total_step == 3  # the smallest schedule peft accepts
    assert adalora_schedule(8) == {"total_step": 8, "tinit": 1, "tfinal": 1, "deltaT": 1}


def _minilm():  # noqa: ANN202
    from model.encoder import load_encoder

    return load_encoder()


def _saved(tmp_path, **changes):  # noqa: ANN202
    """A saved peft adapter folder of the tiny BERT under `changes`."""
    spec = TrialConfig(**changes).model_spec().adapter
    adapted = apply_adapter(tiny_bert(), spec)
    folder = tmp_path / "adapter"
    adapted.save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"method": "vera", "r": 4}, "a VERA adapter cannot be merged"),
        ({"method": "ia3"}, "a IA3 adapter cannot be merged"),
        ({"method": "oft", "r": 8}, "a OFT adapter cannot be merged"),
        ({"method": "hra", "r": 4}, "a HRA adapter cannot be merged"),
        ({"method": "lora", "r": 4, "init": "pissa"}, "init=pissa changed the base weights"),
        ({"method": "lora", "r": 4, "init": "olora"}, "init=olora changed the base weights"),
        ({"method": "dora", "r": 4}, "a DoRA adapter (use_dora) cannot be merged exactly"),
    ],
)
def test_merging_refuses_what_it_cannot_merge_exactly(tmp_path, changes, words):
    from model.merging.saved import read_lora_adapter

    folder = _saved(tmp_path, **changes)
    with pytest.raises(ModelError) as err:
        read_lora_adapter(folder)
    message = str(err.value)
    assert words in message and "merging supports LoRA and rsLoRA" in message, message


def test_merging_reads_a_gaussian_init_lora(tmp_path):
    from model.merging.saved import read_lora_adapter

    folder = _saved(tmp_path, method="lora", r=4, init="gaussian")
    assert json.loads((folder / "adapter_config.json").read_text())["init_lora_weights"]
    assert len(read_lora_adapter(folder).factors) == 2 * 3  # q, k, v of 2 blocks


@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_the_merge_study_refuses_pissa_and_olora(init):
    from study.merge.stage1 import stage1_config

    with pytest.raises(ConfigError, match=f"init={init}.*change the base weights"):
        stage1_config(TrialConfig(init=init), orthogonal=False)
