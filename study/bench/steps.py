"""Step time, tokens/s and achieved FLOP/s of full fine-tuning, LoRA and DoRA on the same batches.

FLOP counts and the GEMM peak: study/bench/flops.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from study.bench.flops import CPU, DTYPES, PRECISIONS, gemm_gflops, step_flops, sync
from study.config import TrialConfig
from study.data.batching import Encoded, collate, training_batches
from study.train.device import autocast

# (name, config changes): the four adapters the issue compares
METHODS = (
    ("full", {"method": "full"}),
    ("lora_qkv_r16", {"method": "lora", "targets": "qkv", "r": 16}),
    ("lora_all_linear_r64", {"method": "lora", "targets": "all_linear", "r": 64}),
    ("dora_qkv_r16", {"method": "dora", "targets": "qkv", "r": 16}),
)


def measured_precisions(device: torch.device) -> tuple[str, ...]:
    """fp32, and bf16 where it can be the default (CUDA, or a CPU with fast bf16): elsewhere
    bf16 is emulated, many times slower, and never chosen."""
    from study.train.device import cpu_has_fast_bf16

    return PRECISIONS if device.type == "cuda" or cpu_has_fast_bf16() else ("fp32",)


# the order the timed blocks run in, per precision: each target's pair side by side
_ADJACENT = {"full": 0, "lora_qkv_r16": 1, "dora_qkv_r16": 2, "lora_all_linear_r64": 3}


def bench_batches(data: Encoded, batch_size: int, count: int) -> list[dict[str, torch.Tensor]]:
    """`count` of our training batches (seed 0), collated once: the same inputs for every method."""
    batches = training_batches(data.lengths(), batch_size, np.random.default_rng(0))
    return [collate(data, index) for index in batches[:count]]


def pad_to(batch: dict[str, torch.Tensor], width: int) -> dict[str, torch.Tensor]:
    """The batch right-padded to `width` tokens (what fixed-length padding costs)."""
    out = dict(batch)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        t = batch[key]
        out[key] = torch.nn.functional.pad(t, (0, width - t.shape[1]))
    return out


def one_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    task: str,
    precision: str,
    device: torch.device = CPU,
) -> np.ndarray:
    """Seconds of forward, backward and optimizer step of one training step (on CUDA each
    part ends with a synchronization, so the split is honest and the sum a little slow)."""
    from model.heads import task_loss

    t0 = time.perf_counter()
    with autocast(precision, device):
        loss = task_loss(task, model(task, batch), batch["labels"])
    sync(device)
    t1 = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    sync(device)
    t2 = time.perf_counter()
    optimizer.step()
    sync(device)
    return np.array([t1 - t0, t2 - t1, time.perf_counter() - t2])


@dataclass
class _Variant:
    """One timed column of the step table: a model at one precision on its inputs."""

    name: str
    precision: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    config: TrialConfig
    inputs: list[dict[str, torch.Tensor]]
    total: np.ndarray = field(default_factory=lambda: np.zeros(3))  # forward, backward, step (s)


def method_steps(
    base: TrialConfig,
    batches: list[dict[str, torch.Tensor]],
    peaks: dict[str, float],
    warmup: int,
    extra_precision: str = "",
    device: torch.device = CPU,
    block: int = 4,
    precisions: tuple[str, ...] = PRECISIONS,
) -> dict[str, dict[str, dict[str, float]]]:
    """{variant: {precision: step_s, tokens_per_s, real_tokens_per_s, gflops, peak_fraction, ...}}.

    Every variant gets its steps on batches i..i+block-1 before any gets the next block (round
    robin over blocks), so a slow spell of this shared machine falls on all of them alike. The
    models are built as trials build them (study.train.run.build_trial_model: the speed-up
    pack on). With extra_precision, at that precision: LoRA qkv r=16 on the same batches padded to
    128 tokens ("lora_qkv_r16_fixed_128"), and full and LoRA qkv r=16 with torch's own dropout
    ("<name>_torch_dropout", what the fast dropout saves; CPU only, where the fast dropout is
    used), and the GEMM peak read again right before each of LoRA's blocks at that precision
    ("paired_peak_gflops", its mean, and "paired_peak_fraction"). `batches` (on the CPU) are
    moved to `device` once, before any timing."""
    from study.train.loop import make_optimizer
    from study.train.run import build_trial_model

    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
    variants: list[_Variant] = []
    for name, changes in METHODS:
        config = base.replace(mode="sequential", **changes)
        plan = [(name, p, True, batches) for p in precisions]  # (variant, precision, fast, inputs)
        if extra_precision and name == "lora_qkv_r16":
            wide = [pad_to(b, 128) for b in batches]
            plan.append((f"{name}_fixed_128", extra_precision, True, wide))
        if extra_precision and name in ("full", "lora_qkv_r16") and device.type == "cpu":
            plan.append((f"{name}_torch_dropout", extra_precision, False, batches))
        models: dict[tuple[bool, str], tuple] = {}  # one model per dropout kind and precision
        for variant, precision, fast, inputs in plan:
            if (fast, precision) not in models:
                torch.manual_seed(0)
                skip = () if fast else ("fast_dropout",)
                model = build_trial_model(config, device, precision, skip)
                models[fast, precision] = (model, make_optimizer(model, config))
            variants.append(_Variant(variant, precision, *models[fast, precision], config, inputs))

    for i in range(warmup):  # untimed: kernels chosen, caches and allocator warm
        for v in variants:
            v.model.train()
            one_step(v.model, v.optimizer, v.inputs[i % len(v.inputs)], "sst", v.precision, device)
    # Timed in blocks of consecutive steps, as a trial runs them: one step per turn starts every
    # step on caches the previous variant swept (full fine-tuning's optimizer step sweeps ~270
    # MB; ~6% on the LoRA step here). The variants a target compares run next to each other.
    turns = sorted(
        variants, key=lambda v: (v.name not in _ADJACENT, v.precision, _ADJACENT.get(v.name, 0))
    )
    paired: list[float] = []  # GEMM peak read right before each LoRA block at extra_precision
    for start in range(0, len(batches), block):
        for v in turns:
            if v.name == "lora_qkv_r16" and v.precision == extra_precision and "size" in peaks:
                size, dtype = peaks["size"], DTYPES[v.precision]
                paired.append(gemm_gflops(dtype, size, size, size, 0.25, device))
            v.model.train()
            for i in range(start, min(start + block, len(batches))):
                v.total += one_step(v.model, v.optimizer, v.inputs[i], "sst", v.precision, device)

    out: dict[str, dict[str, dict[str, float]]] = {}
    for v in variants:
        encoder, n = v.model.encoder_for("sst"), len(v.inputs)
        shapes = [tuple(b["input_ids"].shape) for b in v.inputs]
        flops = sum(step_flops(v.config.method, encoder, v.config, s) for s in shapes) / n
        sizes = (
            sum(b["input_ids"].numel() for b in v.inputs) / n,
            sum(int(b["attention_mask"].sum()) for b in v.inputs) / n,
        )
        parts = dict(
            zip(("forward_s", "backward_s", "optimizer_s"), (v.total / n).tolist(), strict=True)
        )
        out.setdefault(v.name, {})[v.precision] = _row(
            parts, len(v.inputs[0]["labels"]), flops, sizes, peaks[f"{v.precision}_gflops"]
        )
    p = extra_precision
    if paired:  # the same machine state as the LoRA steps: a slow spell lowers both sides
        row = out["lora_qkv_r16"][p]
        row["paired_peak_gflops"] = float(np.mean(paired))
        row["paired_peak_fraction"] = row["gflops"] / row["paired_peak_gflops"]
    if p:
        out["lora_qkv_r16_fixed_128"][p]["over_dynamic"] = (
            out["lora_qkv_r16_fixed_128"][p]["step_s"] / out["lora_qkv_r16"][p]["step_s"]
        )
        for name in ("full", "lora_qkv_r16"):
            if f"{name}_torch_dropout" not in out:
                continue
            slow = out[f"{name}_torch_dropout"][p]
            slow["fast_dropout_speedup"] = slow["step_s"] / out[name][p]["step_s"]
    return out


def _row(
    parts: dict[str, float],
    batch_size: int,
    flops: float,
    sizes: tuple[float, float],
    peak_gflops: float,
) -> dict[str, float]:
    """One variant's timing at one precision (sizes: mean padded and real tokens per batch)."""
    step = sum(parts.values())
    gflops = flops / step / 1e9
    return {
        "step_s": step,
        **parts,
        "tokens_per_s": sizes[0] / step,
        "real_tokens_per_s": sizes[1] / step,
        "samples_per_s": batch_size / step,
        "flops_per_step": flops,
        "gflops": gflops,
        "peak_fraction": gflops / peak_gflops,
    }


def step_ratios(steps: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Step-time ratios per precision, and fp32/bf16 per method."""
    ratios: dict[str, dict[str, float]] = {}
    for p in (p for p in PRECISIONS if p in steps["lora_qkv_r16"]):
        lora = steps["lora_qkv_r16"][p]["step_s"]
        ratios[p] = {
            "full_over_lora": steps["full"][p]["step_s"] / lora,
            "dora_over_lora": steps["dora_qkv_r16"][p]["step_s"] / lora,
            "lora_all_linear_r64_over_lora": steps["lora_all_linear_r64"][p]["step_s"] / lora,
        }
    ratios["fp32_over_bf16"] = {
        m: steps[m]["fp32"]["step_s"] / steps[m]["bf16"]["step_s"]
        for m in steps
        if set(PRECISIONS) <= set(steps[m])
    }
    return ratios
