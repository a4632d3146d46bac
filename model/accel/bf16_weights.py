"""Frozen base linear weights stored in bf16 for bf16 trials.

Under bf16 autocast a frozen fp32 weight is cast again at every call (autocast caches casts of
trainable leaves only). A bf16 copy holds the same values that cast gives, so outputs do not
change, and it halves those weights' memory. Only the base model's frozen nn.Linear weights are
converted: adapter factors (lora_A, lora_B, OrthoAda's frozen lora_A included), biases,
LayerNorm, embeddings and heads stay fp32, in memory and in saved adapters.
"""

from __future__ import annotations

import torch
from torch import nn

ADAPTER_PREFIXES = ("lora_",)  # peft's adapter sub-modules: never part of the base


def is_adapter_module(name: str) -> bool:
    """Whether the module path `name` lies inside a peft adapter (e.g. ...query.lora_A.default)."""
    return any(part.startswith(ADAPTER_PREFIXES) for part in name.split("."))


def store_frozen_base_in(model: nn.Module, dtype: torch.dtype = torch.bfloat16) -> int:
    """Convert every frozen base nn.Linear weight of `model` to `dtype`; the count converted.

    Weights that share storage (share_frozen_weights) keep sharing one converted copy."""
    converted: dict[int, torch.Tensor] = {}
    count = 0
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear) or is_adapter_module(name):
            continue
        weight = module.weight
        if weight.requires_grad or weight.dtype == dtype:
            continue
        key = weight.data_ptr()
        if key not in converted:
            converted[key] = weight.data.to(dtype)
        weight.data = converted[key]
        count += 1
    return count
