"""JSON files a study folder holds (study.json, config.json, meta.json): written whole or not at
all, read back with a one-line error naming a file that is not a JSON object."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from study.errors import UserError


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write JSON beside, fsync, rename: whole or absent. An OSError is a one-line UserError."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if tmp.is_file():  # a half-written copy; `path` itself was never touched
            tmp.unlink()
        raise UserError(f"cannot write {path}: {err.strerror or type(err).__name__}") from None


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON object from a file; a UserError names a file that is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object")
    return data
