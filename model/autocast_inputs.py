"""Cast a BERT block's fp32 activations to the autocast dtype once, not once per consumer.

Under bf16 autocast, LayerNorm returns fp32 (autocast runs it in fp32), and every linear layer
that reads it casts it to bf16 again: query, key and value, and with LoRA each adapter's
lora_A as well (peft first casts its input back to the adapter's fp32): six casts of the same
(B, T, H) tensor per block forward, six more in backward. A pre-hook hands the self-attention
(and the FFN's first layer) that tensor already in bf16; the values every matmul sees are the
ones autocast would have made, so outputs do not change. Residual paths keep their fp32 copy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

CAST_AT = ("BertSelfAttention", "BertIntermediate")  # modules whose input several linears read


def _autocast_dtype(x: torch.Tensor) -> torch.dtype | None:
    device = x.device.type
    if not torch.is_autocast_enabled(device):
        return None
    return torch.get_autocast_dtype(device)


def _cast_first_input(
    module: nn.Module, args: tuple, kwargs: dict[str, Any]
) -> tuple[tuple, dict[str, Any]] | None:
    x = args[0] if args else kwargs.get("hidden_states")
    dtype = _autocast_dtype(x) if isinstance(x, torch.Tensor) else None
    if dtype is None or x.dtype == dtype or not x.is_floating_point():
        return None
    if args:
        return (x.to(dtype), *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": x.to(dtype)}


def cast_block_inputs_once(model: nn.Module) -> int:
    """Register the pre-hooks on `model`'s BERT blocks and stop peft from casting a LoRA input
    back to fp32 (autocast casts it for the matmul anyway); the number of hooks."""
    hooks = 0
    for module in model.modules():
        if type(module).__name__ in CAST_AT:
            module.register_forward_pre_hook(_cast_first_input, with_kwargs=True)
            hooks += 1
        if hasattr(module, "cast_input_dtype_enabled"):  # peft LoRA/DoRA layers
            module.cast_input_dtype_enabled = False
    return hooks
