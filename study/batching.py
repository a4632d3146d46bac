"""Tokenize once, then cut length-bucketed batches with dynamic padding.

Training batches: shuffle (seeded), sort within buckets of `BUCKET` batches, cut, shuffle the
batch order. Padding stays near 1 real token per padded slot while the order stays random.
Evaluation batches are fully sorted by length; predictions are put back in file order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from study.data import TaskSplit

BUCKET = 50  # batches per sorting bucket


@dataclass(frozen=True)
class Encoded:
    """A tokenized split. Pair tasks hold either one joint sequence or two separate ones."""

    task: str
    ids: list[list[int]]
    types: list[list[int]]
    ids_b: list[list[int]] | None  # second sentence (designs 1, 2); None when joint or SST
    labels: np.ndarray | None
    row_ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        """Padded cost per example: the longer of its sequences."""
        a = np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))
        if self.ids_b is None:
            return a
        b = np.fromiter((len(x) for x in self.ids_b), dtype=np.int64, count=len(self.ids_b))
        return np.maximum(a, b)


def encode(split: TaskSplit, tokenizer, max_len: int, joint: bool) -> Encoded:  # noqa: ANN001
    """Tokenize a split. joint=True encodes pairs as [CLS] x1 [SEP] x2 [SEP] (Eq. 3)."""
    kw = dict(truncation=True, max_length=max_len, return_attention_mask=False)
    if split.text_b is None:
        out = tokenizer(split.text_a, **kw)
        ids_b = None
    elif joint:
        out = tokenizer(split.text_a, split.text_b, **kw)
        ids_b = None
    else:
        out = tokenizer(split.text_a, **kw)
        ids_b = tokenizer(split.text_b, **kw)["input_ids"]
    return Encoded(
        split.task, out["input_ids"], out["token_type_ids"], ids_b, split.labels, split.ids
    )


def training_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Index batches: seeded shuffle, sort inside buckets, cut, shuffle batch order."""
    order = rng.permutation(len(lengths))
    span = batch_size * BUCKET
    batches = []
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches: all examples sorted by length."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def random_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Plain shuffled batches (the benchmark's baseline)."""
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def padding_efficiency(lengths: np.ndarray, batches: list[np.ndarray], pad_to: int = 0) -> float:
    """Real tokens / padded tokens over `batches` (pad_to > 0 pads every batch to that length)."""
    real = sum(int(lengths[b].sum()) for b in batches)
    padded = sum(len(b) * (pad_to or int(lengths[b].max())) for b in batches)
    return real / padded


def _pad(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask


def collate(data: Encoded, index: np.ndarray) -> dict[str, torch.Tensor]:
    """Pad the rows at `index` to the batch's longest: (B, T) tensors plus labels (B,)."""
    ids, mask = _pad([data.ids[i] for i in index])
    types, _ = _pad([data.types[i] for i in index])
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    if data.ids_b is not None:
        ids_b, mask_b = _pad([data.ids_b[i] for i in index])
        batch.update(
            input_ids_b=ids_b, attention_mask_b=mask_b, token_type_ids_b=torch.zeros_like(ids_b)
        )
    if data.labels is not None:
        batch["labels"] = torch.as_tensor(data.labels[index])
    return batch
