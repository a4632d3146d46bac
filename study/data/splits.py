"""Per-task train/dev data for a trial: read + tokenize (disk-cached), subsample (seeded).

Each data file is tokenized whole, once per tokenizer (token_cache.py), and every trial
takes its subsample from that; one process also keeps what it built in memory, so a reused
Ray worker neither re-reads nor re-tokenizes anything.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from study.config import TASKS, TrialConfig
from study.data.batching import Encoded
from study.data.files import data_path, load_split, subsample_index
from study.data.token_cache import encode_file


def file_key(task: str, split: str, data_dir: str) -> tuple[str, int, int]:
    """(path, size, mtime): changes whenever the file does."""
    path = data_path(task, split, data_dir)
    st = os.stat(path)
    return str(path), st.st_size, st.st_mtime_ns


_CACHE: dict[tuple, Encoded] = {}  # one process (a Ray worker) builds each subsample once
CACHE_STATS: dict[str, int] = {"memory": 0, "hit": 0, "miss": 0, "off": 0}


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
    if key in _CACHE:
        CACHE_STATS["memory"] += 1
        return _CACHE[key]
    whole, status = encode_file(task, split, data_dir, tokenizer, max_len, joint)
    CACHE_STATS[status] += 1
    index = subsample_index(len(whole), count, seed + TASKS.index(task))
    _CACHE[key] = whole if len(index) == len(whole) else whole.subset(index)
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


def data_sizes(base: TrialConfig) -> dict[str, dict[str, int]]:
    """Examples per task and split the trials use, and the file sizes (study.json)."""
    sizes: dict[str, dict[str, int]] = {}
    for task in TASKS:
        for split, count in (("train", base.train_per_task), ("dev", base.dev_per_task)):
            n = len(load_split(task, split, base.data_dir))
            sizes.setdefault(task, {})[split] = len(subsample_index(n, count, 0))
            sizes[task][f"{split}_file"] = n
    return sizes
