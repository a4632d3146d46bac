"""Disk cache of tokenized data files: each file is tokenized once per tokenizer, ever.

Key: sha256 of the data file's bytes, sha256 of the tokenizer's full serialization
(vocabulary, normalizer, special tokens), max_len, joint encoding, the tokenizers version.
A changed file or tokenizer is a different key, so a stale entry is never read.
Entries are .npz files of flat int arrays, loaded with allow_pickle=False; they are written
beside their final name and renamed, so concurrent workers never read a half-written entry.

Folder: $PEFT_STUDY_CACHE/tokens, else ~/.cache/peft-study/tokens. An unwritable folder only
turns the disk cache off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from study.batching import Encoded, Ragged, encode
from study.data import TaskSplit

CACHE_ENV = "PEFT_STUDY_CACHE"
FORMAT = 1  # bump when the entry layout changes


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "peft-study")
    return Path(root).expanduser() / "tokens"


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (hashed once per file version in this process)."""
    st = os.stat(path)
    return _file_sha256(str(path), st.st_size, st.st_mtime_ns)


def tokenizer_sha256(tokenizer: Any) -> str:
    """sha256 of a fast tokenizer's JSON serialization, without its call-time state.

    Calling a tokenizer with truncation=True stores the truncation (and padding) settings in
    its backend, which would change the serialization after the first call.
    """
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def entry_path(split: TaskSplit, tokenizer: Any, max_len: int, joint: bool) -> Path:
    """Where the tokenized form of `split`'s whole file lives."""
    import tokenizers

    parts = (
        f"format={FORMAT}",
        f"file={file_sha256(split.path)}",
        f"tokenizer={tokenizer_sha256(tokenizer)}",
        f"max_len={max_len}",
        f"joint={joint and split.text_b is not None}",
        f"tokenizers={tokenizers.__version__}",
    )
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]
    return cache_dir() / f"{split.task}-{split.split}-{key}.npz"


def cached_encode(
    split: TaskSplit, tokenizer: Any, max_len: int, joint: bool
) -> tuple[Encoded, str]:
    """encode(split, ...) for a whole data file, via the disk cache.

    Returns (encoded, status) with status 'hit' (read from disk), 'miss' (tokenized and saved)
    or 'off' (tokenized; the cache folder is not writable).
    """
    path = entry_path(split, tokenizer, max_len, joint)
    if path.is_file():
        loaded = _load(path, split)
        if loaded is not None:
            return loaded, "hit"
    encoded = encode(split, tokenizer, max_len, joint)
    return encoded, "miss" if _save(path, encoded) else "off"


def _save(path: Path, enc: Encoded) -> bool:
    arrays = {
        "ids_values": enc.ids.values,
        "ids_offsets": enc.ids.offsets,
        "types_values": enc.types.values,
    }
    if enc.ids_b is not None:
        arrays.update(b_values=enc.ids_b.values, b_offsets=enc.ids_b.offsets)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        return False
    return True


def _load(path: Path, split: TaskSplit) -> Encoded | None:
    """The entry, or None when it is unreadable or does not fit the split (then re-tokenize)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            ids = Ragged(npz["ids_values"], npz["ids_offsets"])
            types = Ragged(npz["types_values"], npz["ids_offsets"])
            ids_b = Ragged(npz["b_values"], npz["b_offsets"]) if "b_values" in npz else None
    except (OSError, ValueError, KeyError):
        return None
    if len(ids) != len(split) or (ids_b is not None and len(ids_b) != len(split)):
        return None
    return Encoded(split.task, ids, types, ids_b, split.labels, list(split.ids))
