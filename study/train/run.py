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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
from study.data.batching import Encoded
from study.data.splits import task_data
from study.metrics import METRICS
from study.records import EpochScores, TrialRecord
from study.train.baseline import calibrate
from study.train.checkpoint import save_trial
from study.train.device import autocast, gpu_name, pick_device, resolve_precision, set_threads
from study.train.evaluate import evaluate
from study.train.loop import TrainingRun, make_optimizer, train_task
from study.train.stats import RunStats

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
    if config.pair_head_used == "cosine":  # the heads start at the floor (baseline.calibrate)
        fit = calibrate(config)
        calibration = {"para_scale": fit.para_scale, "para_shift": fit.para_shift}
        calibration |= {"sts_alpha": fit.sts_alpha, "sts_beta": fit.sts_beta}
    spec = config.model_spec(calibration, steps)
    model = build_model(spec, load_encoder(config.model_path)).to(device)
    share_frozen_weights(list(model.encoders.values()))  # one frozen base for 3 task adapters
    if config.accelerate:
        accelerate(model, device, precision, skip)
    return model


# The record's time_split, in order. setup: everything before the first step (tokenize, a
# part of it: data files + tokens); data: batch padding + copies; train: forward, backward and
# optimizer step; eval: validation and dev scores; save: the run folder.
PHASES = ("setup", "tokenize", "data", "train", "eval", "save")


@dataclass(frozen=True)
class Splits:
    """A trial's encoded rows per task: train, validation (what selection reads; None when
    val_per_task is 0) and dev (what the tables report)."""

    train: dict[str, Encoded]
    val: dict[str, Encoded] | None
    dev: dict[str, Encoded]


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
    stats = RunStats.start(PHASES)  # a reused worker: each trial's own peak RSS
    run, splits, record = _setup(config, stats, progress, stop)
    record = _train_epochs(run, splits, record, report)
    record = _finish(run, splits, record, run_dir)
    if report is not None:
        report(record)
    return record


def _setup(
    config: TrialConfig, stats: RunStats, progress: bool, stop: threading.Event | None
) -> tuple[TrainingRun, Splits, TrialRecord]:
    """Everything before the first step: data, model, optimizer, and the record's fixed part."""
    set_threads(config.threads)
    torch.manual_seed(config.seed)
    device = pick_device()
    precision = resolve_precision(config.precision, device)
    model_sha = weights_sha256(config.model_path)
    tokenizer = load_tokenizer(config.model_path)
    with stats.phase("tokenize"):
        splits = Splits(
            train=task_data(config, "train", tokenizer, model_sha),
            val=task_data(config, "val", tokenizer, model_sha) if config.val_per_task else None,
            dev=task_data(config, "dev", tokenizer, model_sha),
        )
    steps = optimizer_steps(config, {t: len(e) for t, e in splits.train.items()})
    model = build_trial_model(config, device, precision, steps=steps)
    run = TrainingRun(
        model=model,
        optimizer=make_optimizer(model, config),
        config=config,
        rng=np.random.default_rng(config.seed),
        device=device,
        precision=precision,
        stats=stats,
        progress=progress,
        stop=stop,
    )
    stats.mark_setup()
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
        train_examples={t: len(e) for t, e in splits.train.items()},
        val_examples={t: len(e) for t, e in (splits.val or {}).items()},
        dev_examples={t: len(e) for t, e in splits.dev.items()},
        started_unix=stats.started_unix,  # wall clock: which trials ran at the same time
    )
    return run, splits, record


def _train_epochs(
    run: TrainingRun, splits: Splits, record: TrialRecord, report: Report | None
) -> TrialRecord:
    """Epochs > tasks in task_order > batches; validation after every epoch, dev after the last
    (or every epoch without a validation split); report(record) after every epoch but the last."""
    config, model = run.config, run.model
    for epoch in range(1, config.epochs + 1):
        losses = {task: train_task(run, splits.train[task], epoch) for task in config.task_order}
        last = epoch == config.epochs
        if last:  # AdaLoRA's trained ranks are final: score the shapes that will be saved
            for encoder in model.encoders.values():
                adalora_drop_pruned_ranks(encoder)
        with run.stats.phase("eval"):
            ac = autocast(run.precision, run.device)
            val = evaluate(model, splits.val, autocast=ac) if splits.val else {}
            checked = {f"val_{k}": v for k, v in val.items()}
            scores = evaluate(model, splits.dev, autocast=ac) if last or not splits.val else {}
        scored = EpochScores(epoch, **scores, **checked, losses=losses)
        history = (*record.history, scored)
        record = record.replace(**scores, **checked, history=history, epochs_run=epoch)
        if run.progress:
            print(_scores_line(scored), file=sys.stderr)
        if epoch < config.epochs and report is not None:
            report(record)
    return record


def _finish(
    run: TrainingRun, splits: Splits, record: TrialRecord, run_dir: str | Path | None
) -> TrialRecord:
    """Save the run folder, then the final record (final=True) with the run's statistics.

    Saved before the last report, so a scheduler may stop the trial at its last epoch safely."""
    config, model, device = run.config, run.model, run.device
    if run_dir is not None:
        with run.stats.phase("save"):
            scores = record.scores()
            meta = {"model_sha256": record.model_sha256, "dev": scores}
            meta |= {"precision": run.precision, "device": device.type}
            save_trial(model, config, run_dir, meta)
            if config.init in MUTATING_INITS:  # dev scores what was shipped (_shipped_scores)
                scores = _shipped_scores(config, run_dir, device, run.precision, splits.dev)
                last = dataclasses.replace(record.history[-1], **scores)
                record = record.replace(**scores, history=(*record.history[:-1], last))
                save_trial(model, config, run_dir, meta | {"dev": scores})
    return record.replace(
        final=True,
        adapter_params_final=_final_adapter_params(model),
        adapter_dir=str(Path(run_dir).resolve()) if run_dir is not None else None,
        adapter_bytes=adapter_bytes(run_dir),
        **run.stats.fields(),
    )


def adapter_bytes(run_dir: str | Path | None) -> int | None:
    """Bytes on disk of what the trial saved to ship: its adapters' weights and the heads
    (checkpoint/adapters/*/adapter_model.safetensors and heads.safetensors); None unsaved."""
    if run_dir is None:
        return None
    folder = Path(run_dir) / "checkpoint"
    files = [*folder.glob("adapters/*/adapter_model.safetensors"), *folder.glob("*.safetensors")]
    return sum(f.stat().st_size for f in files) if files else None


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
