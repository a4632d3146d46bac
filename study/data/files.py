"""Read the minBERT-layout files (tab-separated despite .csv, CSV quoting) into per-task splits.

Files, columns and label rules are in data/README.md. Bad files raise a one-line DataError.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.errors import DataError

PROJECT_DATA = Path(__file__).resolve().parents[2] / "data"
DATA_DIR_ENV = "PEFT_STUDY_DATA_DIR"
CACHE_ENV = "PEFT_STUDY_CACHE"

FILE_NAMES = {
    ("sst", "train"): "sst-train.csv",
    ("sst", "dev"): "sst-dev.csv",
    ("sst", "test"): "sst-test-student.csv",
    ("para", "train"): "quora-train.csv",
    ("para", "dev"): "quora-dev.csv",
    ("para", "test"): "quora-test-student.csv",
    ("sts", "train"): "sts-train.csv",
    ("sts", "dev"): "sts-dev.csv",
    ("sts", "test"): "sts-test-student.csv",
}
TEXT_COLUMNS = {
    "sst": ("sentence",),
    "para": ("sentence1", "sentence2"),
    "sts": ("sentence1", "sentence2"),
}
LABEL_COLUMN = {"sst": "sentiment", "para": "is_duplicate", "sts": "similarity"}
LABEL_RULE = {"sst": "an integer 0-4", "para": "0 or 1", "sts": "a number in [0, 5]"}


class DataWarning(UserWarning):
    """Rows were skipped while reading a data file."""


@dataclass(frozen=True)
class TaskSplit:
    """One task's split: ids, one or two text columns, and labels (None for test files)."""

    task: str
    split: str
    path: str
    ids: list[str]
    text_a: list[str]
    text_b: list[str] | None
    labels: np.ndarray | None

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> TaskSplit:
        """The rows at `index`, in that order."""
        pick = [int(i) for i in index]
        return TaskSplit(
            self.task,
            self.split,
            self.path,
            [self.ids[i] for i in pick],
            [self.text_a[i] for i in pick],
            None if self.text_b is None else [self.text_b[i] for i in pick],
            None if self.labels is None else self.labels[pick],
        )


def cache_root() -> Path:
    """Where derived files are cached (tokens, baselines, shipped folders): $PEFT_STUDY_CACHE,
    else ~/.cache/peft-study."""
    root = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "peft-study")
    return Path(root).expanduser()


def resolve_data_dir(data_dir: str = "") -> Path:
    """`data_dir`, else $PEFT_STUDY_DATA_DIR, else the project's data/ folder."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV, "") or str(PROJECT_DATA)
    path = Path(chosen).expanduser()
    if path.exists() and not path.is_dir():
        raise DataError(
            f"data folder {path} is a file, not a folder; pass --data-dir with the folder of "
            "the minBERT files"
        )
    if not path.is_dir():
        raise DataError(
            f"data folder {path} does not exist; pass --data-dir with the minBERT files"
        )
    return path


def expected_columns(task: str, split: str) -> tuple[str, ...]:
    """Columns a file must have (test files carry no label)."""
    cols = ("id", *TEXT_COLUMNS[task])
    return cols if split == "test" else (*cols, LABEL_COLUMN[task])


def data_path(task: str, split: str, data_dir: str = "") -> Path:
    """The task's `split` file in the data folder (PEFT_STUDY_DATA_DIR or data/ by default)."""
    return resolve_data_dir(data_dir) / FILE_NAMES[task, split]


def load_split(task: str, split: str, data_dir: str = "") -> TaskSplit:
    """Read one file; skip rows whose label is empty or not a number, with one warning."""
    if (task, split) not in FILE_NAMES:
        raise DataError(
            f"unknown task/split {task}/{split}; tasks: sst, para, sts; splits: train, dev, test"
        )
    path = data_path(task, split, data_dir)
    want = expected_columns(task, split)
    rows = _read_rows(path, want)
    ids, text_a, text_b, labels, skipped = [], [], [], [], 0
    label_col = None if split == "test" else LABEL_COLUMN[task]
    for line_no, row in rows:
        label = None
        if label_col is not None:
            label = _parse_label(task, row.get(label_col) or "", path, line_no)
            if label is None:
                skipped += 1
                continue
            labels.append(label)
        ids.append(row["id"])
        text_a.append(row[TEXT_COLUMNS[task][0]] or "")
        if len(TEXT_COLUMNS[task]) == 2:
            text_b.append(row[TEXT_COLUMNS[task][1]] or "")
    if skipped:
        warnings.warn(
            f"{path.name}: skipped {skipped} row(s) with an empty or non-numeric {label_col}",
            DataWarning,
            stacklevel=2,
        )
    if not ids:
        raise DataError(f"{path}: no usable rows; expected tab-separated columns {', '.join(want)}")
    dtype = np.int64 if task == "sst" else np.float32
    return TaskSplit(
        task,
        split,
        str(path),
        ids,
        text_a,
        text_b if len(TEXT_COLUMNS[task]) == 2 else None,
        None if label_col is None else np.asarray(labels, dtype=dtype),
    )


def subsample_index(n_rows: int, count: int, seed: int) -> np.ndarray:
    """Seeded choice of `count` rows (all when count is 0 or too large), in file order."""
    if count <= 0 or count >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).permutation(n_rows)[:count])


def _read_rows(path: Path, want: tuple[str, ...]) -> list[tuple[int, dict]]:
    cols = ", ".join(want)
    if path.is_dir():
        raise DataError(f"{path} is a folder; expected a tab-separated file with columns {cols}")
    if not path.is_file():
        raise DataError(
            f"{path}: file not found; expected a tab-separated file with columns {cols}"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); save it as UTF-8"
        ) from None
    if not text.strip():
        raise DataError(
            f"{path}: file is empty; expected a tab-separated header with columns {cols}"
        )
    # StringIO(newline=""), not splitlines(): a field may hold U+2028, \x85 or \x0c, which
    # splitlines() would treat as row ends.
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t")
    header = reader.fieldnames or []
    missing = [c for c in want if c not in header]
    if missing:
        hint = " (is it tab-separated?)" if len(header) <= 1 else ""
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}{hint}; expected tab-separated columns {cols}"
        )
    try:
        return [(reader.line_num, row) for row in reader]  # line_num: the row's last line
    except csv.Error as err:  # e.g. a field over csv.field_size_limit(): an unclosed quote
        raise DataError(
            f"{path}: line {reader.line_num + 1}: {err} (an unclosed quote?); expected tab-separated "
            f"columns {cols}"
        ) from None


def _parse_label(task: str, text: str, path: Path, line_no: int) -> float | int | None:
    """None for an empty or non-numeric label (skipped); DataError when out of range."""
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value:
        return None
    ok = {
        "sst": value in (0, 1, 2, 3, 4),
        "para": value in (0, 1),
        "sts": 0 <= value <= 5,
    }[task]
    if not ok:
        raise DataError(
            f"{path}: line {line_no}: {LABEL_COLUMN[task]}={text} is out of range; must be {LABEL_RULE[task]}"
        )
    return int(value) if task in ("sst", "para") else value
