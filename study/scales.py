"""Named scales: the data sizes and epochs a config gets before a study or --set changes it.

smoke: a few batches, for tests (seconds).
cpu:   a subsample sized for 2 CPU cores and the embedded model, with heads that start at the
       no-training floor, so every trial learns from where the model already is.
paper: the paper's Section 5.3 recipe: all data, 10 epochs, batch 32, head design 3 on [CLS];
       meant for a GPU and bert-base-uncased (--model-path), with the full Quora train.
Every scale carves a validation split from the training file for selection.
"""

from __future__ import annotations

from typing import Any

from study.config import TrialConfig
from study.errors import ConfigError

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "train_per_task": 64,
        "val_per_task": 32,
        "dev_per_task": 64,
        "epochs": 2,
        "batch_size": 16,
        "max_len": 64,
    },
    # The embedded model is a mean-pooled bi-encoder: its own cosine is the floor, so the cpu
    # scale reads mean-pooled sentence vectors through calibrated cosine heads (design 2) and
    # training starts there (study/bench/RESULTS.md, "cpu recipe", has the evidence).
    "cpu": {
        "train_per_task": 800,
        "val_per_task": 200,
        "dev_per_task": 500,
        "epochs": 2,
        "head_design": 2,
        "pooling": "mean",
        "pair_head": "cosine",
        "head_lr": 3e-3,
    },
    # The paper's recipe (Sec. 5.3): all data, 10 epochs, batch 32, head design 3 on [CLS].
    "paper": {
        "train_per_task": 0,
        "val_per_task": 1000,
        "dev_per_task": 0,
        "epochs": 10,
        "max_batch_tokens": 0,
    },
}


# The recipe a study folder was made with: a folder of another version is not resumed.
# 2: a validation split for every selection, no-training floors, seed reruns.
RECIPE_VERSION = 2


def recipe(config: TrialConfig, seeds: int) -> dict[str, Any]:
    """What study.json records of how trials are set up and selected (the report's title)."""
    eq = {1: "Eq. 1", 2: "Eq. 2", 3: "Eq. 3"}[config.head_design]
    heads = {
        "paper": "Eq. 4 and 5 on random projections",
        "cosine": "the cosine of the sentence vectors, calibrated on training rows",
        "auto": "the calibrated cosine for design 2, Eq. 4 and 5 on random projections for "
        "designs 1 and 3",
    }[config.pair_head]
    split = (
        f"selection on a validation split of {config.val_per_task} training rows per task"
        if config.val_per_task
        else "selection on dev (no validation split, as the paper)"
    )
    return {
        "version": RECIPE_VERSION,
        "head_design": config.head_design,
        "pooling": config.pooling,
        "pair_head": config.pair_head,
        "val_per_task": config.val_per_task,
        "seeds": seeds,
        "summary": f"head design {config.head_design} ({eq}), {config.pooling} pooling, Para/STS "
        f"heads on {heads}; {split}; {seeds} seed(s) per chosen configuration",
    }


def scale_config(scale: str, base: TrialConfig | None = None) -> TrialConfig:
    """`base` (default: TrialConfig()) with the scale's preset applied."""
    if scale not in SCALES:
        raise ConfigError(f"--scale {scale!r} is invalid: must be one of {' | '.join(SCALES)}")
    return (base or TrialConfig()).replace(scale=scale, **SCALES[scale])
