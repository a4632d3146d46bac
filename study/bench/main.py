"""`python -m study bench [--json FILE] [--quick] [--asha DIR]`: where a trial's time goes.

One process measures, on the same batches and data: the GEMM peak; step time, tokens/s and
achieved FLOP/s of full fine-tuning, LoRA and DoRA in fp32 and bf16 (study/bench/steps.py);
the padding efficiency of our batcher (padding.py); one trial in fp32 and in bf16 (the
default precision's evidence), its time split and peak RSS (trials.py); the same trial
under Ray Tune (ray_trials.py); Hugging Face Trainer + peft against our loop (peer.py).
--quick takes fewer steps, a smaller trial, and skips Ray and the Trainer.
--asha DIR only reports what early stopping saved in a study folder (asha.py).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study.bench.host import host_meta
from study.bench.report import print_report
from study.options import BenchOptions

# runs of the trial under Ray Tune: the first pays the study's start, the rest reuse its worker
RAY_SAMPLES = 5
RAY_TARGET_MIN_CORES = 4  # the Ray target is judged on hosts with at least this many cores

TARGETS = {  # name: (comparison, threshold); what each means is in print_report's legend
    "throughput_over_trainer_grouped": (">=", 2.0),
    "padding_efficiency": (">=", 0.95),
    "flops_peak_fraction": (">=", 0.5),
    "full_over_lora_step": (">=", 1.3),
    "dora_over_lora_step": ("<=", 1.2),
    "ray_overhead_pct": ("<=", 5.0),
    "peak_rss_mb": ("<=", 2048.0),
    "fp32_bf16_max_abs_diff": ("<=", 0.01),
}


def run(options: BenchOptions) -> int:
    json_path, asha_dir = options.json, options.asha
    if asha_dir:
        from study.bench.asha import study_asha_savings

        result: dict[str, Any] = {"asha": study_asha_savings(asha_dir)}
    else:

        def checkpoint(partial: dict[str, Any]) -> None:  # a killed run keeps what it measured
            if json_path:
                _write_json(Path(json_path), partial)

        result = measure(options.quick, checkpoint)
    print_report(result)
    if json_path:
        _write_json(Path(json_path), result)
        print(f"wrote {json_path}")
    return 0


@dataclass(frozen=True)
class _Setting:
    """What every part of one benchmark measures on: the device and its precisions, the cpu
    scale's config and its SST training rows (the same batches for every step timing)."""

    quick: bool
    device: Any  # torch.device
    precisions: tuple[str, ...]
    default_precision: str
    base: Any  # TrialConfig at the cpu scale
    train: dict[str, Any]  # task -> Encoded training rows


def measure(quick: bool, checkpoint: Any = None) -> dict[str, Any]:
    """Every measurement of the benchmark, in one dict (the JSON file's content).

    checkpoint(result) is called after each part with what is measured so far
    (meta.complete is False until the end)."""
    save = checkpoint or (lambda partial: None)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from study.bench.flops import gemm_peak
    from study.bench.padding import padding_table

    t_start = time.perf_counter()
    setting = _setting(quick)
    result: dict[str, Any] = {"meta": _meta(setting)}
    _say(f"GEMM peak ({setting.device.type}; {', '.join(setting.precisions)})")
    result["gemm"] = gemm_peak(quick, setting.device, setting.precisions)
    _say("padding efficiency")
    tokenizer = _tokenizer(setting.base)
    result["padding"] = padding_table(setting.base, tokenizer, setting.train)
    save(result)

    _say(f"step times: full, LoRA, DoRA in {' and '.join(setting.precisions)}")
    result["steps"], batches = _step_times(setting, result["gemm"])
    save(result)
    if not quick:
        from study.bench.compiled import compile_vs_pack

        _say(
            f"torch.compile (inductor) against the speed-up pack, LoRA step, {setting.default_precision}"
        )
        result["compile"] = _guarded(
            compile_vs_pack, setting.base, batches, setting.default_precision, setting.device
        )
        save(result)

    with tempfile.TemporaryDirectory(prefix="peft-bench-ray-") as tmp:
        _trial_parts(setting, None if quick else Path(tmp) / "smoke", result, save)
    result["targets"] = targets(result)
    result["meta"]["wall_s"] = time.perf_counter() - t_start
    result["meta"]["load_average_after"] = os.getloadavg()
    result["meta"]["complete"] = True
    return result


