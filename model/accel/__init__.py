"""The speed-up pack: every rewrite that makes a trial faster than torch's plain path, behind one
call. A trial with `accelerate=false` (TrialConfig) runs none of them.

Each rewrite is declared once, in REWRITES: its name, when it applies, what it requires, the
module and function that apply it, and how close it stays to the plain path (which
tests/model/accel/test_pack.py checks, row by row). A rewrite keeps the model's parameters,
state_dict keys and module paths, so a saved adapter is plain peft: it replaces modules by
instances that hold the same Parameters, never a live module's class. Where a rewrite needs a
private torch or peft API that this installation lacks, or its module fails to import, it is
skipped with one warning line and the plain path runs instead.

A rewrite stays while the step it targets (LoRA's or DoRA's) without it is at least 5% slower
(`study bench`'s pack-less-one-rewrite blocks); study/bench/RESULTS.md lists those removed.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Rewrite:
    """One speed-up of the pack."""

    name: str
    summary: str
    """What it does, in a line."""
    module: str
    """model.accel.<module> holds `apply` and `check`."""
    apply: str
    """The module's function that rewrites a model in place: f(model) -> count rewritten."""
    check: str | None = None
    """The module's function that says why it cannot run here (None when it can)."""
    device: str | None = None
    """"cpu" | "cuda": the only device it is for; None for any."""
    bf16_only: bool = False
    """Only in bf16 trials."""
    lora_only: bool = False
    """Written against peft's LoRA/DoRA layers; off when another peft method is in the model
    (VeRA, IA3, OFT, BOFT, HRA and AdaLoRA read the base weight in their own forward)."""
    requires: tuple[str, ...] = ()
    """Rewrites it reads the work of (prepacking reads the bf16 weights)."""
    tolerance: float | None = None
    """How close to the plain path: None, bit for bit; else the largest |output difference|
    relative to the largest |plain output|, and 1 - the least gradient cosine."""

    def applies(self, device: torch.device, precision: str) -> bool:
        """Whether it is meant for this device and precision."""
        if self.device is not None and device.type != self.device:
            return False
        return precision == "bf16" or not self.bf16_only

    def unavailable(self) -> str | None:
        """Why it cannot run with this torch/peft, or None when it can."""
        try:
            module = importlib.import_module(f"model.accel.{self.module}")
            check = getattr(module, self.check) if self.check else None
            return check() if check is not None else None
        except (ImportError, AttributeError) as err:
            return f"model/accel/{self.module}.py cannot load ({type(err).__name__}: {err})"

    def function(self) -> Callable[[nn.Module], int]:
        return getattr(importlib.import_module(f"model.accel.{self.module}"), self.apply)


REWRITES = (
    Rewrite(
        "bf16_weights",
        "frozen base linear weights stored in bf16 (no per-call cast)",
        "bf16_weights",
        "store_frozen_base_in",
        bf16_only=True,
        lora_only=True,
    ),
    Rewrite(
        "lean_dora",
        "DoRA's activation-sized work in the activation dtype",
        "lean_dora",
        "use_lean_dora",
        check="available",
        lora_only=True,
        tolerance=1e-4,  # the same math in another order of operations
    ),
    Rewrite(
        "prepacked_linear",
        "frozen weights in oneDNN's layout, reordered once",
        "prepacked_linear",
        "prepack_frozen_linears",
        check="available",
        device="cpu",
        bf16_only=True,
        lora_only=True,
        requires=("bf16_weights",),
    ),
    Rewrite(
        "fast_dropout",
        "dropout masks from numpy's SFC64, attention's included",
        "attention",
        "use_fast_dropout_attention",
        check="available",
        device="cpu",
    ),
    Rewrite(
        "cuda_attention",
        "SDPA without cuDNN's per-shape plans",
        "attention",
        "route_attention",
        device="cuda",
    ),
)
BY_NAME = {r.name: r for r in REWRITES}
NAMES = tuple(BY_NAME)
_WARNED: set[str] = set()


class AccelFallbackWarning(UserWarning):
    """A speed-up is off because this torch/peft lacks what it needs; the plain path runs."""


def other_adapters(model: nn.Module) -> bool:
    """Whether any encoder of `model` holds a peft adapter other than plain LoRA/DoRA."""
    for module in model.modules():
        config = getattr(module, "peft_config", None)
        if isinstance(config, dict):
            kinds = {str(getattr(c, "peft_type", "")).rsplit(".", 1)[-1] for c in config.values()}
            if kinds - {"LORA"}:
                return True
    return False


def accelerate(
    model: nn.Module, device: torch.device, precision: str, skip: Iterable[str] = ()
) -> list[str]:
    """Apply every rewrite meant for `device` and `precision` to `model` in place, but those in
    `skip` (the benchmark's and tests' ablations); returns the names applied.

    Call after the model is built, moved to `device` and its frozen weights shared."""
    skip = set(skip)
    unknown = skip - set(NAMES)
    if unknown:
        raise ValueError(f"unknown speed-up {sorted(unknown)[0]!r}; known: {', '.join(NAMES)}")
    applied: list[str] = []
    lora_only_off = other_adapters(model)
    for rewrite in REWRITES:
        if rewrite.name in skip or not rewrite.applies(device, precision):
            continue
        if (lora_only_off and rewrite.lora_only) or not set(rewrite.requires) <= set(applied):
            continue
        reason = rewrite.unavailable()
        if reason is not None:
            _warn_once(rewrite.name, reason)
            continue
        rewrite.function()(model)
        applied.append(rewrite.name)
    return applied


def replace_module(model: nn.Module, path: str, new: nn.Module) -> None:
    """Put `new` where `model`'s sub-module `path` (e.g. "bert.encoder.layer.0.output.dense")
    is: the same path, so the same state_dict keys when `new` holds the same Parameters."""
    parent_path, _, attr = path.rpartition(".")
    setattr(model.get_submodule(parent_path) if parent_path else model, attr, new)


def _warn_once(name: str, reason: str) -> None:
    if name not in _WARNED:
        _WARNED.add(name)
        message = f"speed-up {name} is off ({reason}); the plain path runs instead"
        warnings.warn(message, AccelFallbackWarning, stacklevel=3)
