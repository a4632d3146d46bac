"""A faster dropout for CPU training (part of the speed-up pack, model/accel).

torch's CPU dropout draws one Mersenne-Twister number per element through bernoulli_, and a
LoRA step on MiniLM draws 38 masks (embeddings, attention probabilities, two hidden dropouts per
block, the LoRA inputs, the head). Here numpy's SFC64 generator gives 64 random bits per four
elements, and an element is kept when its 16-bit share is at or above p (p rounded to a
multiple of 1/65536). Same distribution, same 1/(1-p) scaling, another random stream, so a trial
is as deterministic as before (the stream is seeded from torch's seed) but not bit-identical to
one run with torch's dropout. `study bench` measures both.

BERT's attention dropout is not a module call: it happens inside torch's SDPA kernel.
model/accel/attention.py runs the same math with this mask instead.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

# 1.0's bit pattern in each float format, as the unsigned integer type of its width
_ONE_BITS = {
    torch.bfloat16: (np.uint16, 0x3F80),
    torch.float16: (np.uint16, 0x3C00),
    torch.float32: (np.uint32, 0x3F800000),
}


class MaskSource:
    """One seeded numpy generator shared by every FastDropout of a model (one random stream)."""

    def __init__(self, seed: int) -> None:
        self.bits = np.random.SFC64(seed)

    def keep(self, x: torch.Tensor, p: float) -> torch.Tensor:
        """A 0/1 mask shaped like x, each element 1 with probability 1 - p (to 1/65536)."""
        return self.keep_mask(x.shape, x.dtype, p)

    def keep_mask(self, shape: torch.Size, dtype: torch.dtype, p: float) -> torch.Tensor:
        """A 0/1 mask of `shape`, each element 1 with probability 1 - p (to 1/65536).

        The mask is in `dtype`, written as its bit pattern by numpy: torch's CPU multiply
        by a bool mask converts it element by element, several times slower than x * mask of
        one dtype. It costs 2 or 4 bytes per element of saved mask instead of 1. Other dtypes
        (float64) get a bool mask."""
        n = math.prod(shape)
        shares = self.bits.random_raw((n + 3) // 4).view(np.uint16)[:n]
        kept = shares >= round(p * 65536)
        one = _ONE_BITS.get(dtype)
        if one is None:
            mask = torch.from_numpy(kept)
        else:  # 0 or 1.0's bits, read as `dtype`
            bits_dtype, bits = one
            mask = torch.from_numpy(np.multiply(kept, bits, dtype=bits_dtype)).view(dtype)
        return mask.view(shape)


class _MaskedScale(torch.autograd.Function):
    """y = x * keep / (1 - p); autograd keeps the mask (1 byte, or 2 for 16-bit x), not y."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return _masked_scale(x, keep, scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # noqa: ANN001
        (keep,) = ctx.saved_tensors
        return _masked_scale(grad, keep, ctx.scale), None, None


def _masked_scale(x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
    """x * keep * scale in one pass (x.mul(keep).mul_(scale) is two, with the same result: keep
    is 0 or 1, so only the product with scale rounds)."""
    return torch.addcmul(x.new_zeros(()), x, keep, value=scale)


class FastDropout(nn.Dropout):
    """nn.Dropout drawing its mask from a MaskSource (CPU tensors; others use torch's dropout)."""

    def __init__(self, p: float, source: MaskSource) -> None:
        super().__init__(p)
        self.source = source

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return super().forward(x)
        return _MaskedScale.apply(x, self.source.keep(x, self.p), 1.0 / (1.0 - self.p))


def use_fast_dropout(model: nn.Module) -> int:
    """Swap every nn.Dropout inside `model` for a FastDropout with the same p, seeded from
    torch's generator; the count swapped. BERT's attention dropout needs attention.py too."""
    source = MaskSource(int(torch.randint(0, 2**62, ()).item()))
    swapped = 0
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p, source))
                swapped += 1
    return swapped
