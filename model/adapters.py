"""Adapters through peft (every method of model/peft_configs.py) and parameter accounting.

params_pct (what the reports put beside the paper's "Parameters updated"):
    trainable parameters of the model / (base encoder parameters + head parameters) * 100,
    heads included on both sides. In single_task mode "the model" is one task's encoder and
    its head, summed over the three tasks on both sides, so full fine-tuning is 100.
    `adapter_pct` leaves the heads out on both sides, which is closer to how the paper counts
    (its 0.10% for r=2 qkv on BERT-base is adapters alone).
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from model.peft_configs import ADAPTER_TAGS, MUTATING_INITS, check_shapes, peft_config
from model.spec import AdapterSpec


def lora_config(spec: AdapterSpec):  # noqa: ANN201 - peft type
    """The peft config for `spec` (LoraConfig for lora/dora; any method: peft_config)."""
    return peft_config(spec)


def apply_adapter(encoder: nn.Module, spec: AdapterSpec) -> nn.Module:
    """full: every encoder weight trains. Any other method: a peft model (peft_configs.py)."""
    if spec.method == "full":
        for p in encoder.parameters():
            p.requires_grad_(True)
        return encoder
    from peft import get_peft_model

    config = peft_config(spec)
    check_shapes(spec.method, spec.r, adapted_in_features(encoder, spec.targets))
    with warnings.catch_warnings():  # peft 0.21 calls a transformers API deprecated in v5
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        # BOFT without its CUDA extension says so at every layer: the Python path is exact.
        warnings.filterwarnings("ignore", ".*(fbd_cuda|BOFT|boft).*")
        model = get_peft_model(encoder, config)
    if spec.init in MUTATING_INITS:  # what save_adapter converts against
        from peft import get_peft_model_state_dict

        state = get_peft_model_state_dict(model)
        model.initial_adapter = {k: v.detach().clone() for k, v in state.items()}
    return model


def save_adapter(encoder: nn.Module, folder: str | Path) -> None:
    """peft's save_pretrained. PiSSA/OLoRA trained against W_res = W - B0 A0, which the base
    model does not hold: they are saved converted to a plain LoRA of rank 2r on the original W
    (peft's subtract_mutated_init: ΔW = B A - B0 A0), so the folder loads onto the base model."""
    initial = getattr(encoder, "initial_adapter", None)
    if initial is None:
        encoder.save_pretrained(str(folder))
        return
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as scratch:
        init_dir = Path(scratch) / "initial"  # peft writes the config and reads both back
        init_dir.mkdir()
        save_file(initial, str(init_dir / "adapter_model.safetensors"))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
            encoder.save_pretrained(
                str(folder), path_initial_model_for_weight_conversion=str(init_dir)
            )


def adapted_in_features(encoder: nn.Module, targets: tuple[str, ...]) -> dict[str, int]:
    """Module name -> in_features of every linear layer `targets` (name suffixes) selects."""
    return {
        name: module.in_features
        for name, module in encoder.named_modules()
        if isinstance(module, nn.Linear) and any(name.endswith(t) for t in targets)
    }


def is_adalora(encoder: nn.Module) -> bool:
    config = getattr(encoder, "peft_config", {}).get("default")
    return config is not None and str(getattr(config, "peft_type", "")).endswith("ADALORA")


def adalora_after_step(encoder: nn.Module, step: int) -> None:
    """AdaLoRA's rank allocation, after optimizer.step() and before zero_grad (peft's rule)."""
    if is_adalora(encoder):
        encoder.base_model.update_and_allocate(step)


def adalora_drop_pruned_ranks(encoder: nn.Module) -> None:
    """Cut the ranks AdaLoRA's budget masked out of its tensors, as peft does when it loads a
    saved adapter, so the model scored after training is the model saved, shape for shape:
    a masked rank is a zero in memory, but the shorter product on reload sums in another
    order and differs in the last bits. A no-op before the budget has a rank pattern."""
    if not is_adalora(encoder):
        return
    pattern = encoder.peft_config["default"].rank_pattern
    if pattern:
        encoder.base_model.resize_modules_by_rank_pattern(pattern, "default")


def adalora_orth_reg(encoder: nn.Module) -> torch.Tensor | None:
    """AdaLoRA's orthogonality penalty on P and Q. peft adds it only to a model output that
    has .loss, which a bare BertModel has not, so the loop adds it (weight from the config)."""
    if not is_adalora(encoder):
        return None
    weight = encoder.peft_config["default"].orth_reg_weight
    total, n = None, 0
    for name, p in encoder.named_parameters():
        if ("lora_A" in name or "lora_B" in name) and p.requires_grad:
            para = p @ p.T if "lora_A" in name else p.T @ p
            eye = torch.eye(*para.size(), out=torch.empty_like(para))
            term = torch.norm(para - eye, p="fro")
            total, n = (term if total is None else total + term), n + 1
    return None if total is None else weight * total / n


def adalora_final_params(encoder: nn.Module) -> int | None:
    """AdaLoRA's trainable count once its budget has pruned the ranks: rank_pattern's kept
    ranks times (d_in + d_out + 1) per layer; None before the pattern exists."""
    if not is_adalora(encoder):
        return None
    pattern = encoder.peft_config["default"].rank_pattern
    if not pattern:
        return None
    shapes = {
        _bare(name.removesuffix(".base_layer")): (m.in_features, m.out_features)
        for name, m in encoder.named_modules()
        if isinstance(m, nn.Linear)
    }
    total = 0
    for key, kept in pattern.items():
        base = _bare(re.sub(r"\.lora_E.*$", "", key))
        match = next((v for n, v in shapes.items() if n.endswith(base) or base.endswith(n)), None)
        if match is not None:
            total += int(sum(bool(k) for k in kept)) * (match[0] + match[1] + 1)
    return total + sum(
        p.numel() for n, p in encoder.named_parameters() if p.requires_grad and "bias" in n
    )


def _bare(name: str) -> str:
    """A module path without peft's model prefixes."""
    return re.sub(r"^(base_model\.model\.)+", "", name).removeprefix("model.")


def stored_parameter_count(encoder: nn.Module) -> int:
    """Frozen tensors an adapter stores besides its trained ones: VeRA's shared projections
    (named_buffers yields a tensor shared by many layers once)."""
    return sum(b.numel() for name, b in encoder.named_buffers() if "vera_" in name)


def share_frozen_weights(encoders: list[nn.Module]) -> int:
    """Point every frozen parameter of encoders[1:] at the equal one of encoders[0]; bytes freed.

    single_task mode deep-copies the pretrained encoder per task, but under LoRA/DoRA the base
    weights stay frozen and equal, so one copy serves all three.
    Trainable tensors (adapters, trained biases, full fine-tuning) stay per task. Only for
    training: code that merges a ΔW into base weights in place must not use shared encoders.
    """
    first = dict(encoders[0].named_parameters())
    freed = 0
    for encoder in encoders[1:]:
        for name, p in encoder.named_parameters():
            ref = first.get(name)
            if (
                ref is None
                or p.requires_grad
                or ref.requires_grad
                or p.data_ptr() == ref.data_ptr()
            ):
                continue
            if ref.shape == p.shape and ref.dtype == p.dtype and torch.equal(ref, p):
                freed += p.numel() * p.element_size()
                p.data = ref.data  # same storage; the copy is freed
    return freed


def count_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_all(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def base_parameter_count(encoder: nn.Module) -> int:
    """Parameters of the base encoder, without any adapter weights."""
    return sum(
        p.numel()
        for name, p in encoder.named_parameters()
        if not any(tag in name for tag in ADAPTER_TAGS)
    )


def trained_layer_names(encoder: nn.Module) -> list[str]:
    """Trainable parameter names of encoder block 0, without prefixes: the Figure 1 source.

    e.g. ['attention.self.query.lora_A', 'attention.self.query.lora_B', ...].
    """
    names = set()
    for name, p in encoder.named_parameters():
        if not p.requires_grad:
            continue
        m = re.search(r"encoder\.layer\.0\.(.+)$", name)
        if m:
            short = re.sub(r"\.(default|base_layer)\b", "", m.group(1))
            names.add(re.sub(r"\.(weight)$", "", short))
    return sorted(names)
