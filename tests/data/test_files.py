"""The minBERT-layout loader: real files, and malformed files that must fail with one line."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from study.data.files import (
    DATA_DIR_ENV,
    DataWarning,
    load_split,
    resolve_data_dir,
    subsample_index,
)
from study.errors import DataError, UserError
from tests.conftest import DATA

STS_HEADER = "\tid\tsentence1\tsentence2\tsimilarity\n"
SST_HEADER = "\tid\tsentence\tsentiment\n"


def _load_error(task: str, split: str, folder) -> str:
    """Load and return the DataError's message, checked to be one line naming the file."""
    with pytest.raises(DataError) as info:
        load_split(task, split, str(folder))
    message = str(info.value)
    assert "\n" not in message
    assert isinstance(info.value, UserError)
    return message


# --- real files ---------------------------------------------------------------------------


def test_quora_dev_skips_two_broken_rows_with_one_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split = load_split("para", "dev")
    data_warnings = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(data_warnings) == 1
    assert "quora-dev.csv" in str(data_warnings[0].message)
    assert "skipped 2 row(s)" in str(data_warnings[0].message)
    assert len(split) == 20212
    assert len(split.ids) == len(split.text_a) == len(split.text_b) == len(split.labels)
    assert set(np.unique(split.labels)) == {0.0, 1.0}


@pytest.mark.parametrize(
    ("task", "split", "rows"),
    [
        ("sst", "train", 8544),
        ("sst", "dev", 1101),
        ("para", "train", 13507),
        ("sts", "train", 6040),
        ("sts", "dev", 863),
        ("sts", "test", 1725),
    ],
)
def test_real_file_row_counts(task, split, rows):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # these files have no broken rows
        data = load_split(task, split)
    assert len(data) == rows
    assert len(set(data.ids)) == rows
    if split == "test":
        assert data.labels is None
    elif task == "sst":
        assert data.labels.dtype == np.int64
        assert set(np.unique(data.labels)) == {0, 1, 2, 3, 4}
    else:
        assert 0.0 <= data.labels.min() and data.labels.max() <= 5.0


def test_sst_test_student_odd_header():
    # header is "0<TAB><TAB>id<TAB>sentence": the id column is found by name, not position.
    data = load_split("sst", "test")
    assert len(data) == 2210
    assert data.labels is None and data.text_b is None
    assert all(len(i) == 25 for i in data.ids)
    assert data.ids[0] == "b7573736a6ddf7be102b7fee0"
    assert data.text_a[0] == " Effective but too-tepid biopic"


@pytest.mark.parametrize(
    ("task", "split", "name", "column"),
    [
        ("para", "train", "quora-train.csv", "sentence2"),
        ("sst", "train", "sst-train.csv", "sentence"),
        ("sts", "dev", "sts-dev.csv", "sentence1"),
    ],
)
def test_same_rows_as_pandas(task, split, name, column):
    # pandas' tab-separated CSV reader undoes the "" quoting the same way (data/README.md).
    frame = pd.read_csv(DATA / name, sep="\t", dtype=str, keep_default_na=False)
    data = load_split(task, split)
    assert data.ids == frame["id"].tolist()
    texts = data.text_a if column in ("sentence", "sentence1") else data.text_b
    assert texts == frame[column].tolist()


def test_quoted_field_is_unquoted_once():
    with pytest.warns(DataWarning):  # the 2 broken rows
        data = load_split("para", "dev")
    row = data.ids.index("318658e273ac78f3b1e957b8b")
    # the file holds """Which ... Do I need """"the"""" here?""" (a quoted, already-quoted text)
    assert data.text_a[row].startswith('"Which is correct grammar')
    assert data.text_a[row].endswith('Do I need ""the"" here?"')


def test_no_quora_test_file():
    message = _load_error("para", "test", DATA)
    assert "quora-test-student.csv" in message and "not found" in message


# --- where the data comes from -------------------------------------------------------------


def test_data_dir_argument_and_env(tmp_path, monkeypatch):
    shutil.copy(DATA / "sts-dev.csv", tmp_path / "sts-dev.csv")
    (tmp_path / "sst-dev.csv").write_text(SST_HEADER + "0\ta1\t good .\t3\n", encoding="utf-8")
    from_arg = load_split("sst", "dev", str(tmp_path))
    assert len(from_arg) == 1 and from_arg.path == str(tmp_path / "sst-dev.csv")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert resolve_data_dir() == tmp_path
    from_env = load_split("sst", "dev")
    assert from_env.ids == ["a1"] and from_env.labels.tolist() == [3]
    assert len(load_split("sts", "dev")) == 863
    # the argument wins over the environment
    assert len(load_split("sst", "dev", str(DATA))) == 1101


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="does not exist") as info:
        resolve_data_dir(str(tmp_path / "nowhere"))
    assert "nowhere" in str(info.value)


def test_unknown_task_or_split():
    with pytest.raises(DataError, match="unknown task/split"):
        load_split("mnli", "dev")
    with pytest.raises(DataError, match="unknown task/split"):
        load_split("sst", "validation")


# --- malformed files -----------------------------------------------------------------------


def test_missing_column(tmp_path, write_file):
    write_file("sts-dev.csv", "\tid\tsentence1\tsimilarity\n0\ta\tx\t1.0\n")
    message = _load_error("sts", "dev", tmp_path)
    assert "sts-dev.csv" in message and "missing column(s) sentence2" in message


