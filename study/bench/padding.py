"""Padding efficiency (real tokens / padded tokens) of our batcher against the alternatives."""

from __future__ import annotations

from typing import Any

import numpy as np

from study.config import TrialConfig
from study.data.batching import (
    Encoded,
    padding_efficiency,
    random_batches,
    sorted_batches,
    training_batches,
)

FIXED = 128


def batcher_efficiency(lengths: np.ndarray, batch_size: int, seed: int = 0) -> dict[str, float]:
    """ours = study.data.batching.training_batches; random = shuffled; fixed_128 = pad every batch
    to 128 tokens; sorted = the whole set sorted by length (the upper bound, no randomness)."""
    rng = np.random.default_rng(seed)
    return {
        "ours": padding_efficiency(lengths, training_batches(lengths, batch_size, rng)),
        "random": padding_efficiency(lengths, random_batches(len(lengths), batch_size, rng)),
        "fixed_128": padding_efficiency(
            lengths, random_batches(len(lengths), batch_size, rng), pad_to=FIXED
        ),
        "sorted": padding_efficiency(lengths, sorted_batches(lengths, batch_size)),
    }


def padding_table(
    config: TrialConfig, tokenizer: Any, subsample: dict[str, Encoded]
) -> dict[str, Any]:
    """SST and Quora pairs (joint [CLS] a [SEP] b [SEP], max_len 128), batch 32: the whole
    training files, and the subsample the config's scale trains on."""
    from study.data.token_cache import encode_file

    out: dict[str, Any] = {"batch_size": config.batch_size, "max_len": FIXED}
    for task in ("sst", "para"):
        whole, _ = encode_file(task, "train", config.data_dir, tokenizer, FIXED, True)
        out[task] = batcher_efficiency(whole.lengths(), config.batch_size)
        out[task]["examples"] = len(whole)
        out[f"{task}_{config.scale}"] = batcher_efficiency(
            subsample[task].lengths(), config.batch_size
        )
        out[f"{task}_{config.scale}"]["examples"] = len(subsample[task])
    return out
