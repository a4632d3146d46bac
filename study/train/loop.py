"""One pass of training over one task's batches, and the optimizer it steps.

Sequential training (paper Sec. 4.1.2) calls train_task for each task in task_order, once per
epoch, with one AdamW over every parameter, so its state is kept across tasks.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from model.adapters import adalora_after_step, adalora_orth_reg
from model.heads import task_loss
from model.multitask import MultiTaskBert
from study.config import TrialConfig
from study.data.batching import Encoded, collate, micro_batches, training_batches
from study.errors import NonFiniteLossError, TrialStopped
from study.train.device import autocast
from study.train.memory import release_free_memory
from study.train.stats import RunStats


def make_optimizer(model: MultiTaskBert, config: TrialConfig) -> torch.optim.Optimizer:
    """AdamW with two groups: encoder/adapters at config.learning_rate, heads at head_lr.

    fused=True: one kernel per step instead of a Python loop over parameters. LoRA+
    (loraplus_lr_ratio > 0): peft's create_loraplus_optimizer groups the adapters (lora_B at
    ratio x lr), and the heads join as one more group."""
    encoder_params = [p for p in model.encoders.parameters() if p.requires_grad]
    head_params = [p for p in model.heads.parameters() if p.requires_grad]
    if config.loraplus_lr_ratio:
        from peft.optimizers import create_loraplus_optimizer

        optimizer = create_loraplus_optimizer(
            model=model.encoders,
            optimizer_cls=torch.optim.AdamW,
            lr=config.learning_rate,
            loraplus_lr_ratio=config.loraplus_lr_ratio,
            weight_decay=config.weight_decay,
            fused=True,
        )
        optimizer.add_param_group({"params": head_params, "lr": config.head_lr})
        return optimizer
    return torch.optim.AdamW(
        [
            {"params": encoder_params, "lr": config.learning_rate},
            {"params": head_params, "lr": config.head_lr},
        ],
        weight_decay=config.weight_decay,
        fused=True,
    )


@dataclass
class TrainingRun:
    """What every training pass of one trial shares."""

    model: MultiTaskBert
    optimizer: torch.optim.Optimizer
    """One AdamW over every parameter, kept across tasks and epochs (make_optimizer)."""
    config: TrialConfig
    rng: np.random.Generator
    """Draws each pass's batch order; seeded by config.seed, so a trial replays exactly."""
    device: torch.device
    precision: str
    """fp32 | bf16 (resolve_precision): autocast's dtype for the forward pass."""
    stats: RunStats
    """Gains each pass's seconds of data (padding, copies) and train (forward, backward, step)."""
    progress: bool = False
    """A tqdm bar per pass on stderr (`study train`)."""
    stop: threading.Event | None = None
    """Set from another thread to end the trial before its next step (TrialStopped)."""


def train_task(run: TrainingRun, data: Encoded, epoch: int) -> float:
    """One pass over one task's batches; returns the mean training loss.

    On CUDA the batch is the only host-to-device copy per step: losses stay on the device and
    are checked for NaN/inf once per pass (the error still names the first bad step).
    """
    model, config, device, precision = run.model, run.config, run.device, run.precision
    model.train()
    task = data.task
    on_cpu = device.type == "cpu"
    losses: list[torch.Tensor | float] = []
    encoder, key = model.encoder_for(task), model.key_for(task)
    batches = training_batches(data.lengths(), config.batch_size, run.rng)
    bar = _bar(batches, f"epoch {epoch}/{config.epochs} {task}", run.progress)
    for step, index in enumerate(bar, start=1):
        if run.stop is not None and run.stop.is_set():
            raise TrialStopped(f"stopped in task {task}, epoch {epoch}, step {step}")
        run.optimizer.zero_grad(set_to_none=True)
        loss = torch.zeros((), device=device)
        # A long batch runs as micro-batches whose gradients, weighted by their share of the
        # rows, add up to the whole batch's: the same update with a lower memory peak.
        for part in micro_batches(data, index, config.max_batch_tokens):
            t0 = time.perf_counter()
            batch = collate(data, part)
            if not on_cpu:
                batch = {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
            t1 = time.perf_counter()
            with autocast(precision, device):
                part_loss = task_loss(task, model(task, batch), batch["labels"])
                reg = adalora_orth_reg(encoder)  # AdaLoRA keeps P and Q near orthogonal
                part_loss = part_loss if reg is None else part_loss + reg
            part_loss = _inject(config.inject_fault, part_loss) * (len(part) / len(index))
            if on_cpu and not torch.isfinite(part_loss):
                raise _non_finite(part_loss.item(), task, epoch, step)
            part_loss.backward()
            loss += part_loss.detach()
            run.stats.add("data", t1 - t0)
            run.stats.add("train", time.perf_counter() - t1)
        t1 = time.perf_counter()
        run.optimizer.step()
        model.steps[key] += 1
        adalora_after_step(encoder, model.steps[key])  # after step, before zero_grad
        losses.append(loss.item() if on_cpu else loss)
        run.stats.add("train", time.perf_counter() - t1)
        if run.progress:
            recent = [float(v) for v in losses[-20:]]
            bar.set_postfix(loss=f"{np.mean(recent):.3f}")
    release_free_memory()
    if not on_cpu:
        t0 = time.perf_counter()
        values = torch.stack(losses).float().cpu().numpy()  # the pass's one device-to-host copy
        bad = np.flatnonzero(~np.isfinite(values))
        run.stats.add("train", time.perf_counter() - t0)
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


def _bar(items: list, desc: str, enabled: bool):  # noqa: ANN202 - a list or a tqdm bar
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)
