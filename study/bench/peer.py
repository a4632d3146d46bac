"""The peer: Hugging Face Trainer + peft on the same model, SST data, batch and LoRA config.

Ours: the trial's own training loop (study/train/loop.py) over the same SST examples. Both sides
count train samples/s = examples seen / wall seconds of the training loop (data included).
The Trainer runs with random batches and with length grouping
(train_sampling_strategy="group_by_length", transformers 5), in fp32 and bf16.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from typing import Any

import numpy as np
import torch

from study.config import TrialConfig
from study.data.batching import Encoded

LORA = {"method": "lora", "targets": "qkv", "r": 16}
TRAINER_RUNS = (("random", "fp32"), ("group_by_length", "fp32"), ("group_by_length", "bf16"))


def ours_samples_per_s(config: TrialConfig, data: Encoded, precision: str) -> dict[str, float]:
    """Our loop (one encoder + SST head, LoRA qkv r=16) over `data` for config.epochs."""
    from study.train.device import pick_device
    from study.train.loop import TrainingRun, make_optimizer, train_task
    from study.train.run import build_trial_model
    from study.train.stats import RunStats

    config = config.replace(mode="sequential", precision=precision, **LORA)
    torch.manual_seed(config.seed)
    device = pick_device()
    model = build_trial_model(config, device, precision)
    rng = np.random.default_rng(config.seed)
    stats = RunStats.start(("data", "train"))
    run = TrainingRun(model, make_optimizer(model, config), config, rng, device, precision, stats)
    t0 = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        train_task(run, data, epoch)
    wall = time.perf_counter() - t0
    return {"samples_per_s": len(data) * config.epochs / wall, "seconds": wall, **stats.phases}


def trainer_samples_per_s(
    config: TrialConfig, data: Encoded, strategy: str, precision: str
) -> dict[str, float]:
    """transformers.Trainer + peft LoRA (qkv, r=16, same alpha/dropout/lr) on the same examples."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import (
        BertForSequenceClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )
    from transformers.utils import logging as hf_logging

    from model.encoder import load_tokenizer, resolve_model_path
    from study.train.device import pick_device

    hf_logging.set_verbosity_error()
    config = config.replace(**LORA)
    tokenizer = load_tokenizer(config.model_path)
    torch.manual_seed(config.seed)
    model = BertForSequenceClassification.from_pretrained(
        str(resolve_model_path(config.model_path)),
        num_labels=5,
        local_files_only=True,
        dtype=torch.float32,  # as ours: fp32 weights whatever the file holds
    )
    model = get_peft_model(
        model,
        LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=config.r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=["query", "key", "value"],
        ),
    )
    rows = [
        {
            "input_ids": data.ids.row(i).tolist(),
            "token_type_ids": data.types.row(i).tolist(),
            "labels": int(data.labels[i]),
        }
        for i in range(len(data))
    ]
    with tempfile.TemporaryDirectory(prefix="peft-bench-trainer-") as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=config.batch_size,
            num_train_epochs=config.epochs,
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            train_sampling_strategy=strategy,
            bf16=precision == "bf16",
            use_cpu=pick_device().type == "cpu",  # the device ours uses
            seed=config.seed,
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            eval_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=rows,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
        )
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its metrics dict
            result = trainer.train()
        wall = time.perf_counter() - t0
    return {
        "samples_per_s": len(data) * config.epochs / wall,
        "seconds": wall,
        "trainer_reported_samples_per_s": result.metrics.get("train_samples_per_second"),
    }


def peer_table(
    config: TrialConfig,
    data: Encoded,
    our_precision: str,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
) -> dict[str, Any]:
    """Ours in fp32 and bf16 against the Trainer runs; ratios against the grouped Trainer.

    The target pair (ours at `our_precision`, the Trainer grouped in fp32) runs twice each in
    the order ours, Trainer, ..., Trainer, ours, and each side is the mean of its two runs: a
    drift of this shared machine's speed during the ~2 minutes falls on both sides alike."""
    target = ("group_by_length", "fp32")
    ours_first = ours_samples_per_s(config, data, our_precision)
    grouped_first = trainer_samples_per_s(config, data, *target)
    ours = {
        p: ours_samples_per_s(config, data, p) for p in precisions if p != our_precision
    }  # each other measured precision once
    trainer = {
        f"{strategy}_{p}": trainer_samples_per_s(config, data, strategy, p)
        for strategy, p in TRAINER_RUNS
        if (strategy, p) != target and p in precisions
    }
    trainer["_".join(target)] = _mean_of(
        grouped_first, trainer_samples_per_s(config, data, *target)
    )
    ours[our_precision] = _mean_of(ours_first, ours_samples_per_s(config, data, our_precision))
    default = ours[our_precision]["samples_per_s"]
    return {
        "examples": len(data),
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lora": LORA,
        "ours": ours,
        "trainer": trainer,
        "our_default_precision": our_precision,
        # the target: our default against the Trainer's length grouping at its default (fp32)
        "ours_over_trainer_grouped_fp32": default
        / trainer["group_by_length_fp32"]["samples_per_s"],
        # same precision on both sides
        "ours_over_trainer_grouped_same_precision": default
        / trainer[f"group_by_length_{our_precision}"]["samples_per_s"],
        "ours_fp32_over_trainer_random_fp32": ours["fp32"]["samples_per_s"]
        / trainer["random_fp32"]["samples_per_s"],
    }


def _mean_of(a: dict[str, float], b: dict[str, float]) -> dict[str, Any]:
    """Two runs of one side: mean samples/s and seconds, and both runs' samples/s."""
    return {
        "samples_per_s": (a["samples_per_s"] + b["samples_per_s"]) / 2,
        "seconds": (a["seconds"] + b["seconds"]) / 2,
        "runs_samples_per_s": [a["samples_per_s"], b["samples_per_s"]],
    }
