"""Disk cache of tokenized data files: each file is read and tokenized once per tokenizer.

Key: sha256 of the data file's bytes, sha256 of the tokenizer's serialization (vocabulary,
normalizer, special tokens), max_len, joint encoding, the tokenizers version. A changed
file or tokenizer is a different key, so a stale entry is never read.
An entry is an .npz of flat token arrays plus the file's row ids and labels, loaded with
allow_pickle=False; a hit needs neither the CSV parser nor the tokenizer. Entries are written
beside their final name and renamed, so concurrent workers never read a half-written one.

Folder: $PEFT_STUDY_CACHE/tokens, else ~/.cache/peft-study/tokens. An unwritable folder only
turns the disk cache off.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from model.encoder import file_sha256
from study.atomic import atomic_file
from study.data.batching import Encoded, Ragged, encode
from study.data.files import TEXT_COLUMNS, DataWarning, cache_root, data_path, load_split
from study.errors import UserError

FORMAT = 2  # bump when the entry layout changes
_TOKENIZER_SHA: dict[int, tuple[Any, str]] = {}  # id(tokenizer) -> (tokenizer, sha256)


def cache_dir() -> Path:
    return cache_root() / "tokens"


def tokenizer_sha256(tokenizer: Any) -> str:
    """sha256 of a fast tokenizer's JSON serialization, without its call-time state
    (a call with truncation=True stores the truncation settings in the backend).
    Computed once per tokenizer object."""
    known = _TOKENIZER_SHA.get(id(tokenizer))
    if known is not None and known[0] is tokenizer:
        return known[1]
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    digest = hashlib.sha256(json.dumps(spec).encode()).hexdigest()
    _TOKENIZER_SHA[id(tokenizer)] = (tokenizer, digest)
    return digest


def entry_path(
    task: str, split: str, data_dir: str, tokenizer: Any, max_len: int, joint: bool
) -> Path:
    """Where the tokenized form of the task's whole `split` file lives."""
    import tokenizers

    pairs = len(TEXT_COLUMNS[task]) == 2
    parts = (
        f"format={FORMAT}",
        f"file={file_sha256(data_path(task, split, data_dir))}",
        f"tokenizer={tokenizer_sha256(tokenizer)}",
        f"max_len={max_len}",
        f"joint={joint and pairs}",  # SST has one sentence: the same entry for every design
        f"tokenizers={tokenizers.__version__}",
    )
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]
    return cache_dir() / f"{task}-{split}-{key}.npz"


def encode_file(
    task: str, split: str, data_dir: str, tokenizer: Any, max_len: int, joint: bool
) -> tuple[Encoded, str]:
    """The whole data file of `task`/`split`, tokenized (encode()), via the disk cache.

    Returns (encoded, status): 'hit' (read from disk), 'miss' (parsed, tokenized and saved)
    or 'off' (parsed and tokenized; the cache folder is not writable).
    """
    path = entry_path(task, split, data_dir, tokenizer, max_len, joint)
    if path.is_file():
        loaded = _load(path, task)
        if loaded is not None:
            return loaded, "hit"
        warnings.warn(
            f"token cache entry {path} is damaged; tokenizing {task} {split} again and "
            "replacing it",
            DataWarning,
            stacklevel=2,
        )
    encoded = encode(load_split(task, split, data_dir), tokenizer, max_len, joint)
    return encoded, "miss" if _save(path, encoded) else "off"


def _save(path: Path, enc: Encoded) -> bool:
    arrays = {
        "ids_values": enc.ids.values,
        "ids_offsets": enc.ids.offsets,
        "types_values": enc.types.values,
        "row_ids": np.asarray(enc.row_ids, dtype=str),
    }
    if enc.ids_b is not None:
        arrays.update(b_values=enc.ids_b.values, b_offsets=enc.ids_b.offsets)
    if enc.labels is not None:
        arrays["labels"] = enc.labels
    try:  # several workers may write one entry at once: each its own temporary file
        with atomic_file(path, "wb", unique=True) as fh:
            np.savez(fh, **arrays)
    except UserError:
        return False
    return True


def _load(path: Path, task: str) -> Encoded | None:
    """The entry, or None when it is unreadable or inconsistent (then re-tokenize)."""
    try:
        # our own handle: np.load leaves its file open when the zip is torn
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            ids = Ragged(npz["ids_values"], npz["ids_offsets"])
            types = Ragged(npz["types_values"], npz["ids_offsets"])
            ids_b = Ragged(npz["b_values"], npz["b_offsets"]) if "b_values" in npz else None
            labels = npz["labels"] if "labels" in npz else None
            row_ids = npz["row_ids"].tolist()
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # a torn .npz
        return None
    rows = len(row_ids)
    if len(ids) != rows or (ids_b is not None and len(ids_b) != rows):
        return None
    if labels is not None and len(labels) != rows:
        return None
    return Encoded(task, ids, types, ids_b, labels, row_ids)
