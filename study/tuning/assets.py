"""Ship a data folder or a model folder to cluster nodes that lack it (no shared filesystem).

The driver packs the files a trial needs into a dict of bytes; Ray carries it through the
object store (tune.with_parameters). A worker whose node lacks the original path unpacks it
once into a cache folder keyed by the content hash, and points the config there.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from study.atomic import atomic_dir
from study.data.files import FILE_NAMES, cache_root, resolve_data_dir

MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def pack_data(data_dir: str) -> dict[str, bytes]:
    """The minBERT files present in the data folder, by file name."""
    root = resolve_data_dir(data_dir)
    return {
        name: (root / name).read_bytes()
        for name in sorted(set(FILE_NAMES.values()))
        if (root / name).is_file()
    }


def pack_model(model_path: str) -> dict[str, bytes]:
    """The files of a local BERT folder that loading needs."""
    root = Path(model_path)
    return {name: (root / name).read_bytes() for name in MODEL_FILES if (root / name).is_file()}


def materialize(files: dict[str, bytes], kind: str) -> str:
    """Write `files` once under the cache (content-addressed); return the folder."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(hashlib.sha256(files[name]).digest())
    folder = cache_root() / kind / digest.hexdigest()[:16]
    if (folder / ".complete").is_file():
        return str(folder)
    with atomic_dir(folder, replace=False) as tmp:  # another worker may win the race
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / ".complete").write_text("ok")
    return str(folder)
