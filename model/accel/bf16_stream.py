"""Keep a bf16 trial's activations in bf16 between the matmuls that autocast runs in bf16.

Under plain bf16 autocast on CPU, BERT's residual stream stays fp32: the embedding sum is fp32,
LayerNorm returns its input's dtype, and each residual add promotes the bf16 sublayer output
back to fp32. So every linear layer that reads the stream casts it to bf16 again (query, key,
value and, with LoRA, each lora_A; peft even casts the adapters' input back to fp32 first):
dozens of copies of (B, T, H) tensors per step, forward and backward. Instead, under autocast:
  * LayerNorm returns the autocast dtype. The embeddings' LayerNorm is computed in fp32 and
    rounded once, so the stream is bf16 from there on. torch's CPU kernel keeps the mean and
    variance in fp32 for bf16 input, and gamma/beta stay fp32 parameters.
  * peft's LoRA/DoRA layers no longer cast their input to the adapter's fp32 (autocast casts
    the matmul operands anyway).
That is pure-bf16 activations with fp32 weights for everything that trains. The encoder's
states drift a little further from fp32 than plain autocast's; `study bench` checks a trial's
dev metrics against fp32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AutocastDtypeLayerNorm(nn.LayerNorm):
    """nn.LayerNorm that, under autocast, returns the autocast dtype (statistics in fp32)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = x.device.type
        if not torch.is_autocast_enabled(device):
            return super().forward(x)
        dtype = torch.get_autocast_dtype(device)
        with torch.autocast(device, enabled=False):  # autocast would upcast x to fp32
            if device != "cpu":  # CUDA's kernel wants x in gamma's dtype: fp32, as autocast does
                x = x.float()
            out = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return out.to(dtype)  # on CPU a no-op for bf16 input; the embeddings' fp32 sum is cast once


def keep_activations_in_autocast_dtype(model: nn.Module) -> int:
    """Swap `model`'s LayerNorms for AutocastDtypeLayerNorm and stop peft from casting LoRA
    inputs to fp32; the number of LayerNorms swapped. Parameters and state_dict are unchanged."""
    swapped = 0
    for module in model.modules():
        if type(module) is nn.LayerNorm:
            module.__class__ = AutocastDtypeLayerNorm
            swapped += 1
        if hasattr(module, "cast_input_dtype_enabled"):  # peft LoRA/DoRA layers
            module.cast_input_dtype_enabled = False
    return swapped