def test_empty_label_rows_are_skipped_with_one_warning(tmp_path, write_file):
    write_file(
        "sts-train.csv",
        STS_HEADER + "0\ta\tx\ty\t1.5\n1\tb\tx\ty\t\n2\tc\tx\ty\t4.0\n3\td\tx\ty\tn/a\n",
    )
    with pytest.warns(DataWarning) as record:
        data = load_split("sts", "train", str(tmp_path))
    assert len(record) == 1
    assert "sts-train.csv: skipped 2 row(s)" in str(record[0].message)
    assert data.ids == ["a", "c"]
    assert data.labels.tolist() == [1.5, 4.0]


def test_all_rows_unusable(tmp_path, write_file):
    write_file("sst-dev.csv", SST_HEADER + "0\ta\t x\t\n")
    with pytest.warns(DataWarning):
        message = _load_error("sst", "dev", tmp_path)
    assert "sst-dev.csv" in message and "no usable rows" in message


@pytest.mark.parametrize("content", ["", "\n\n", "   "])
def test_empty_file(tmp_path, write_file, content):
    write_file("sst-train.csv", content)
    message = _load_error("sst", "train", tmp_path)
    assert "sst-train.csv" in message and "empty" in message


def test_header_only_file(tmp_path, write_file):
    write_file("sst-train.csv", SST_HEADER)
    message = _load_error("sst", "train", tmp_path)
    assert "sst-train.csv" in message and "no usable rows" in message


def test_unusual_line_breaks_inside_fields(tmp_path, write_file):
    # U+2028, NEL and form feed are line ends for str.splitlines(), not for CSV rows.
    rows = '0\ta\t one\u2028two\t1\n1\tb\t x\x85y\x0cz\t2\r\n2\tc\t"q ""t"""\t3\n'
    write_file("sst-dev.csv", SST_HEADER + rows)
    data = load_split("sst", "dev", str(tmp_path))
    assert data.ids == ["a", "b", "c"]
    assert data.text_a == [" one\u2028two", " x\x85y\x0cz", 'q "t"']
    assert data.labels.tolist() == [1, 2, 3]


def test_missing_file(tmp_path):
    message = _load_error("sts", "train", tmp_path)
    assert "sts-train.csv" in message and "not found" in message


def test_comma_separated(tmp_path, write_file):
    write_file("sst-dev.csv", ",id,sentence,sentiment\n0,a,good,3\n")
    message = _load_error("sst", "dev", tmp_path)
    assert "sst-dev.csv" in message and "tab-separated" in message


def test_not_utf8(tmp_path, write_file):
    write_file("sst-dev.csv", SST_HEADER.encode() + b"0\ta\t caf\xe9 .\t3\n")
    message = _load_error("sst", "dev", tmp_path)
    assert "sst-dev.csv" in message and "not UTF-8" in message and "0xe9" in message


QUORA_HEADER = "\tid\tsentence1\tsentence2\tis_duplicate\n"


@pytest.mark.parametrize(
    ("task", "name", "header", "good", "bad", "shown"),
    [
        ("sst", "sst-train.csv", SST_HEADER, "0\tok\t x\t1\n", "1\tb\t x\t7\n", "sentiment=7"),
        ("sst", "sst-train.csv", SST_HEADER, "0\tok\t x\t1\n", "1\tb\t x\t2.5\n", "sentiment=2.5"),
        (
            "sts",
            "sts-train.csv",
            STS_HEADER,
            "0\tok\tx\ty\t1\n",
            "1\tb\tx\ty\t9.5\n",
            "similarity=9.5",
        ),
        (
            "sts",
            "sts-train.csv",
            STS_HEADER,
            "0\tok\tx\ty\t1\n",
            "1\tb\tx\ty\t-0.1\n",
            "similarity=-0.1",
        ),
        (
            "para",
            "quora-train.csv",
            QUORA_HEADER,
            "0\tok\tx\ty\t1.0\n",
            "1\tb\tx\ty\t2.0\n",
            "is_duplicate=2.0",
        ),
    ],
)
def test_label_out_of_range(tmp_path, write_file, task, name, header, good, bad, shown):
    write_file(name, header + good + bad)
    message = _load_error(task, "train", tmp_path)
    assert name in message and shown in message and "line 3" in message  # the bad row's line


# --- subsampling ---------------------------------------------------------------------------


def test_subsample_index_is_seeded_and_deterministic():
    a = subsample_index(1000, 64, seed=3)
    b = subsample_index(1000, 64, seed=3)
    c = subsample_index(1000, 64, seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len(a) == 64 and len(set(a.tolist())) == 64
    assert np.all(np.diff(a) > 0)  # file order
    assert a.min() >= 0 and a.max() < 1000
    assert np.array_equal(subsample_index(10, 0, seed=1), np.arange(10))
    assert np.array_equal(subsample_index(10, 50, seed=1), np.arange(10))


def test_subset_keeps_rows_aligned():
    data = load_split("sts", "dev")
    index = subsample_index(len(data), 5, seed=0)
    sub = data.subset(index)
    assert len(sub) == 5
    for j, i in enumerate(index):
        assert sub.ids[j] == data.ids[i]
        assert sub.text_b[j] == data.text_b[i]
        assert sub.labels[j] == data.labels[i]
