"""Tokenize once, then cut length-bucketed batches with dynamic padding.

Training batches: shuffle (seeded), sort within buckets of `BUCKET` batches, cut, shuffle the
batch order. Padding stays near 1 real token per padded slot while the order stays random.
Evaluation batches are fully sorted by length; predictions are put back in file order.

Token ids live in flat arrays (`Ragged`), so a batch is padded with a few numpy gathers, a
subsample is one fancy index, and a tokenized file is saved and loaded without pickle.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from study.data.files import TaskSplit

BUCKET = 50  # batches per sorting bucket


@dataclass(frozen=True)
class Ragged:
    """Rows of different lengths, stored flat: row i is values[offsets[i]:offsets[i + 1]]."""

    values: np.ndarray  # (total,) token ids (int32) or type ids (int8)
    offsets: np.ndarray  # (N + 1,) int64, offsets[0] == 0

    @classmethod
    def from_lists(cls, rows: list[list[int]], dtype: type = np.int32) -> Ragged:
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.fromiter(itertools.chain.from_iterable(rows), dtype=dtype, count=offsets[-1])
        return cls(values, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def lengths_at(self, index: np.ndarray) -> np.ndarray:
        """Lengths of the rows at `index` only (no pass over the whole file)."""
        return self.offsets[index + 1] - self.offsets[index]

    def row(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def take(self, index: np.ndarray) -> Ragged:
        """The rows at `index`, in that order."""
        index = np.asarray(index, dtype=np.int64)
        starts, lengths = self.offsets[index], self.lengths()[index]
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # position of every output token in `values`: its row's start + its place in the row
        pos = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return Ragged(self.values[pos], offsets)

    def concat(self, other: Ragged) -> Ragged:
        """The rows of self, then the rows of other."""
        offsets = np.concatenate([self.offsets, other.offsets[1:] + self.offsets[-1]])
        return Ragged(np.concatenate([self.values, other.values]), offsets)

    def pad(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, T) rows at `index` right-padded with 0 to the longest, and the (B, T) 0/1 mask."""
        starts = self.offsets[index]
        lengths = self.offsets[np.asarray(index) + 1] - starts
        cols = np.arange(int(lengths.max()))
        mask = cols < lengths[:, None]
        pos = np.where(mask, starts[:, None] + cols, 0)
        return np.where(mask, self.values[pos], 0), mask


@dataclass(frozen=True)
class Encoded:
    """A tokenized split. Pair tasks hold either one joint sequence or two separate ones."""

    task: str
    ids: Ragged
    types: Ragged  # token type ids, same offsets as ids
    ids_b: Ragged | None  # second sentence (designs 1, 2); None when joint or SST
    labels: np.ndarray | None
    row_ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        """Padded cost per example: the longer of its sequences."""
        a = self.ids.lengths()
        return a if self.ids_b is None else np.maximum(a, self.ids_b.lengths())

    def subset(self, index: np.ndarray) -> Encoded:
        """The examples at `index`, in that order."""
        index = np.asarray(index, dtype=np.int64)
        return Encoded(
            self.task,
            self.ids.take(index),
            self.types.take(index),
            None if self.ids_b is None else self.ids_b.take(index),
            None if self.labels is None else self.labels[index],
            [self.row_ids[i] for i in index],
        )


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
        ids_b = Ragged.from_lists(tokenizer(split.text_b, **kw)["input_ids"])
    return Encoded(
        split.task,
        Ragged.from_lists(out["input_ids"]),
        Ragged.from_lists(out["token_type_ids"], np.int8),
        ids_b,
        split.labels,
        list(split.ids),
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


def _tensors(ragged: Ragged, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    ids, mask = ragged.pad(index)
    return torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask.astype(np.int64))


def micro_batches(data: Encoded, index: np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """One training batch cut into the fewest near-equal parts of at most ~max_tokens padded
    tokens each (both sentences counted), rows sorted by length so each part pads to its own
    longest; [index] when it fits or max_tokens is 0. Gradients of the parts, each weighted by
    its share of the rows, add up to the whole batch's."""
    a = data.ids.lengths_at(index)
    b = data.ids_b.lengths_at(index) if data.ids_b is not None else None
    padded = len(index) * (int(a.max()) + (int(b.max()) if b is not None else 0))
    if max_tokens <= 0 or padded <= max_tokens or len(index) == 1:
        return [index]
    parts = min(len(index), -(-padded // max_tokens))
    cost = a if b is None else np.maximum(a, b)  # Encoded.lengths, for these rows
    return np.array_split(index[np.argsort(cost, kind="stable")], parts)


def collate(data: Encoded, index: np.ndarray) -> dict[str, torch.Tensor]:
    """Pad the rows at `index` to the batch's longest: (B, T) tensors plus labels (B,)."""
    ids, mask = _tensors(data.ids, index)
    types, _ = _tensors(data.types, index)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    if data.ids_b is not None:
        ids_b, mask_b = _tensors(data.ids_b, index)
        batch.update(
            input_ids_b=ids_b, attention_mask_b=mask_b, token_type_ids_b=torch.zeros_like(ids_b)
        )
    if data.labels is not None:
        batch["labels"] = torch.as_tensor(data.labels[index])
    return batch
