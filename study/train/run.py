"""The trial: a pure function `run_trial(config, report) -> TrialRecord`. No Ray, no Optuna.

Loop (paper Sec. 4.1.2): epochs > tasks in config.task_order > batches. In single_task mode
each task steps its own adapter and head; in sequential mode all tasks step one model. After
every epoch the validation split is scored (what selection reads); after the last, dev too
(what the tables report).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from model.accel import accelerate
from model.adapters import (
    adalora_drop_pruned_ranks,
    adalora_final_params,
    share_frozen_weights,
    stored_parameter_count,
    trained_layer_names,
)
from model.encoder import load_encoder, load_tokenizer, weights_sha256
from model.multitask import SHARED, MultiTaskBert, build_model, parameter_counts
from model.peft_configs import MUTATING_INITS
from study.config import TrialConfig
from study.data.splits import task_data
from study.metrics import METRICS
from study.records import EpochScores, TrialRecord
from study.train.baseline import calibrate
from study.train.checkpoint import save_trial
from study.train.device import (
    autocast,
    gpu_name,
    pick_device,
    resolve_precision,
    set_threads,
    thread_nice,
)
from study.train.evaluate import evaluate
from study.train.loop import make_optimizer, train_task
from study.train.memory import peak_gpu_mb, peak_rss_mb, start_trial_memory

Report = Callable[[TrialRecord], None]


def optimizer_steps(config: TrialConfig, rows: dict[str, int]) -> dict[str, int]:
    """Optimizer steps each encoder takes (AdaLoRA's clock): epochs x batches of its tasks."""
    batches = {t: -(-n // config.batch_size) for t, n in rows.items()}
    if config.mode == "single_task":
        return {t: config.epochs * b for t, b in batches.items()}
    return {SHARED: config.epochs * sum(batches.values())}


def build_trial_model(
    config: TrialConfig,
    device: torch.device,
    precision: str = "fp32",
    skip: Iterable[str] = (),
    steps: dict[str, int] | None = None,
) -> MultiTaskBert:
    """The model a trial trains at `precision` (fp32 | bf16), on `device`: built from the
    config, the tasks' frozen base weights shared, and (config.accelerate) the speed-up pack
    applied but for the rewrites in `skip`. `steps`: optimizer_steps (AdaLoRA's schedule)."""
    calibration = None
    if config.pair_head == "cosine":  # the heads start at the floor (baseline.calibrate)
        fit = calibrate(config)
        calibration = {"para_scale": fit.para_scale, "para_shift": fit.para_shift}
        calibration |= {"sts_alpha": fit.sts_alpha, "sts_beta": fit.sts_beta}
    spec = config.model_spec(calibration, steps)
    model = build_model(spec, load_encoder(config.model_path)).to(device)
    share_frozen_weights(list(model.encoders.values()))  # one frozen base for 3 task adapters
    if config.accelerate:
        accelerate(model, device, precision, skip)
    return model


def run_trial(
    config: TrialConfig,
    report: Report | None = None,
    run_dir: str | Path | None = None,
    progress: bool = False,
    stop: threading.Event | None = None,
) -> TrialRecord:
    """Train and evaluate one config; report(record) after every epoch; return the final record.

    Each report carries the scores and history so far; the last one (final=True) is the
    returned record. Deterministic on CPU for a given config (seed, data_seed) and thread
    count. Setting `stop` from another thread ends the trial before its next step (raises
    TrialStopped).
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
    val = task_data(config, "val", tokenizer, model_sha) if config.val_per_task else None
    dev = task_data(config, "dev", tokenizer, model_sha)
    t_data = time.perf_counter() - t_data
    steps = optimizer_steps(config, {t: len(e) for t, e in train.items()})
    model = build_trial_model(config, device, precision, steps=steps)
    optimizer = make_optimizer(model, config)
    rng = np.random.default_rng(config.seed)
    # setup: everything before the first step (tokenize, a part of it: data files + tokens);
    # data: batch padding + copies; train: forward, backward, optimizer step.
    timing = {"setup": time.perf_counter() - t_start, "tokenize": t_data}
    timing |= {"data": 0.0, "train": 0.0, "eval": 0.0, "save": 0.0}
    record = TrialRecord(
        config=config.to_dict(),
        **parameter_counts(model),
        precision=precision,
        device=device.type,
        gpu=gpu_name(device),
        model_sha256=model_sha,
        trained_params=tuple(trained_layer_names(model.encoder_for("sst"))),
        stored_params=stored_parameter_count(model.encoder_for("sst")),
        optimizer_steps=steps,
        train_examples={t: len(e) for t, e in train.items()},
        val_examples={t: len(e) for t, e in (val or {}).items()},
        dev_examples={t: len(e) for t, e in dev.items()},
        started_unix=started_unix,  # wall clock: which trials ran at the same time
    )
    for epoch in range(1, config.epochs + 1):
        losses = {
            task: train_task(
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
            for task in config.task_order
        }
        last = epoch == config.epochs
        if last:  # AdaLoRA's trained ranks are final: score the shapes that will be saved
            for encoder in model.encoders.values():
                adalora_drop_pruned_ranks(encoder)
        t0 = time.perf_counter()
        ac = autocast(precision, device)
        checked = (
            {f"val_{k}": v for k, v in evaluate(model, val, autocast=ac).items()} if val else {}
        )
        scores = evaluate(model, dev, autocast=ac) if last or not val else {}  # val selects
        timing["eval"] += time.perf_counter() - t0
        scored = EpochScores(epoch, **scores, **checked, losses=losses)
        history = (*record.history, scored)
        record = record.replace(**scores, **checked, history=history, epochs_run=epoch)
        if progress:
            print(_scores_line(scored), file=sys.stderr)
        if epoch < config.epochs and report is not None:
            report(record)

    # Save before the last report, so a scheduler may stop the trial at its last epoch safely.
    if run_dir is not None:
        t0 = time.perf_counter()
        meta = {"model_sha256": model_sha, "dev": scores, "precision": precision}
        save_trial(model, config, run_dir, meta | {"device": device.type})
        if config.init in MUTATING_INITS:  # dev scores what was shipped (_shipped_scores)
            scores = _shipped_scores(config, run_dir, device, precision, dev)
            history = (*record.history[:-1], dataclasses.replace(record.history[-1], **scores))
            record = record.replace(**scores, history=history)
            meta = meta | {"dev": scores}
            save_trial(model, config, run_dir, meta | {"device": device.type})
        timing["save"] = time.perf_counter() - t0
    record = record.replace(
        final=True,
        adapter_params_final=_final_adapter_params(model),
        seconds=time.perf_counter() - t_start,
        ended_unix=time.time(),
        cpu_seconds=time.process_time() - cpu_start,  # all threads of this process
        nice=thread_nice(),  # the training thread's priority (a Ray worker's too)
        time_split={k: round(v, 3) for k, v in timing.items()},
        adapter_dir=str(Path(run_dir).resolve()) if run_dir is not None else None,
        peak_rss_mb=peak_rss_mb(),
        peak_gpu_mb=peak_gpu_mb(),
    )
    if report is not None:
        report(record)
    return record


def _shipped_scores(config, run_dir, device, precision, dev):  # noqa: ANN001, ANN202
    """PiSSA/OLoRA train on W_res = W - B0 A0 but ship a LoRA of rank 2r on W itself: the
    same function, whose bf16 rounding differs. Dev is scored on the saved folder, loaded as
    `predict` loads it, so the recorded metrics are the shipped adapter's, every digit."""
    from study.train.checkpoint import load_trial

    _, shipped = load_trial(run_dir)
    shipped.to(device)
    if config.accelerate:
        accelerate(shipped, device, precision)
    return evaluate(shipped, dev, autocast=autocast(precision, device))


def _final_adapter_params(model: MultiTaskBert) -> int | None:
    """AdaLoRA: one task's adapter size after its budget pruned the ranks (mean over
    encoders); None for every other method."""
    counts = [adalora_final_params(e) for e in model.encoders.values()]
    if not counts or any(c is None for c in counts):
        return None
    return round(sum(counts) / len(counts))


def _scores_line(scores: EpochScores) -> str:
    parts = [f"epoch {scores.epoch}:"]
    for name, prefix in (("val", "val_"), ("dev", "")):
        values = [getattr(scores, f"{prefix}{m}") for m in METRICS]
        if values[0] is not None:
            parts.append(f"{name} sst {values[0]:.3f} para {values[1]:.3f} sts {values[2]:.3f} ")
            parts.append(f"overall {values[3]:.3f} ")
    return " ".join(parts).rstrip()