def _setting(quick: bool) -> _Setting:
    from model.encoder import weights_sha256
    from study.bench.steps import measured_precisions
    from study.data.splits import task_data
    from study.scales import scale_config
    from study.train.device import pick_device, resolve_precision

    device = pick_device()
    base = scale_config("cpu")
    train = task_data(base, "train", _tokenizer(base), weights_sha256(base.model_path))
    return _Setting(
        quick=quick,
        device=device,
        precisions=tuple(measured_precisions(device)),
        default_precision=resolve_precision("auto", device),
        base=base,
        train=train,
    )


def _tokenizer(base: Any) -> Any:
    from model.encoder import load_tokenizer

    return load_tokenizer(base.model_path)


def _meta(setting: _Setting) -> dict[str, Any]:
    from study.train.device import cpu_has_fast_bf16, gpu_name

    return {
        **host_meta(setting.quick),
        "complete": False,
        "skipped": ["ray", "peer"] if setting.quick else [],
        "default_precision": setting.default_precision,
        "cpu_fast_bf16": cpu_has_fast_bf16(),
        "device": setting.device.type,
        "gpu": gpu_name(setting.device),
        "precisions": list(setting.precisions),
    }


def _step_times(setting: _Setting, gemm: dict[str, Any]) -> tuple[dict[str, Any], list]:
    """Step times of full, LoRA and DoRA on the same SST batches (steps.py), their ratios, and
    the batches (torch.compile's part times the same ones)."""
    import torch

    from study.bench.steps import bench_batches, method_steps, step_ratios

    base, default = setting.base, setting.default_precision
    count, warmup = (3, 1) if setting.quick else (12, 2)
    if setting.device.type == "cuda":  # one untimed pass over every batch: cuBLAS picks kernels
        warmup = count
    batches = bench_batches(setting.train["sst"], base.batch_size, count)
    steps = method_steps(
        base, batches, gemm, warmup, default, setting.device, precisions=setting.precisions
    )
    fixed = steps.pop("lora_qkv_r16_fixed_128")[default]
    slow = {  # absent on CUDA: the fast dropout is CPU-only
        m: steps.pop(f"{m}_torch_dropout")[default]
        for m in ("full", "lora_qkv_r16")
        if f"{m}_torch_dropout" in steps
    }
    out = {
        "task": "sst",
        "batches": len(batches),
        "warmup": warmup,
        "batch_size": base.batch_size,
        "mean_padded_tokens": sum(b["input_ids"].numel() for b in batches) / len(batches),
        "threads": torch.get_num_threads(),
        "methods": steps,
        "ratios": step_ratios(steps),
        "lora_fixed_128": {"precision": default, **fixed},
    }
    if slow:
        out["torch_dropout"] = {
            "precision": default,
            "methods": slow,
            "full_over_lora": slow["full"]["step_s"] / slow["lora_qkv_r16"]["step_s"],
        }
    return out, batches


