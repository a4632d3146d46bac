"""Per-task train/val/dev data for a trial: read + tokenize (disk-cached), subsample (seeded).

Each data file is tokenized whole, once per tokenizer (token_cache.py), and every trial
takes its subsample from that; one process also keeps what it built in memory, so a reused
Ray worker neither re-reads nor re-tokenizes anything.

The validation split is carved from the training file first (val_per_task rows, seeded by
data_seed), and every trial's training subsample is drawn from the rest, so selection (on
validation) never sees a training row, and dev, which the tables report, is never selected on.
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


SPLITS = ("train", "val", "dev")


def split_index(task: str, split: str, n_rows: int, config: TrialConfig) -> np.ndarray:
    """The rows of the task's file (train for train and val, dev for dev) a split takes, sorted.

    train and val: one seeded permutation of the training file; val is its first
    val_per_task rows, train the next train_per_task (all when 0). Without a validation split
    (val_per_task=0) train is the seeded subsample of the whole file. dev: a seeded subsample
    of the dev file (dev_per_task; 0 = all), the same for every trial."""
    offset = TASKS.index(task)
    if split == "dev":
        return subsample_index(n_rows, config.dev_per_task, config.data_seed * 1000 + 500 + offset)
    if config.val_per_task == 0:
        if split == "val":
            return np.arange(0)
        return subsample_index(n_rows, config.train_per_task, config.data_seed * 1000 + offset)
    order = np.random.default_rng(config.data_seed * 1000 + 700 + offset).permutation(n_rows)
    val = order[: config.val_per_task]
    pool = order[config.val_per_task :]
    take = pool if config.train_per_task <= 0 else pool[: config.train_per_task]
    return np.sort(val if split == "val" else take)


def _encoded(
    task: str, split: str, config: TrialConfig, tokenizer: Any, tokenizer_key: str, joint: bool
) -> Encoded:  # noqa: ANN001
    source = "dev" if split == "dev" else "train"
    counts = (config.train_per_task, config.val_per_task, config.dev_per_task, config.data_seed)
    where = file_key(task, source, config.data_dir)
    key = (task, split, where, tokenizer_key, config.max_len, joint, counts)
    if key in _CACHE:
        CACHE_STATS["memory"] += 1
        return _CACHE[key]
    whole, status = encode_file(task, source, config.data_dir, tokenizer, config.max_len, joint)
    CACHE_STATS[status] += 1
    index = split_index(task, split, len(whole), config)
    _CACHE[key] = whole if len(index) == len(whole) else whole.subset(index)
    return _CACHE[key]


def task_data(
    config: TrialConfig, split: str, tokenizer: Any, tokenizer_key: str, joint: bool | None = None
) -> dict[str, Encoded]:
    """{task: Encoded} for `split` (train, val or dev), as the config's scale says; pairs as
    one joint sequence for head design 3 unless `joint` says otherwise."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: must be one of {', '.join(SPLITS)}")
    joint = config.head_design == 3 if joint is None else joint
    return {task: _encoded(task, split, config, tokenizer, tokenizer_key, joint) for task in TASKS}


def lengths_summary(data: dict[str, Encoded]) -> dict[str, int]:
    return {task: int(np.sum(enc.lengths())) for task, enc in data.items()}


def data_sizes(base: TrialConfig) -> dict[str, dict[str, int]]:
    """Examples per task and split the trials use, and the file sizes (study.json)."""
    sizes: dict[str, dict[str, int]] = {}
    for task in TASKS:
        files = {name: len(load_split(task, name, base.data_dir)) for name in ("train", "dev")}
        for split in SPLITS:
            n = files["dev" if split == "dev" else "train"]
            sizes.setdefault(task, {})[split] = len(split_index(task, split, n, base))
        sizes[task] |= {f"{name}_file": n for name, n in files.items()}
    return sizes


def split_ids(config: TrialConfig, task: str, split: str) -> list[str]:
    """The row ids a split holds (what tests and reports check for overlap)."""
    source = "dev" if split == "dev" else "train"
    ids = load_split(task, source, config.data_dir).ids
    return [ids[i] for i in split_index(task, split, len(ids), config)]
