"""A faster dropout for CPU training, on by default for CPU trials.

torch's CPU dropout draws one Mersenne-Twister number per element through bernoulli_: ~2.5 ms
for a (32 x 25, 384) activation here, and a LoRA step on MiniLM draws 38 such masks (embeddings,
attention probabilities and two hidden dropouts per block, the LoRA inputs, the head): about a
quarter of the step. Here numpy's SFC64 generator gives 64 random bits per four elements, and
an element is kept when its 16-bit share is at or above p (p rounded to a multiple of 1/65536):
~0.35 ms for the same mask. Same distribution, same 1/(1-p) scaling, another random stream, so a
trial is as deterministic as before (the stream is seeded from torch's seed) but not
bit-identical to one run with torch's dropout. `study bench` measures both.

BERT's attention dropout is not a module call: it happens inside torch's SDPA kernel (its CPU
math path when dropout > 0). The attention function "sdpa_fast_dropout" below runs SDPA when
nothing is dropped (eval, or p = 0) and otherwise the same math with this mask. CUDA trials
route attention through it too (`route_attention`), for SDPA without cuDNN's backend.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

ATTENTION = "sdpa_fast_dropout"
# SDPA on CUDA without cuDNN's backend, which torch picks for bf16 on Hopper: cuDNN builds an
# execution plan for every new (batch, length) shape, ~0.1 s each, and dynamic padding makes
# hundreds of shapes (a paper-scale bf16 epoch on an H100 took 52.6 s against 22.4 s in fp32).
_SDPA_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
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
        """A 0/1 mask shaped like x, each element 1 with probability 1 - p (to 1/65536).

        The mask is in x's dtype, written as its bit pattern by numpy: torch's CPU multiply
        by a bool mask converts it element by element, ~4x slower than x * mask of one dtype
        (0.38 against 0.09 ms for a (32, 40, 384) bf16 x; 88-109 against 21-27 us for the
        fp32 multiply-add). It costs 2 or 4 bytes per element of saved mask instead of 1.
        Other dtypes (float64) get a bool mask."""
        n = x.numel()
        shares = self.bits.random_raw((n + 3) // 4).view(np.uint16)[:n]
        kept = shares >= round(p * 65536)
        one = _ONE_BITS.get(x.dtype)
        if one is None:
            mask = torch.from_numpy(kept)
        else:  # 0 or 1.0's bits, read as x's dtype
            bits_dtype, bits = one
            mask = torch.from_numpy(np.multiply(kept, bits, dtype=bits_dtype)).view(x.dtype)
        return mask.view(x.shape)


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
    torch's generator, and route BERT attention through "sdpa_fast_dropout"; the count swapped."""
    source = MaskSource(int(torch.randint(0, 2**62, ()).item()))
    swapped = 0
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p, source))
                swapped += 1
    route_attention(model)
    return swapped


def route_attention(model: nn.Module) -> None:
    """Route `model`'s BERT attention from transformers' "sdpa" through attention_forward below
    (on CUDA: SDPA without cuDNN's backend)."""
    _register_attention()
    for module in model.modules():
        config = getattr(module, "config", None)
        if getattr(config, "_attn_implementation", None) == "sdpa":
            config._attn_implementation = ATTENTION


def attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,  # noqa: ANN003 - transformers passes its own keyword arguments through
) -> tuple[torch.Tensor, None]:
    """transformers attention function: SDPA, or its math with a FastDropout mask when training.

    query/key/value: (batch, heads, seq, head_dim); attention_mask: sdpa's bool mask
    (batch, 1, seq, seq), True = attend, or None. Returns (batch, seq, heads, head_dim)."""
    drop = getattr(module, "dropout", None)
    if dropout == 0.0 or not isinstance(drop, FastDropout) or query.device.type != "cpu":
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        cuda = query.device.type == "cuda"
        with sdpa_kernel(_SDPA_BACKENDS) if cuda else contextlib.nullcontext():
            args = (module, query, key, value, attention_mask)
            return sdpa_attention_forward(*args, dropout=dropout, scaling=scaling, **kwargs)
    scores = torch.matmul(query, key.transpose(2, 3))  # (B, H, T, T); bf16 under autocast
    # Scores, mask and probabilities stay in the scores' dtype, as SDPA's flash kernels keep P
    # in bf16: autocast would hand back fp32 probabilities, so the mask, the dropout and the
    # second matmul would run on fp32 tensors and cast back. Only the softmax works in fp32.
    with torch.autocast("cpu", enabled=False):
        scores.mul_(scaling or query.size(-1) ** -0.5)  # in place: the matmul's output is free
        if attention_mask is not None:  # added, not masked_fill: its backward is no pass at all
            scores.add_(additive_mask(attention_mask, scores.dtype))
        probs = drop(SoftmaxInFp32.apply(scores))
        out = torch.matmul(probs, value.to(probs.dtype))
    return out.transpose(1, 2).contiguous(), None


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """SDPA's bool mask (True = attend), e.g. (B, 1, T, T), as 0 / dtype's lowest value to add
    to the scores; a float mask as it is. Softmax gives a masked key exactly 0 either way, and
    so its gradient too."""
    if mask.dtype != torch.bool:
        return mask.to(dtype)
    bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return bias.masked_fill_(~mask, torch.finfo(dtype).min)


class SoftmaxInFp32(torch.autograd.Function):
    """softmax over the last dim computed in fp32 and rounded to the input's dtype, as torch's
    bf16 kernel does internally; its backward likewise. torch's bf16 CPU kernels run rows
    shorter than their 32-lane vector element by element: for (32, 12, 22, 22) scores the bf16
    softmax took 613 us and its backward 569 us, the fp32 ones with both casts 256 and 125."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        probs = torch.softmax(x.to(_compute_dtype(x)), dim=-1).to(x.dtype)
        ctx.save_for_backward(probs)
        return probs

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        (probs,) = ctx.saved_tensors
        dtype = _compute_dtype(probs)
        out = torch._softmax_backward_data(grad.to(dtype), probs.to(dtype), -1, dtype)
        return out.to(grad.dtype)


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float32 if x.dtype in (torch.bfloat16, torch.float16) else x.dtype


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTENTION, attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION, sdpa_mask)
