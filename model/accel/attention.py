"""BERT attention as transformers' SDPA, with two changes (part of model/accel).

* On CPU, while training with attention dropout, the same math runs with a FastDropout mask
  (fast_dropout.py): torch's SDPA would draw its mask element by element.
* On CUDA, SDPA runs without cuDNN's backend, which torch picks for bf16 on Hopper: cuDNN builds
  an execution plan for every new (batch, length) shape, and dynamic padding makes hundreds.

Uses torch's private torch._softmax_backward_data (checked by `available`).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from model.accel.fast_dropout import FastDropout, use_fast_dropout

ATTENTION = "sdpa_fast_dropout"
SOFTMAX_BACKWARD = "_softmax_backward_data"  # torch's private softmax backward
_SDPA_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def available() -> str | None:
    """None when this torch has what the CPU path uses, else why not."""
    if not callable(getattr(torch, SOFTMAX_BACKWARD, None)):
        return f"torch.{SOFTMAX_BACKWARD} is missing in torch {torch.__version__}"
    return None


def route_attention(model: nn.Module) -> int:
    """Route `model`'s BERT attention from transformers' "sdpa" through attention_forward; the
    count of transformers models routed. Uses PreTrainedModel.set_attn_implementation where
    this transformers has it, else (older releases) the config field it sets."""
    _register_attention()
    routed = 0
    for module in model.modules():
        config = getattr(module, "config", None)
        if getattr(config, "_attn_implementation", None) != "sdpa":
            continue
        if callable(getattr(module, "set_attn_implementation", None)):
            module.set_attn_implementation(ATTENTION)
        else:
            config._attn_implementation = ATTENTION
        routed += 1
    return routed


def use_fast_dropout_attention(model: nn.Module) -> int:
    """FastDropout for every nn.Dropout (fast_dropout.py) and BERT's attention routed through
    attention_forward, which draws its mask from it; the count of dropouts replaced."""
    replaced = use_fast_dropout(model)
    route_attention(model)
    return replaced


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
    that would be nine passes forward and backward.
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
        grad_wide = getattr(torch, SOFTMAX_BACKWARD)(grad_probs, probs, -1, probs.dtype)
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
    """Register attention_forward under ATTENTION with transformers' documented interfaces
    (AttentionInterface, and AttentionMaskInterface for the mask sdpa takes)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION, attention_forward)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
