"""Checks run before any training or Ray start, so bad input fails fast with one line."""

from __future__ import annotations

from model.encoder import verify_model
from study.config import TASKS, TrialConfig
from study.data import load_split
from study.errors import ConfigError


def preflight(config: TrialConfig, splits: tuple[str, ...] = ("train", "dev")) -> dict:
    """Verify the model folder (and checksum), r against the hidden size, and the data files.

    Returns the model's config.json. Raises a UserError subclass on the first problem.
    """
    model_cfg, _ = verify_model(config.model_path)
    hidden = int(model_cfg.get("hidden_size", 0))
    if config.method != "full" and config.r > hidden:
        raise ConfigError(f"r={config.r} is invalid: must be <= the model's hidden size {hidden}")
    for task in TASKS:
        for split in splits:
            load_split(task, split, config.data_dir)
    return model_cfg
