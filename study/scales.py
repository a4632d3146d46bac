"""Named scales: the data sizes and epochs a config gets before a study or --set changes it.

smoke: a few batches, for tests (seconds).
cpu:   a subsample sized so one LoRA trial takes about a minute on 2 CPU cores and still learns.
paper: the paper's Section 5.3 recipe: all data, 10 epochs, batch 32; meant for a GPU and
       bert-base-uncased (--model-path), with the full Quora train (--data-dir).
"""

from __future__ import annotations

from typing import Any

from study.config import TrialConfig
from study.errors import ConfigError

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "train_per_task": 64,
        "dev_per_task": 64,
        "epochs": 2,
        "batch_size": 16,
        "max_len": 64,
    },
    "cpu": {"train_per_task": 800, "dev_per_task": 600, "epochs": 2},
    "paper": {"train_per_task": 0, "dev_per_task": 0, "epochs": 10, "max_batch_tokens": 0},
}


def scale_config(scale: str, base: TrialConfig | None = None) -> TrialConfig:
    """`base` (default: TrialConfig()) with the scale's preset applied."""
    if scale not in SCALES:
        raise ConfigError(f"--scale {scale!r} is invalid: must be one of {' | '.join(SCALES)}")
    return (base or TrialConfig()).replace(scale=scale, **SCALES[scale])
