"""Helpers of test_bad_input.py: the CLI runner, broken copies of real data and model files,
and the Case record each bad-input case is."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from model.encoder import WEIGHTS, embedded_model_path
from tests.conftest import DATA, PROJECT


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """`python -m study ARGS` from the repository root, as a user runs it."""
    environ = {**os.environ, "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "study", *args],
        cwd=PROJECT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line of a failed command (warning: lines aside)."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "Ray dashboard" not in result.stderr, "failed only after Ray started"
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [ln for ln in result.stderr.splitlines() if ln and not ln.startswith("warning:")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert result.stdout == ""
    return lines[0]


# ---- builders of broken inputs (each returns the paths the case needs) ----


def data_with(tmp: Path, name: str, content: bytes | None) -> Path:
    """A data folder: every real file linked, `name` replaced by `content` (None: a folder)."""
    folder = tmp / "data"
    folder.mkdir(exist_ok=True)
    for real in DATA.glob("*.csv"):
        if real.name != name:
            (folder / real.name).symlink_to(real)
    if content is None:
        (folder / name).mkdir()
    else:
        (folder / name).write_bytes(content)
    return folder


def edited(name: str, edit: Callable[[list[str]], None]) -> bytes:
    """The real file `name` with its lines changed in place by `edit` (lines keep no newline)."""
    lines = (DATA / name).read_text(encoding="utf-8").split("\n")
    edit(lines)
    return "\n".join(lines).encode("utf-8")


def set_label(lines: list[str], value: str) -> None:
    """Put `value` in the label column (the last) of the first data row."""
    fields = lines[1].split("\t")
    lines[1] = "\t".join([*fields[:-1], value])


def model_folder(tmp: Path, config: dict | str) -> Path:
    folder = tmp / "model"
    folder.mkdir()
    text = config if isinstance(config, str) else json.dumps(config)
    (folder / "config.json").write_text(text)
    return folder


def corrupted_model_copy(tmp: Path) -> Path:
    """The embedded model with one byte of its weights flipped (other files linked)."""
    folder = tmp / "model"
    folder.mkdir()
    for item in embedded_model_path().iterdir():
        if item.name != WEIGHTS:
            (folder / item.name).symlink_to(item)
    weights = folder / WEIGHTS
    shutil.copyfile(embedded_model_path() / WEIGHTS, weights)
    with open(weights, "r+b") as fh:  # a byte inside the tensor data, past the JSON header
        fh.seek(weights.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))
    return folder


def other_study_folder(tmp: Path) -> Path:
    folder = tmp / "study"
    folder.mkdir()
    (folder / "study.json").write_text(json.dumps({"study": "lora_sweep", "scale": "smoke"}))
    return folder


# ---- the table ----

Argv = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Case:
    name: str
    argv: Argv
    expect: tuple[str, ...]
    """Substrings the error line must hold (what is wrong and what is allowed)."""
    env: dict[str, str] = field(default_factory=dict)


def train(*extra: str) -> list[str]:
    return ["train", "--scale", "smoke", *extra]


def run(*extra: str) -> list[str]:
    return ["run", "smoke", "--scale", "smoke", *extra]


def with_data(name: str, content: Callable[[], bytes | None]) -> Argv:
    return lambda tmp: train("--data-dir", str(data_with(tmp, name, content())))
