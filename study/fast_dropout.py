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
import math

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
        """A 0/1 mask shaped like x, each element 1 with probability 1 - p (to 1/65536)."""
        return self.keep_mask(x.shape, x.dtype, p)

    def keep_mask(self, shape: torch.Size, dtype: torch.dtype, p: float) -> torch.Tensor:
        """A 0/1 mask of `shape`, each element 1 with probability 1 - p (to 1/65536).

        The mask is in `dtype`, written as its bit pattern by numpy: torch's CPU multiply
        by a bool mask converts it element by element, ~4x slower than x * mask of one dtype
        (0.38 against 0.09 ms for a (32, 40, 384) bf16 x; 88-109 against 21-27 us for the
        fp32 multiply-add). It costs 2 or 4 bytes per element of saved mask instead of 1.
        Other dtypes (float64) get a bool mask."""
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
    if torch.is_autocast_enabled("cpu"):  # the products in autocast's dtype, as matmul's would
        query, key, value = (x.to(torch.get_autocast_dtype("cpu")) for x in (query, key, value))
    b, h, t, _ = query.shape
    keep = drop.source.keep_mask((b, h, t, t), query.dtype, dropout)
    bias = None if attention_mask is None else additive_mask(attention_mask, _wide(query.dtype))
    with torch.autocast("cpu", enabled=False):
        args = (query, key, value, bias, keep, 1.0 / (1.0 - dropout))
        out = DroppedSoftmaxAttention.apply(*args, scaling or query.size(-1) ** -0.5)
    return out.transpose(1, 2).contiguous(), None


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """SDPA's bool mask (True = attend), e.g. (B, 1, T, T), as 0 / dtype's lowest value to add
    to the scores; a float mask as it is. Softmax gives a masked key exactly 0 either way, and
    so its gradient too."""
    if mask.dtype != torch.bool:
        return mask.to(dtype)
    bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return bias.masked_fill_(~mask, torch.finfo(dtype).min)


class DroppedSoftmaxAttention(torch.autograd.Function):
    """dropout(softmax(q k^T * scaling + bias)) v with a given keep mask; q, k, v (B, H, T, d).

    The products run in q's dtype (bf16 under autocast); the (B, H, T, T) probabilities make
    three passes each way. Forward: scale, mask and widen to fp32 in one add; softmax in fp32
    (as SDPA's kernels keep it; torch's bf16 softmax runs rows shorter than its vector element by
    element); drop, scale by 1/(1-p) and round to q's dtype in one addcmul. Backward: mask and
    widen the gradient, softmax's backward in fp32, scale and round. Step by step in torch ops
    that is nine passes forward and backward, each ~0.1 ms at 32 x 12 x 62 x 62.
    bias: fp32 (B or 1, 1, T, T) additive mask or None; keep: 0/1 in q's dtype, or None."""

    @staticmethod
    def forward(ctx, q, k, v, bias, keep, keep_scale, scaling):  # noqa: ANN001, ANN205
        b, h, t, d = q.shape
        q3, k3, v3 = (x.reshape(b * h, t, d) for x in (q, k, v))
        scores = torch.bmm(q3, k3.transpose(1, 2)).view(b, h, t, t)
        wide = _wide(q.dtype)
        base = bias if bias is not None else torch.zeros((), dtype=wide)
        probs = torch.softmax(torch.add(base, scores, alpha=scaling), dim=-1)  # wide
        dropped = torch.empty(probs.shape, dtype=q.dtype)
        if keep is None:
            dropped.copy_(probs)
        else:
            torch.addcmul(_zero(wide), probs, keep, value=keep_scale, out=dropped)
        out = torch.bmm(dropped.view(b * h, t, t), v3)
        ctx.save_for_backward(q3, k3, v3, probs, dropped, keep)
        ctx.keep_scale, ctx.scaling = keep_scale, scaling
        return out.view(b, h, t, d)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        q3, k3, v3, probs, dropped, keep = ctx.saved_tensors
        b, h, t, d = grad.shape
        g3 = grad.reshape(b * h, t, d).to(q3.dtype)
        grad_v = torch.bmm(dropped.view(b * h, t, t).transpose(1, 2), g3)
        grad_dropped = torch.bmm(g3, v3.transpose(1, 2)).view(b, h, t, t)
        grad_probs = torch.empty(probs.shape, dtype=probs.dtype)
        if keep is None:
            grad_probs.copy_(grad_dropped)
        else:
            torch.addcmul(
                _zero(probs.dtype), grad_dropped, keep, value=ctx.keep_scale, out=grad_probs
            )
        grad_wide = torch._softmax_backward_data(grad_probs, probs, -1, probs.dtype)
        grad_scores = torch.empty((b * h, t, t), dtype=q3.dtype)
        torch.mul(grad_wide.view(b * h, t, t), ctx.scaling, out=grad_scores)
        grad_q = torch.bmm(grad_scores, k3)
        grad_k = torch.bmm(grad_scores.transpose(1, 2), q3)
        shape = (b, h, t, d)
        return grad_q.view(shape), grad_k.view(shape), grad_v.view(shape), None, None, None, None


def _wide(dtype: torch.dtype) -> torch.dtype:
    """The dtype softmax works in: fp32 for 16-bit floats, else the dtype itself."""
    return torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype


def _zero(dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros((), dtype=dtype)


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTENTION, attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION, sdpa_mask)
