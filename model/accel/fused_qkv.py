"""One product for a BERT block's query, key and value under LoRA or DoRA, on CPU in bf16.

peft wraps query, key and value as three lora.Linear layers that all read the same input x:
per block three base products, six thin LoRA products forward and twelve backward, a scaling
multiply and an add per target, and in the backward five adds of (n, d) input gradients. Here
the frozen bases run as one (n, d) @ (d, 3d) product on weights oneDNN reordered once (as in
prepacked_linear.py), the three lora_A as one (n, d) @ (d, 3r) product, each lora_B added
into its third of the output by addmm_, and the backward's input gradient is one product over
the three gradients plus one for the adapters. The math is peft's,
    LoRA: q = x Wq^T + bq + s_q (x A_q^T) B_q^T        (and k, v likewise)
    DoRA: q = c_q (x Wq^T + s_q (x A_q^T) B_q^T) + bq,  c_q = m_q / ||Wq + s_q B_q A_q||_c
with the LoRA term accumulated into the base output in fp32 inside addmm_ rather than rounded
to bf16 and added, so results agree with peft's to bf16 rounding, not bit for bit.

Only while every condition holds (checked at each call, else BertSelfAttention's own forward):
CPU, gradients on, bf16 autocast, no cache, and query/key/value each a peft lora.Linear with
the same one active, unmerged, enabled adapter (LoRA, or DoRA as lean_dora.py makes it; no
lora_dropout) over a prepacked frozen bf16 base with a frozen bias. Evaluation (no gradients)
runs peft's layers, so a saved trial loaded again reproduces its recorded dev scores exactly.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.models.bert.modeling_bert import (
    ALL_ATTENTION_FUNCTIONS,
    BertSelfAttention,
    eager_attention_forward,
)

from model.accel import prepacked_linear
from model.accel.lean_dora import LeanDoraLinearLayer
from model.accel.prepacked_linear import LINEAR_OP, PrepackedFrozenLinear, _reorder, mkldnn_op

BF16 = torch.bfloat16
PROJECTIONS = ("query", "key", "value")


def available() -> str | None:
    """None when the prepacked oneDNN ops run here (this rewrite stands on them), else why not."""
    return prepacked_linear.available()


def _linear(*args):  # noqa: ANN002, ANN202 - torch.ops.mkldnn._linear_pointwise
    return mkldnn_op(LINEAR_OP)(*args)


class _QKVLoRAFunction(torch.autograd.Function):
    """(x, A_q, A_k, A_v, B_q, B_k, B_v, c) -> q, k, v, each (B, heads, T, head_dim) contiguous.

    x: (B, T, d). A_t: (r_t, d), B_t: (d, r_t), fp32 trainable. c: None for LoRA; for DoRA the
    (3d,) fp32 column scales m / ||W0 + s·BA||_c of the three, so z = W0x + s·BAx becomes
    c·z + b (Eq. 5 of the DoRA paper, as lean_dora.py computes it). packed: (W, W^T,
    bias) of the three frozen bases stacked, W (3d, d) and W^T (d, 3d) in oneDNN's layout,
    bias (3d,) bf16."""

    @staticmethod
    def forward(ctx, x, a_q, a_k, a_v, b_q, b_k, b_v, c, packed, scales, heads):  # noqa: ANN001, ANN205
        weight, weight_t, bias = packed
        batch, length, d = x.shape
        x2 = x.reshape(-1, d).to(BF16)  # (n, d)
        # (n, 3d): the three base outputs (DoRA adds the bias after scaling)
        out = _linear(x2, weight, bias if c is None else None, "none", [], "")
        a = torch.cat((a_q, a_k, a_v)).to(BF16)  # (r_q + r_k + r_v, d)
        u = torch.mm(x2, a.t())  # (n, 3r): x A^T of all three adapters
        bs = [b.to(BF16) for b in (b_q, b_k, b_v)]
        ranks = [a_q.shape[0], a_k.shape[0], a_v.shape[0]]
        for t, (u_t, b_t) in enumerate(zip(u.split(ranks, 1), bs, strict=True)):
            out[:, t * d : (t + 1) * d].addmm_(u_t, b_t.t(), alpha=scales[t])
        z, c16 = None, None
        if c is not None:  # DoRA: c·z + b in one pass; z kept for c's gradient
            z, c16 = out, c.to(BF16)
            out = torch.addcmul(bias, z, c16)
        ctx.save_for_backward(x2, u, a, z, c16, *bs)
        ctx.weight_t, ctx.scales, ctx.ranks, ctx.heads = weight_t, scales, ranks, heads
        # (n, 3d) -> q, k, v (B, H, T, head_dim): the copy torch.matmul would make per product
        per_head = out.view(batch, length, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        return tuple(t.contiguous() for t in per_head.unbind(0))

    @staticmethod
    def backward(ctx, g_q, g_k, g_v):  # noqa: ANN001, ANN205
        x2, u, a, z, c16, *bs = ctx.saved_tensors
        n, d = x2.shape
        batch, heads, length, head_dim = g_q.shape
        g = torch.empty(batch, length, 3, heads, head_dim, dtype=BF16)
        for t, g_t in enumerate((g_q, g_k, g_v)):  # back to (n, 3d): one pass over all three
            g[:, :, t].copy_(g_t.transpose(1, 2))
        g = g.view(n, 3 * d)
        dc = None
        if z is not None:  # DoRA: dc = sum over tokens of g·z; z's gradient is c·g
            dc = (g * z).sum(0).float()
            g = g.mul_(c16)
        g_parts = [g[:, t * d : (t + 1) * d] for t in range(3)]
        du = torch.cat(  # (n, 3r): s_t g_t B_t
            [
                torch.mm(g_t, b_t).mul_(s)
                for g_t, b_t, s in zip(g_parts, bs, ctx.scales, strict=True)
            ],
            1,
        )
        dx = None
        if ctx.needs_input_grad[0]:  # block 0 reads the frozen embeddings: no dX there
            dx = _linear(g, ctx.weight_t, None, "none", [], "")  # (n, d): the bases' dX
            dx = dx.addmm_(du, a).view(batch, length, d)  # + the adapters' dX, du A
        da = torch.mm(du.t(), x2).float().split(ctx.ranks, 0)  # (3r, d) -> dA_q, dA_k, dA_v
        db = [
            torch.mm(g_t.t(), u_t).mul_(s).float()  # (d, r_t): s_t g_t^T (x A_t^T)
            for g_t, u_t, s in zip(g_parts, u.split(ctx.ranks, 1), ctx.scales, strict=True)
        ]
        return (dx, *da, *db, dc, None, None, None)


class FusedQKVSelfAttention(BertSelfAttention):
    """BertSelfAttention whose LoRA/DoRA query/key/value run as one product (module docstring)."""

    def forward(self, hidden_states, attention_mask=None, cache=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
        adapter = self._fusable_adapter(hidden_states) if cache is None else None
        if adapter is None:
            return super().forward(hidden_states, attention_mask, cache=cache, **kwargs)
        layers = [getattr(self, name) for name in PROJECTIONS]
        args = [layer.lora_A[adapter].weight for layer in layers]
        args += [layer.lora_B[adapter].weight for layer in layers]
        scales = [layer.scaling[adapter] for layer in layers]
        dora = layers[0].use_dora.get(adapter, False)
        c = torch.cat([_dora_scale(layer, adapter) for layer in layers]) if dora else None
        with torch.autocast("cpu", enabled=False):  # x goes to bf16 as autocast would take it
            query, key, value = _QKVLoRAFunction.apply(
                hidden_states, *args, c, self._packed(), scales, self.num_attention_heads
            )
        attention = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        dropout = self.dropout.p if self.training else 0.0
        out, weights = attention(
            self, query, key, value, attention_mask, dropout=dropout, scaling=self.scaling, **kwargs
        )
        return out.reshape(*hidden_states.shape[:-1], -1).contiguous(), weights

    def _fusable_adapter(self, x: torch.Tensor) -> str | None:
        """The one adapter name that query/key/value apply, if fusing covers the call; else None."""
        if not (
            x.device.type == "cpu"
            and torch.is_grad_enabled()  # training: evaluation keeps peft's numerics (below)
            and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == BF16
        ):
            return None
        found = {_single_lora_adapter(getattr(self, name)) for name in PROJECTIONS}
        if len(found) != 1:  # all three the same adapter, all LoRA or all DoRA
            return None
        return found.pop()[0]

    def _packed(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        bases = [getattr(self, name).base_layer for name in PROJECTIONS]
        key = tuple(base._key() for base in bases)
        cached = getattr(self, "_qkv_packed", None)
        if cached is None or cached[0] != key:
            cached = self._qkv_packed = (key, *_stack_and_reorder(bases))
        return cached[1:]


def _single_lora_adapter(layer: nn.Module) -> tuple[str | None, bool]:
    """(adapter name, is DoRA) if `layer` is a peft lora.Linear applying exactly one LoRA or
    lean DoRA adapter (enabled, unmerged, no dropout) over a frozen bf16 base with a frozen
    bias; else (None, False)."""
    none = (None, False)
    base = getattr(layer, "base_layer", None)
    if not isinstance(base, PrepackedFrozenLinear) or not base._frozen_bf16():
        return none
    if getattr(layer, "disable_adapters", True) or getattr(layer, "merged", True):
        return none
    active = [name for name in layer.active_adapters if name in layer.lora_A]
    if len(active) != 1 or base.bias is None:
        return none
    name = active[0]
    if not isinstance(layer.lora_dropout[name], nn.Identity):
        return none
    dora = bool(layer.use_dora.get(name))
    if dora and not isinstance(layer.lora_magnitude_vector[name], LeanDoraLinearLayer):
        return none
    return name, dora


def _dora_scale(layer: nn.Module, adapter: str) -> torch.Tensor:
    """(d_out,) fp32 m / ||W0 + s·BA||_c, the norm a constant for autograd (DoRA §4.3)."""
    a, b = layer.lora_A[adapter].weight, layer.lora_B[adapter].weight
    with torch.no_grad():
        delta = b.float() @ a.float()  # (d_out, d_in)
        w = layer.base_layer.weight.float() + layer.scaling[adapter] * delta
        norm = torch.linalg.vector_norm(w, dim=1)
    return layer.lora_magnitude_vector[adapter].weight / norm


def _stack_and_reorder(bases: list[nn.Linear]) -> tuple[torch.Tensor, ...]:
    """(W, W^T in oneDNN's layout, bias in bf16) of the three bases stacked along d_out."""
    weight = torch.cat([base.weight.detach() for base in bases])  # (3d, d) bf16
    return _reorder(weight, torch.cat([base.bias.detach() for base in bases]))


def fuse_qkv_lora(model: nn.Module) -> int:
    """Make every BertSelfAttention in `model` a FusedQKVSelfAttention (it falls back to
    BertSelfAttention's forward when fusing does not apply); the count changed. Parameters and
    state_dict are unchanged. Call only when available()."""
    shared: dict[tuple, tuple] = {}  # the task encoders share one frozen base: one packed copy
    changed = 0
    for module in model.modules():
        if type(module) is not BertSelfAttention:
            continue
        module.__class__ = FusedQKVSelfAttention
        changed += 1
        if all(_single_lora_adapter(getattr(module, name))[0] for name in PROJECTIONS):
            bases = [getattr(module, name).base_layer for name in PROJECTIONS]
            key = tuple(base._key() for base in bases)
            if key not in shared:
                shared[key] = (key, *_stack_and_reorder(bases))
            module._qkv_packed = shared[key]
    return changed
