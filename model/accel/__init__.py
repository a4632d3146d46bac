"""The speed-up pack: every rewrite that makes a trial faster than torch's plain path, behind one
call. A trial with `accelerate=false` (TrialConfig) runs none of them.

Each rewrite keeps the model's parameters, state_dict and results (to the stated rounding);
tests/model/accel compares each with the plain path. Where a rewrite needs a private torch or
peft API that this installation lacks, it is skipped with one warning line and the plain path
runs instead.

    rewrite           when             what
    bf16_weights      bf16             frozen base linear weights stored in bf16 (no per-call cast)
    lean_dora         DoRA             DoRA's activation-sized work in the activation dtype
    prepacked_linear  CPU, bf16        frozen weights in oneDNN's layout, reordered once
    fused_qkv         CPU, bf16        LoRA/DoRA query, key and value as one product
    (the first four only for LoRA/DoRA: LORA_ONLY)
    fast_dropout      CPU              dropout masks from numpy's SFC64, attention included
    cuda_attention    CUDA             SDPA without cuDNN's per-shape plans

A rewrite stays while the step it targets (LoRA's or DoRA's) without it is at least 5% slower
(`study bench`'s pack-less-one-rewrite blocks); study/bench/RESULTS.md lists those removed.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable

import torch
from torch import nn

REWRITES = (
    "bf16_weights",
    "lean_dora",
    "prepacked_linear",
    "fused_qkv",
    "fast_dropout",
    "cuda_attention",
)
# the module that says whether a rewrite's private APIs exist here (its `available()`)
_CHECKED_BY = {
    "lean_dora": "lean_dora",
    "prepacked_linear": "prepacked_linear",
    "fused_qkv": "fused_qkv",
    "fast_dropout": "attention",
}
# Rewrites written against peft's LoRA layers (and the Linear they wrap). Other methods (VeRA,
# IA3, OFT, BOFT, HRA, AdaLoRA's SVD layers) read the base weight in their own forward, so
# they run without these; the rest of the pack is method-agnostic.
LORA_ONLY = {"bf16_weights", "lean_dora", "prepacked_linear", "fused_qkv"}
_WARNED: set[str] = set()


def other_adapters(model: nn.Module) -> bool:
    """Whether any encoder of `model` holds a peft adapter other than plain LoRA/DoRA."""
    for module in model.modules():
        config = getattr(module, "peft_config", None)
        if isinstance(config, dict):
            kinds = {str(getattr(c, "peft_type", "")).rsplit(".", 1)[-1] for c in config.values()}
            if kinds - {"LORA"}:
                return True
    return False


class AccelFallbackWarning(UserWarning):
    """A speed-up is off because this torch/peft lacks what it needs; the plain path runs."""


def applies(name: str, device: torch.device, precision: str) -> bool:
    """Whether rewrite `name` is meant for this device and precision."""
    cpu, bf16 = device.type == "cpu", precision == "bf16"
    return {
        "bf16_weights": bf16,
        "lean_dora": True,
        "prepacked_linear": cpu and bf16,
        "fused_qkv": cpu and bf16,
        "fast_dropout": cpu,
        "cuda_attention": device.type == "cuda",
    }[name]


def unavailable(name: str) -> str | None:
    """Why rewrite `name` cannot run with this torch/peft, or None when it can."""
    module = _CHECKED_BY.get(name)
    if module is None:
        return None
    return importlib.import_module(f"model.accel.{module}").available()


def accelerate(
    model: nn.Module, device: torch.device, precision: str, skip: Iterable[str] = ()
) -> list[str]:
    """Apply every rewrite meant for `device` and `precision` to `model` in place, but those in
    `skip` (the benchmark's and tests' ablations); returns the names applied.

    Call after the model is built, moved to `device` and its frozen weights shared."""
    skip = set(skip)
    unknown = skip - set(REWRITES)
    if unknown:
        raise ValueError(f"unknown speed-up {sorted(unknown)[0]!r}; known: {', '.join(REWRITES)}")
    applied = []
    lora_only_off = other_adapters(model)
    for name in REWRITES:
        if name in skip or not applies(name, device, precision):
            continue
        if lora_only_off and name in LORA_ONLY:
            continue
        reason = unavailable(name)
        if reason is not None:
            _warn_once(name, reason)
            continue
        _apply(name, model)
        applied.append(name)
    return applied


def _apply(name: str, model: nn.Module) -> None:
    if name == "bf16_weights":
        from model.accel.bf16_weights import store_frozen_base_in

        store_frozen_base_in(model, torch.bfloat16)
    elif name == "lean_dora":
        from model.accel.lean_dora import use_lean_dora

        use_lean_dora(model)
    elif name == "prepacked_linear":
        from model.accel.prepacked_linear import prepack_frozen_linears

        prepack_frozen_linears(model)
    elif name == "fused_qkv":
        from model.accel.fused_qkv import fuse_qkv_lora

        fuse_qkv_lora(model)
    elif name == "fast_dropout":
        from model.accel.attention import route_attention
        from model.accel.fast_dropout import use_fast_dropout

        use_fast_dropout(model)
        route_attention(model)
    elif name == "cuda_attention":
        from model.accel.attention import route_attention

        route_attention(model)


def _warn_once(name: str, reason: str) -> None:
    if name not in _WARNED:
        _WARNED.add(name)
        message = f"speed-up {name} is off ({reason}); the plain path runs instead"
        warnings.warn(message, AccelFallbackWarning, stacklevel=3)
