"""Per-task train/dev data for a trial: read, subsample (seeded), tokenize (cached)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from study.batching import Encoded, encode
from study.config import TASKS, TrialConfig
from study.data import FILE_NAMES, load_split, resolve_data_dir, subsample_index


def file_key(task: str, split: str, data_dir: str) -> tuple[str, int, int]:
    """(path, size, mtime): changes whenever the file does."""
    path = resolve_data_dir(data_dir) / FILE_NAMES[task, split]
    st = os.stat(path)
    return str(path), st.st_size, st.st_mtime_ns


_CACHE: dict[tuple, Encoded] = {}  # one process (a Ray worker) tokenizes each file once


def _encoded(
    task: str,
    split: str,
    data_dir: str,
    tokenizer: Any,
    tokenizer_key: str,
    max_len: int,
    joint: bool,
    count: int,
    seed: int,
) -> Encoded:  # noqa: ANN001
    key = (task, split, file_key(task, split, data_dir), tokenizer_key, max_len, joint, count, seed)
    if key not in _CACHE:
        data = load_split(task, split, data_dir)
        index = subsample_index(len(data), count, seed + TASKS.index(task))
        _CACHE[key] = encode(data.subset(index), tokenizer, max_len, joint)
    return _CACHE[key]


def task_data(config: TrialConfig, split: str, tokenizer, tokenizer_key: str) -> dict[str, Encoded]:  # noqa: ANN001
    """{task: Encoded} for `split` ('train' or 'dev'), subsampled as the config's scale says."""
    count = config.train_per_task if split == "train" else config.dev_per_task
    # Dev subsamples use a different stream than train ones, fixed across trials.
    seed = config.data_seed * 1000 + (0 if split == "train" else 500)
    joint = config.head_design == 3
    return {
        task: _encoded(
            task,
            split,
            config.data_dir,
            tokenizer,
            tokenizer_key,
            config.max_len,
            joint,
            count,
            seed,
        )
        for task in TASKS
    }


def lengths_summary(data: dict[str, Encoded]) -> dict[str, int]:
    return {task: int(np.sum(enc.lengths())) for task, enc in data.items()}
