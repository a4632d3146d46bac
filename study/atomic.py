"""The one way this project writes a file or a folder it may read back: whole or not at all.

A file is written beside its final name, flushed, fsync'ed and renamed over it (os.replace is
atomic on POSIX), so a reader, a crash or a full disk never leaves half a file under the real
name. A folder is built beside and renamed into place the same way. An OSError (read-only,
disk full, a folder in the way) becomes a one-line UserError naming the path; what was there
before is left as it was. trials.jsonl is the one file appended to instead (records/jsonl.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from model.files import RESTORE
from study.errors import FolderError, UserError


def _tmp_name(path: Path, unique: bool) -> Path:
    """Beside `path`; `unique` (files several processes may write at once, such as a cache
    entry) adds the pid, so two writers never share a temporary file."""
    return path.with_name(f"{path.name}.{os.getpid()}.tmp" if unique else f"{path.name}.tmp")


def _cannot_write(path: Path, err: OSError) -> UserError:
    return UserError(f"cannot write {path}: {err.strerror or type(err).__name__}")


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb", unique: bool = False) -> Iterator[IO[Any]]:
    """`with atomic_file(p, "w") as fh: ...` writes p whole or not at all (module docstring)."""
    path = Path(path)
    tmp = _tmp_name(path, unique)
    encoding = None if "b" in mode else "utf-8"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        _discard(tmp)
        raise _cannot_write(path, err) from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    if tmp.is_file():  # a half-written copy; the real file was never touched
        tmp.unlink()


def write_bytes(path: str | Path, data: bytes, unique: bool = False) -> Path:
    with atomic_file(path, "wb", unique) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_file(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> Path:
    """JSON, indented, keys sorted (study.json, config.json, meta.json, merge.json)."""
    with atomic_file(path, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
    return Path(path)


def copy_file(source: str | Path, path: str | Path) -> Path:
    """A copy of `source` at `path`, whole or absent."""
    with open(source, "rb") as src, atomic_file(path, "wb") as fh:
        shutil.copyfileobj(src, fh)
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: str | Path, replace: bool = True) -> Iterator[Path]:
    """`with atomic_dir(p) as tmp:` fill the folder `tmp`; on success it becomes `p`.

    replace=False keeps a `p` that appeared meanwhile (another worker built the same
    content-addressed folder) and drops ours. A failure leaves the old `p` untouched."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        yield tmp
        if path.exists() and not replace:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        if path.exists():
            old = path.with_name(f"{path.name}.{os.getpid()}.old")
            os.replace(path, old)  # a folder cannot be renamed over a non-empty one
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if not replace and path.is_dir():  # lost a race to an equal folder: fine
            return
        raise _cannot_write(path, err) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON object from a file; a FolderError names a file that is missing or not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise FolderError(f"{path} is not valid JSON (damaged?); {RESTORE}") from None
    except FileNotFoundError:
        raise FolderError(f"{path} is missing; {RESTORE}") from None
    except OSError as err:
        raise FolderError(f"cannot read {path}: {err.strerror or type(err).__name__}") from None
    if not isinstance(data, dict):
        raise FolderError(f"{path} must hold a JSON object (damaged?); {RESTORE}")
    return data
