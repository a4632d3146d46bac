"""Frozen bf16 linear layers whose weight oneDNN reorders once per trial, not at every call.

torch's CPU bf16 matmul hands oneDNN a plain (d_out, d_in) weight, which oneDNN reorders into
its blocked layout at every call, and the backward's dX = g @ W pays it again: for the small
batches of a trial that reorder is a large part of each product. A LoRA/DoRA base layer is
frozen, so here both orientations are reordered once, with torch's own oneDNN ops (those
inductor uses for frozen CPU models). Same kernels, same products: the output and dX are
bit-identical to F.linear under autocast and autograd's.

Only while it is safe: CPU, bf16 autocast, bf16 weight and bias both frozen; otherwise (fp32,
CUDA, a trained bias) it is nn.Linear. The copies are keyed by the weight's storage and version,
so a weight replaced or changed in place through autograd is reordered again; one changed
through `.data` is not seen, so only models that never change frozen weights get this.

Uses torch's private oneDNN ops and Tensor._version, checked by `available`.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from model.accel import replace_module

BF16 = torch.bfloat16
LINEAR_OP = "_linear_pointwise"  # torch.ops.mkldnn's private ops this file calls
REORDER_OP = "_reorder_linear_weight"


def mkldnn_op(name: str):  # noqa: ANN201 - a torch OpOverloadPacket
    """torch.ops.mkldnn.<name>, or None where this torch build lacks it."""
    try:
        return getattr(torch.ops.mkldnn, name)
    except (AttributeError, RuntimeError):
        return None


class _PrepackedLinearFunction(torch.autograd.Function):
    """y = x W^T + b with W in oneDNN's layout; backward returns dX only (W and b are frozen)."""

    @staticmethod
    def forward(ctx, x, weight, weight_t, bias):  # noqa: ANN001, ANN205 - autograd's signature
        ctx.weight_t = weight_t  # (d_in, d_out) reordered: dX = g @ W is x @ W^T's twin
        return mkldnn_op(LINEAR_OP)(x, weight, bias, "none", [], "")

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        dx = mkldnn_op(LINEAR_OP)(grad.contiguous(), ctx.weight_t, None, "none", [], "")
        return dx, None, None, None


class PrepackedFrozenLinear(nn.Linear):
    """nn.Linear that runs on reordered copies of its frozen weight under CPU bf16 autocast."""

    @classmethod
    def holding(cls, linear: nn.Linear) -> PrepackedFrozenLinear:
        """One that holds `linear`'s own weight and bias Parameters (no copy, no new memory)."""
        layer = cls(linear.in_features, linear.out_features, bias=False, device="meta")
        layer.weight, layer.bias = linear.weight, linear.bias
        layer.train(linear.training)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._can_prepack(x):
            return super().forward(x)
        weight, weight_t, bias = self._prepacked()
        with torch.autocast("cpu", enabled=False):  # x goes to bf16 as autocast would take it
            return _PrepackedLinearFunction.apply(x.to(BF16), weight, weight_t, bias)

    def _can_prepack(self, x: torch.Tensor) -> bool:
        return (
            x.device.type == "cpu"
            and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == BF16
            and self._frozen_bf16()
        )

    def _frozen_bf16(self) -> bool:
        """bf16 weight, weight and bias both frozen: what the reordered copies stand for."""
        return (
            self.weight.dtype == BF16
            and not self.weight.requires_grad
            and (self.bias is None or not self.bias.requires_grad)
        )

    def _key(self) -> tuple[int, ...]:
        key = (self.weight.data_ptr(), self.weight._version)
        if self.bias is not None:
            key += (self.bias.data_ptr(), self.bias._version)
        return key

    def _prepacked(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        key, cached = self._key(), getattr(self, "_prepacked_cache", None)
        if cached is None or cached[0] != key:
            cached = self._prepacked_cache = (key, *_reorder(self.weight, self.bias))
        return cached[1:]


def _reorder(
    weight: torch.Tensor, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(W, W^T in oneDNN's blocked layout, bias in bf16) of a frozen bf16 linear layer."""
    w = weight.detach()
    reorder = mkldnn_op(REORDER_OP)
    b = None if bias is None else bias.detach().to(BF16)
    return reorder(w, None), reorder(w.t().contiguous(), None), b


def available() -> str | None:
    """None when this torch build has the oneDNN ops and they run here (x86 wheels do), else why
    not. Not cached: a test swaps LINEAR_OP to force the fallback."""
    missing = [n for n in (LINEAR_OP, REORDER_OP) if mkldnn_op(n) is None]
    if missing or not hasattr(torch.Tensor, "_version"):
        names = ", ".join(f"torch.ops.mkldnn.{n}" for n in missing) or "Tensor._version"
        return f"{names} missing in torch {torch.__version__}"
    return _probe(LINEAR_OP, REORDER_OP)


@functools.cache
def _probe(linear: str, reorder: str) -> str | None:
    try:
        w = torch.ones(8, 8, dtype=BF16)
        x = torch.ones(2, 8, dtype=BF16)
        y = mkldnn_op(linear)(x, mkldnn_op(reorder)(w, None), None, "none", [], "")
    except RuntimeError as err:
        return f"torch.ops.mkldnn.{linear} fails here ({str(err).splitlines()[0][:80]})"
    return None if torch.equal(y, x @ w.t()) else f"torch.ops.mkldnn.{linear} gives other results"


def prepack_frozen_linears(model: nn.Module) -> int:
    """Replace `model`'s frozen bf16 nn.Linear layers by PrepackedFrozenLinear layers that hold
    the same weight and bias Parameters (module paths unchanged); the count replaced.

    Layers that share a frozen weight (the three task encoders share one base) share one
    reordered copy. Parameters and state_dict are unchanged. Call only when available()."""
    shared: dict[tuple[int, ...], tuple] = {}  # _key() -> _prepacked_cache
    found = [
        (path, module)
        for path, module in model.named_modules()
        if type(module) is nn.Linear
        and not module.weight.requires_grad
        and module.weight.dtype == BF16
        and module.weight.device.type == "cpu"
    ]
    for path, module in found:
        packed = PrepackedFrozenLinear.holding(module)
        replace_module(model, path, packed)
        if packed._frozen_bf16():  # a trained bias leaves the layer to nn.Linear's forward
            key = packed._key()
            if key not in shared:
                shared[key] = (key, *_reorder(packed.weight, packed.bias))
            packed._prepacked_cache = shared[key]
    return len(found)
