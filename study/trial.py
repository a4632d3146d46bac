"""The trial: a pure function `run_trial(config, report) -> metrics`. No Ray, no Optuna.

Loop (paper Sec. 4.1.2): epochs > tasks in config.task_order > batches. In single_task mode
each task steps its own adapter and head; in sequential mode all tasks step one model.
One AdamW holds every parameter, so its state is kept across tasks.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.adapters import share_frozen_weights, store_frozen_linears_in, trained_layer_names
from model.autocast_inputs import keep_activations_in_autocast_dtype
from model.checkpoint import save_trial
from model.encoder import load_encoder, load_tokenizer, weights_sha256
from model.fused_qkv import fuse_qkv_lora
from model.heads import task_loss
from model.multitask import MultiTaskBert, build_model, parameter_counts
from model.prepacked_linear import prepack_frozen_linears
from study.batching import Encoded, collate, micro_batches, training_batches
from study.config import TrialConfig
from study.dataset import task_data
from study.errors import NonFiniteLossError, TrialStopped
from study.evaluate import evaluate
from study.fast_dropout import route_attention, use_fast_dropout
from study.hardware import (
    autocast,
    gpu_name,
    pick_device,
    resolve_precision,
    set_threads,
    thread_nice,
)
from study.memory import (
    limit_heap_growth,
    peak_gpu_mb,
    peak_rss_mb,
    release_free_memory,
    start_trial_memory,
)

Report = Callable[[dict[str, Any]], None]
EVAL_BATCH = 64


def make_optimizer(model: MultiTaskBert, config: TrialConfig) -> torch.optim.Optimizer:
    """AdamW with two groups: encoder/adapters at config.learning_rate, heads at head_lr.

    fused=True: one kernel per step instead of a Python loop over parameters (full fine-tuning
    of MiniLM on this CPU: 14 ms instead of 72 ms per step; `study bench` measures it).
    """
    encoder_params = [p for p in model.encoders.parameters() if p.requires_grad]
    head_params = [p for p in model.heads.parameters() if p.requires_grad]
    return torch.optim.AdamW(
        [
            {"params": encoder_params, "lr": config.learning_rate},
            {"params": head_params, "lr": config.head_lr},
        ],
        weight_decay=config.weight_decay,
        fused=True,
    )


def build_trial_model(
    config: TrialConfig, device: torch.device, precision: str = "fp32", fast_dropout: bool = True
) -> MultiTaskBert:
    """The model a trial trains at `precision` (fp32 | bf16), on `device`. In bf16 its frozen
    linear weights are stored in bf16 (model/adapters.py) and its activations, the residual
    stream included, stay bf16 (model/autocast_inputs.py); on CPU oneDNN reorders those weights
    once (model/prepacked_linear.py). On CPU its dropouts draw masks from
    study/fast_dropout.py (4-7x cheaper than torch's; `study bench` compares both)."""
    model = build_model(config, load_encoder(config.model_path)).to(device)
    if precision == "bf16":
        for encoder in model.encoders.values():
            store_frozen_linears_in(encoder, torch.bfloat16)
        keep_activations_in_autocast_dtype(model)
    share_frozen_weights(list(model.encoders.values()))  # one frozen base for 3 task adapters
    if precision == "bf16" and device.type == "cpu":
        prepack_frozen_linears(model)  # after sharing: the three encoders share one copy
        fuse_qkv_lora(model)  # LoRA query/key/value as one product (model/fused_qkv.py)
    if fast_dropout and device.type == "cpu":
        use_fast_dropout(model)
    elif device.type == "cuda":
        route_attention(model)  # SDPA without cuDNN's per-shape plans (study/fast_dropout.py)
    return model


def run_trial(
    config: TrialConfig,
    report: Report | None = None,
    run_dir: str | Path | None = None,
    progress: bool = False,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Train and evaluate one config; call report(metrics) after every epoch; return final metrics.

    Every report carries epoch, sst, para, sts, overall, the training losses and the parameter
    counts; the last one (final=True) also carries everything the returned dict holds.

    Deterministic on CPU for a given config (seed, data_seed) and thread count. Setting `stop`
    from another thread ends the trial before its next step (raises TrialStopped).
    """
    start_trial_memory()  # a reused worker: each trial's own peak RSS
    t_start, cpu_start, started_unix = time.perf_counter(), time.process_time(), time.time()
    set_threads(config.threads)
    torch.manual_seed(config.seed)
    device = pick_device()
    precision = resolve_precision(config.precision, device)
    model_sha = weights_sha256(config.model_path)
    tokenizer = load_tokenizer(config.model_path)
    t_data = time.perf_counter()
    train = task_data(config, "train", tokenizer, model_sha)
    dev = task_data(config, "dev", tokenizer, model_sha)
    t_data = time.perf_counter() - t_data
    model = build_trial_model(config, device, precision)
    optimizer = make_optimizer(model, config)
    rng = np.random.default_rng(config.seed)
    history: list[dict[str, Any]] = []
    # setup: everything before the first step (tokenize, a part of it: data files + tokens);
    # data: batch padding + copies; train: forward, backward, optimizer step.
    timing = {
        "setup": time.perf_counter() - t_start,
        "tokenize": t_data,
        "data": 0.0,
        "train": 0.0,
        "eval": 0.0,
        "save": 0.0,
    }
    train_loss: dict[str, float] = {}

    counts = parameter_counts(model)
    for epoch in range(1, config.epochs + 1):
        for task in config.task_order:
            train_loss[task] = _train_task(
                model,
                optimizer,
                train[task],
                config,
                epoch,
                rng,
                device,
                precision,
                progress,
                timing,
                stop,
            )
        t0 = time.perf_counter()
        scores = evaluate(model, dev, EVAL_BATCH, autocast(precision, device))
        timing["eval"] += time.perf_counter() - t0
        row = {"epoch": epoch, **scores, **{f"loss_{t}": v for t, v in train_loss.items()}}
        history.append(row)
        if progress:
            print(_scores_line(row), file=sys.stderr)
        if epoch < config.epochs and report is not None:
            report({**row, **counts, "final": False})

    # Save before the last report, so a scheduler may stop the trial at its last epoch safely.
    if run_dir is not None:
        t0 = time.perf_counter()
        meta = {
            "model_sha256": model_sha,
            "dev": history[-1],
            "precision": precision,
            "device": device.type,
        }
        save_trial(model, config, run_dir, meta)
        timing["save"] = time.perf_counter() - t0
    final = {
        **history[-1],
        **counts,
        "final": True,
        "seconds": time.perf_counter() - t_start,
        "started_unix": started_unix,  # wall clock: which trials ran at the same time
        "ended_unix": time.time(),
        "cpu_seconds": time.process_time() - cpu_start,  # all threads of this process
        "nice": thread_nice(),  # the training thread's priority (a Ray worker's too)
        "epochs_run": len(history),
        "history": history,
        "precision": precision,
        "device": device.type,
        "model_sha256": model_sha,
        "trained_params": trained_layer_names(model.encoder_for("sst")),
        "time_split": {k: round(v, 3) for k, v in timing.items()},
        "train_examples": {t: len(e) for t, e in train.items()},
        "dev_examples": {t: len(e) for t, e in dev.items()},
        "adapter_dir": str(Path(run_dir).resolve()) if run_dir is not None else None,
        "peak_rss_mb": peak_rss_mb(),
        "peak_gpu_mb": peak_gpu_mb(),
        "gpu": gpu_name(device),
    }
    if report is not None:
        report(dict(final))
    return final


def _train_task(
    model: MultiTaskBert,
    optimizer: torch.optim.Optimizer,
    data: Encoded,
    config: TrialConfig,
    epoch: int,
    rng: np.random.Generator,
    device: torch.device,
    precision: str,
    progress: bool,
    timing: dict[str, float],
    stop: threading.Event | None = None,
) -> float:
    """One pass over one task's batches; returns the mean training loss.

    On CUDA the batch is the only host-to-device copy per step: losses stay on the device and
    are checked for NaN/inf once per pass (the error still names the first bad step).
    """
    limit_heap_growth()
    model.train()
    task = data.task
    on_cpu = device.type == "cpu"
    losses: list[torch.Tensor | float] = []
    batches = training_batches(data.lengths(), config.batch_size, rng)
    bar = _bar(batches, f"epoch {epoch}/{config.epochs} {task}", progress)
    for step, index in enumerate(bar, start=1):
        if stop is not None and stop.is_set():
            raise TrialStopped(f"stopped in task {task}, epoch {epoch}, step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss = torch.zeros((), device=device)
        for part in micro_batches(data, index, config.max_batch_tokens):
            t0 = time.perf_counter()
            batch = collate(data, part)
            if not on_cpu:
                batch = {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
            t1 = time.perf_counter()
            with autocast(precision, device):
                part_loss = task_loss(task, model(task, batch), batch["labels"])
            part_loss = _inject(config.inject_fault, part_loss) * (len(part) / len(index))
            if on_cpu and not torch.isfinite(part_loss):
                raise _non_finite(part_loss.item(), task, epoch, step)
            part_loss.backward()
            loss += part_loss.detach()
            timing["data"] += t1 - t0
            timing["train"] += time.perf_counter() - t1
        t1 = time.perf_counter()
        optimizer.step()
        losses.append(loss.item() if on_cpu else loss)
        timing["train"] += time.perf_counter() - t1
        if progress:
            recent = [float(v) for v in losses[-20:]]
            bar.set_postfix(loss=f"{np.mean(recent):.3f}")
    release_free_memory()
    if not on_cpu:
        t0 = time.perf_counter()
        values = torch.stack(losses).float().cpu().numpy()  # the pass's one device-to-host copy
        bad = np.flatnonzero(~np.isfinite(values))
        timing["train"] += time.perf_counter() - t0
        if len(bad):
            raise _non_finite(float(values[bad[0]]), task, epoch, int(bad[0]) + 1)
        return float(np.mean(values))
    return float(np.mean(losses))


def _non_finite(value: float, task: str, epoch: int, step: int) -> NonFiniteLossError:
    return NonFiniteLossError(
        f"non-finite loss ({value}) in task {task}, epoch {epoch}, step {step}"
    )


def _inject(fault: str, loss: torch.Tensor) -> torch.Tensor:
    """Testing hook (config.inject_fault): a NaN loss or an exception on the first step."""
    if fault == "nan":
        return loss * math.nan
    if fault == "raise":
        raise RuntimeError("injected fault (inject_fault=raise)")
    return loss


def _bar(items: list, desc: str, enabled: bool):  # noqa: ANN202
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)


def _scores_line(row: dict[str, Any]) -> str:
    return (
        f"epoch {row['epoch']}: sst {row['sst']:.3f}  para {row['para']:.3f}  "
        f"sts {row['sts']:.3f}  overall {row['overall']:.3f}"
    )
