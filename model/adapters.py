"""Adapters through peft (LoRA, DoRA, bias training) and parameter accounting.

params_pct (what the reports put beside the paper's "Parameters updated"):
    trainable parameters of the model / (base encoder parameters + head parameters) * 100,
    heads included on both sides. In single_task mode "the model" is one task's encoder and
    its head, summed over the three tasks on both sides, so full fine-tuning is 100.
    `adapter_pct` leaves the heads out on both sides, which is closer to how the paper counts
    (its 0.10% for r=2 qkv on BERT-base is adapters alone).
"""

from __future__ import annotations

import re

import torch
from torch import nn

from model.spec import AdapterSpec


def lora_config(spec: AdapterSpec):  # noqa: ANN201 - peft type
    """The peft LoraConfig for `spec` (DoRA is LoRA with use_dora=True)."""
    from peft import LoraConfig

    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=list(spec.targets),
        bias=spec.bias,
        use_dora=spec.method == "dora",
        use_rslora=spec.rslora,
    )


def apply_adapter(encoder: nn.Module, spec: AdapterSpec) -> nn.Module:
    """full: every encoder weight trains. lora/dora: a peft model with only adapters (+ biases)."""
    if spec.method == "full":
        for p in encoder.parameters():
            p.requires_grad_(True)
        return encoder
    import warnings

    from peft import get_peft_model

    with warnings.catch_warnings():  # peft 0.21 calls a transformers API deprecated in v5
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        return get_peft_model(encoder, lora_config(spec))


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
        if not any(tag in name for tag in ("lora_", "magnitude"))
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