def _trial_parts(setting: _Setting, smoke_dir: Path | None, out: dict[str, Any], save: Any) -> None:
    """Into `out`: one trial in each precision, a fresh process each (trials.py); without
    --quick (smoke_dir set) also the peak RSS of the largest trials, the Trainer against our
    loop (peer.py) and the trial under Ray Tune (ray_trials.py), in a smoke study at smoke_dir.
    save(out) after each part."""
    from study.bench.trials import (
        child_trial,
        first_trial_config,
        precision_pair,
        quick_config,
        smoke_plan,
        time_split_shares,
    )
    from study.scales import scale_config

    default, precisions = setting.default_precision, setting.precisions
    plan = smoke_plan(smoke_dir, "cpu") if smoke_dir is not None else None
    config = quick_config() if plan is None else first_trial_config(plan)
    _say(f"one trial ({config.scale} scale) in {' and '.join(precisions)}, a fresh process each")
    pair = precision_pair(config, precisions)
    trial = {**time_split_shares(pair[default]), "precision": default}
    out |= {"precision": pair, "trial": trial | {"config": config.to_dict()}}
    out["memory"] = {
        "peak_rss_mb": {p: pair[p]["peak_rss_mb"] for p in precisions},
        "trial_scale": config.scale,
    }
    save(out)
    if plan is None:
        return
    _say("peak RSS of a full fine-tuning trial (smoke scale, single_task)")
    full = scale_config("smoke").replace(method="full", precision=default)
    out["memory"]["full_smoke_peak_rss_mb"] = child_trial(full)["peak_rss_mb"]
    _say("peak RSS of the largest adapters (cpu scale, single_task, one epoch)")
    big = {"lora_all_linear_r64": ("lora", "all_linear", 64), "dora_qkv_r16": ("dora", "qkv", 16)}
    out["memory"]["largest_peak_rss_mb"] = {
        name: child_trial(config.replace(method=m, targets=t, r=r, epochs=1, precision=default))[
            "peak_rss_mb"
        ]
        for name, (m, t, r) in big.items()
    }
    _say("Hugging Face Trainer + peft against our loop (SST, LoRA qkv r=16)")
    from study.bench.peer import peer_table

    out["peer"] = _guarded(peer_table, setting.base, setting.train["sst"], default, precisions)
    save(out)
    _say(
        f"the same trial {RAY_SAMPLES} times under Ray Tune (study smoke, one worker), "
        "each followed by a run in a warm plain process while Ray's processes are stopped"
    )
    from study.bench.ray_trials import ray_trials

    out["ray"] = _guarded(ray_trials, plan.study_dir, "cpu", RAY_SAMPLES)


def targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target's measured value (None where skipped) and whether it is met."""
    p = result["meta"]["default_precision"]
    steps = result["steps"]
    peer, ray = result.get("peer"), result.get("ray")
    peer = None if peer is None or "error" in peer else peer
    ray = None if ray is None or "error" in ray else ray
    values = {
        "throughput_over_trainer_grouped": peer["ours_over_trainer_grouped_fp32"] if peer else None,
        "padding_efficiency": min(result["padding"][t]["ours"] for t in ("sst", "para")),
        "flops_peak_fraction": _paired_or_start(steps["methods"]["lora_qkv_r16"][p]),
        "full_over_lora_step": steps["ratios"][p]["full_over_lora"],
        "dora_over_lora_step": steps["ratios"][p]["dora_over_lora"],
        "ray_overhead_pct": ray["mean_overhead_pct"] if ray else None,
        "peak_rss_mb": max(
            [*result["memory"]["peak_rss_mb"].values()]
            + [*result["memory"].get("largest_peak_rss_mb", {}).values()]
        ),
        "fp32_bf16_max_abs_diff": result["precision"]["max_abs_diff"],
    }
    out = {}
    cores = result["meta"].get("cores") or 0
    for name, (op, threshold) in TARGETS.items():
        value = values[name]
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        if name == "ray_overhead_pct" and cores < RAY_TARGET_MIN_CORES:
            met = None  # on fewer cores Ray's daemons share the trial's: reported, not judged
        out[name] = {"value": value, "target": f"{op} {threshold}", "met": met}
    return out


def _paired_or_start(row: dict[str, float]) -> float:
    """Achieved / peak FLOP/s against the peak read beside the LoRA blocks (bench_steps), else
    against the run's opening peak (a quick or older run)."""
    return row.get("paired_peak_fraction", row["peak_fraction"])


def _guarded(fn: Any, *args: Any) -> dict[str, Any]:
    """fn(*args), or {"error": message} when an outside system (Ray, the Trainer) fails."""
    try:
        return fn(*args)
    except Exception as err:  # noqa: BLE001 - reported in the table and the JSON
        _say(f"failed: {type(err).__name__}: {err}")
        return {"error": f"{type(err).__name__}: {err}"}


def _say(text: str) -> None:
    print(f"[bench] {text} ...", file=sys.stderr, flush=True)


def _write_json(path: Path, result: dict[str, Any]) -> None:
    from study.atomic import write_json_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, json.loads(json.dumps(result, default=_plain)))


def _plain(value: Any) -> Any:
    """numpy scalars and tuples as plain JSON values."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
