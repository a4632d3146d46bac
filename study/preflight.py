"""Checks run before any training or Ray start, so bad input fails fast with one line."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from model.encoder import verify_model
from study.config import TASKS, TrialConfig
from study.data.files import load_split
from study.errors import ConfigError, UserError


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


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Create `path` (a folder) if needed and prove a file can be written in it.

    Tried, not asked (os.access): root passes every permission check, yet still cannot write
    under a regular file, /proc, /sys or a read-only mount. Returns the resolved folder.
    """
    folder = Path(path).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what} {folder} is a file, not a folder; pass another --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"x")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UserError(f"cannot write {what} {folder}: {reason}; pass another --out") from None
    return folder
