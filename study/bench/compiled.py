"""torch.compile (inductor) against the hand-written speed-up pack (model/accel), on the bench's
LoRA step, timed in paired, interleaved blocks as steps.py times its variants.

Variants, each on the same batches: the plain path (no pack), the pack, the plain path under
torch.compile (compile time reported apart: the untimed warm-up pass), and the pack less each
of its rewrites that apply here, on LoRA's step and, for the LoRA/DoRA rewrites, on DoRA's
(what each one is worth on the steps it targets). The pack earns its place when it beats
torch.compile by at least KEEP on every block; a rewrite, when the step without it is at least
KEEP times the pack's on the mean of the paired blocks of LoRA's or DoRA's step.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from study.bench.steps import one_step
from study.config import TrialConfig

KEEP = 1.05  # how much faster the pack (and each rewrite) must make the step
LORA = {"method": "lora", "targets": "qkv", "r": 16}
DORA = {"method": "dora", "targets": "qkv", "r": 16}


def _variant(config: TrialConfig, device: torch.device, precision: str, kind: str, skip=()):  # noqa: ANN001, ANN202
    from study.train.loop import make_optimizer
    from study.train.run import build_trial_model

    torch.manual_seed(0)
    plain = kind in ("plain", "compiled")
    model = build_trial_model(config.replace(accelerate=not plain), device, precision, skip)
    optimizer = make_optimizer(model, config)
    if kind == "compiled":
        model.forward = torch.compile(model.forward, backend="inductor", dynamic=True)
    return model, optimizer


def _variants(base: TrialConfig, device: torch.device, precision: str) -> tuple[dict, list]:
    """{name: (model, optimizer)} and the rewrites timed, as compile_vs_pack's docstring lists."""
    from model.accel import REWRITES

    lora = base.replace(mode="sequential", **LORA)
    dora = base.replace(mode="sequential", **DORA)
    variants = {
        "plain": _variant(lora, device, precision, "plain"),
        "pack": _variant(lora, device, precision, "pack"),
        "compiled": _variant(lora, device, precision, "compiled"),
        "dora_pack": _variant(dora, device, precision, "pack"),
    }
    runnable = [r for r in REWRITES if r.applies(device, precision) and r.unavailable() is None]
    rewrites = [r.name for r in runnable]
    for rewrite in runnable:
        name = rewrite.name
        if name != "lean_dora":  # LoRA has no DoRA layer
            variants[f"pack_without_{name}"] = _variant(lora, device, precision, "pack", (name,))
        if rewrite.lora_only:
            variants[f"dora_pack_without_{name}"] = _variant(
                dora, device, precision, "pack", (name,)
            )
    return variants, rewrites


def compile_vs_pack(
    base: TrialConfig,
    batches: list[dict[str, torch.Tensor]],
    precision: str,
    device: torch.device,
    blocks: int = 5,  # leave-one-out gains of ~5% need several paired blocks to show
    block: int = 4,
) -> dict[str, Any]:
    """{variants: {name: {step_s, blocks_s}}, compile_s, compiled_over_pack per block,
    rewrite_gain: {rewrite: {"lora"|"dora": per block}}, rewrite_keeps: {rewrite: bool}}."""
    variants, rewrites = _variants(base, device, precision)
    warm: dict[str, float] = {}
    for name, (model, optimizer) in variants.items():  # untimed: compile, kernels, caches
        model.train()
        t0 = time.perf_counter()
        for batch in batches:
            one_step(model, optimizer, batch, "sst", precision, device)
        warm[name] = time.perf_counter() - t0
    per_block: dict[str, list[float]] = {name: [] for name in variants}
    for start in range(0, blocks * block, block):
        for name, (model, optimizer) in variants.items():
            total = 0.0
            for i in range(start, start + block):
                batch = batches[i % len(batches)]
                total += float(one_step(model, optimizer, batch, "sst", precision, device).sum())
            per_block[name].append(total / block)
    out: dict[str, Any] = {
        "precision": precision,
        "blocks": blocks,
        "steps_per_block": block,
        "variants": {n: {"step_s": float(np.mean(b)), "blocks_s": b} for n, b in per_block.items()},
        "compile_s": warm["compiled"] - warm["plain"],
        "warmup_s": warm,
    }
    ratio = [c / p for c, p in zip(per_block["compiled"], per_block["pack"], strict=True)]
    out["compiled_over_pack"] = ratio
    out["pack_beats_compile"] = min(ratio) >= KEEP
    gains: dict[str, dict[str, list[float]]] = {}
    for name in rewrites:
        for step, prefix in (("lora", ""), ("dora", "dora_")):
            without = per_block.get(f"{prefix}pack_without_{name}")
            if without is not None:
                pack = per_block[f"{prefix}pack"]
                gains.setdefault(name, {})[step] = [
                    w / p for w, p in zip(without, pack, strict=True)
                ]
    out["rewrite_gain"] = gains
    out["rewrite_keeps"] = {
        n: max(float(np.mean(g)) for g in by_step.values()) >= KEEP for n, by_step in gains.items()
    }
    return out
