"""peft's DoRA layer with its activation-sized work kept in the activation dtype.

DoRA (Liu et al. 2024, Eq. 5): W' = m · (W0 + s·BA) / ||W0 + s·BA||_c, the norm treated as a
constant in backward (§4.3). peft 0.21 adds this to the base output as
    (m/||.|| - 1) · W0x + (m/||.||) · s·BAx
with m/||.|| in fp32. Under bf16 autocast W0x and BAx are bf16, so each of those products
promotes a (B, T, d_out) activation to fp32 and peft casts the sum back: four fp32 passes per
DoRA layer in forward and as many in backward. Here the per-row scales are formed in fp32
(d_out numbers) and cast to the activation dtype, so the large products run in it. B·A for the
norm is one matmul under no_grad; peft runs it through the layers on an identity matrix and
records a graph that it then detaches. Parameters, state_dict keys, merging and the fp32 result
(to float rounding) are peft's.

Subclasses peft's DoraLinearLayer (peft.tuners.lora.dora), checked by `available`. Each of peft's
layers is replaced by one of ours that holds the same magnitude Parameter, so the state_dict
keys, module paths and saved adapters are peft's.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from peft.tuners.lora.dora import DoraLinearLayer
from torch import nn

from model.accel import replace_module

# the keyword arguments peft's lora.Linear passes to its DoRA layer's forward
PEFT_FORWARD_ARGS = ("lora_A", "lora_B", "scaling", "base_layer", "base_result")


def available() -> str | None:
    """None when peft's DoraLinearLayer.forward takes the arguments this subclass expects."""
    params = inspect.signature(DoraLinearLayer.forward).parameters
    missing = [a for a in PEFT_FORWARD_ARGS if a not in params]
    return f"peft's DoraLinearLayer.forward lacks {', '.join(missing)}" if missing else None


class LeanDoraLinearLayer(DoraLinearLayer):
    """DoraLinearLayer whose forward keeps (B, T, d_out) tensors in the activation dtype."""

    def forward(  # peft's signature
        self,
        x: torch.Tensor,
        *,
        lora_A: nn.Linear,
        lora_B: nn.Linear,
        scaling: float,
        base_layer: nn.Linear,
        base_result: torch.Tensor | None = None,
        adapter_name: str = "default",
    ) -> torch.Tensor:
        weight = base_layer.weight  # (d_out, d_in); BERT's Linear, so no fan_in_fan_out
        with torch.no_grad():  # ||W0 + s·BA||_c per output row, a constant for autograd (§4.3)
            delta = lora_B.weight.float() @ lora_A.weight.float()  # (d_out, d_in)
            norm = torch.linalg.vector_norm(weight.float() + scaling * delta, dim=1)  # (d_out,)
        scale = self.weight / norm  # (d_out,) fp32; its gradient reaches the magnitude m
        lora_result = lora_B(lora_A(x))  # (B, T, d_out)
        if base_result is None:  # peft passes None when lora_dropout changed x
            base_result, bias = F.linear(x, weight.to(x.dtype)), None
        else:  # W0x + b: its bias is taken out through `offset` below
            bias = base_layer.bias
        dtype = base_result.dtype
        shift = (scale - 1).to(dtype)  # (d_out,)
        offset = torch.zeros_like(shift) if bias is None else -shift * bias.to(dtype)
        # (m/||.|| - 1)·W0x + (m/||.||)·s·BAx as two fused multiply-adds over (B, T, d_out)
        out = torch.addcmul(offset, shift, base_result)
        return torch.addcmul(out, (scale * scaling).to(dtype), lora_result)


def use_lean_dora(model: nn.Module) -> int:
    """Replace every peft DoraLinearLayer in `model` by a LeanDoraLinearLayer holding the same
    magnitude Parameter (module path unchanged); the count replaced."""
    found = [
        (path, module)
        for path, module in model.named_modules()
        if type(module) is DoraLinearLayer and not module.fan_in_fan_out  # Conv1D: peft's code
    ]
    for path, module in found:
        lean = LeanDoraLinearLayer(fan_in_fan_out=False)
        lean.weight = module.weight  # m, shape (d_out,): the very Parameter, not a copy
        lean.train(module.training)
        replace_module(model, path, lean)
    return len(found)
