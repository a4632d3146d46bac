"""Tokenized data: the token cache (identical encodings, keyed by the file's hash), the
subsample a trial takes from it, ragged rows and collate."""

from __future__ import annotations

import os

import numpy as np
import pytest

from study.data.batching import Ragged, collate, encode
from study.data.files import load_split
from tests.conftest import DATA


@pytest.fixture(scope="module")
def tokenizer():
    from model.encoder import load_tokenizer

    return load_tokenizer()


def _same(a, b) -> bool:
    parts = [(a.ids, b.ids), (a.types, b.types)]
    if a.ids_b is not None or b.ids_b is not None:
        parts.append((a.ids_b, b.ids_b))
    return all(
        np.array_equal(x.values, y.values) and np.array_equal(x.offsets, y.offsets)
        for x, y in parts
    )


def test_token_cache_hits_with_identical_encodings_and_misses_on_a_changed_file(
    tmp_path, monkeypatch, tokenizer
):
    from study.data.token_cache import encode_file, entry_path

    monkeypatch.setenv("PEFT_STUDY_CACHE", str(tmp_path / "cache"))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    lines = (DATA / "sts-dev.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (data_dir / "sts-dev.csv").write_text("".join(lines[:41]), encoding="utf-8")
    where = str(data_dir)

    split = load_split("sts", "dev", where)
    for joint in (True, False):
        first, status = encode_file("sts", "dev", where, tokenizer, 64, joint)
        assert status == "miss" and entry_path("sts", "dev", where, tokenizer, 64, joint).is_file()
        again, status = encode_file("sts", "dev", where, tokenizer, 64, joint)
        assert status == "hit"
        direct = encode(split, tokenizer, 64, joint)
        assert _same(again, direct) and _same(first, direct)
        assert again.row_ids == split.ids and again.task == "sts"
        assert again.labels.dtype == split.labels.dtype
        assert np.array_equal(again.labels, split.labels)
    assert encode_file("sts", "dev", where, tokenizer, 32, True)[1] == "miss"  # max_len is keyed

    # the same rows with one sentence changed: a new file hash, so the old entry is not used
    old_entry = entry_path("sts", "dev", where, tokenizer, 64, True)
    changed = lines[:41]
    cells = changed[5].split("\t")  # index, id, sentence1, sentence2, similarity
    cells[2] = "Changed words here " + cells[2]
    changed[5] = "\t".join(cells)
    (data_dir / "sts-dev.csv").write_text("".join(changed), encoding="utf-8")
    assert entry_path("sts", "dev", where, tokenizer, 64, True) != old_entry
    enc2, status = encode_file("sts", "dev", where, tokenizer, 64, True)
    assert status == "miss"
    split2 = load_split("sts", "dev", where)
    assert _same(enc2, encode(split2, tokenizer, 64, True))
    assert not _same(enc2, encode(split, tokenizer, 64, True))


def test_trial_data_is_the_cached_whole_file_subsampled(tmp_path, monkeypatch, tokenizer):
    from study.data import splits as dataset
    from study.data.files import subsample_index
    from study.scales import scale_config

    monkeypatch.setenv("PEFT_STUDY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dataset, "_CACHE", {})
    config = scale_config("smoke")
    before = dict(dataset.CACHE_STATS)
    dev = dataset.task_data(config, "dev", tokenizer, "key")
    assert dataset.CACHE_STATS["miss"] - before["miss"] == 3
    monkeypatch.setattr(dataset, "_CACHE", {})  # a new process: only the disk cache is left
    again = dataset.task_data(config, "dev", tokenizer, "key")
    assert dataset.CACHE_STATS["hit"] - before["hit"] == 3
    for task in ("sst", "para", "sts"):
        split = load_split(task, "dev")
        index = subsample_index(
            len(split), config.dev_per_task, 500 + ("sst", "para", "sts").index(task)
        )
        expected = encode(split.subset(index), tokenizer, config.max_len, joint=True)
        assert _same(dev[task], expected) and _same(again[task], expected)
        assert dev[task].row_ids == expected.row_ids


def test_ragged_rows_pad_and_take_like_lists():
    rows = [[5, 6, 7], [8], [9, 10, 11, 12, 13], [14, 15]]
    r = Ragged.from_lists(rows)
    assert len(r) == 4 and r.lengths().tolist() == [3, 1, 5, 2]
    index = np.array([3, 0, 2])
    taken = r.take(index)
    assert [taken.row(i).tolist() for i in range(3)] == [rows[i] for i in index]
    ids, mask = r.pad(index)
    assert ids.tolist() == [[14, 15, 0, 0, 0], [5, 6, 7, 0, 0], [9, 10, 11, 12, 13]]
    assert mask.sum(1).tolist() == [2, 3, 5]


def test_collate_pads_real_pairs_per_batch(tokenizer):
    split = load_split("sts", "dev")
    enc = encode(split, tokenizer, 128, joint=False)
    index = np.array([7, 2, 30])
    batch = collate(enc, index)
    ref = tokenizer([split.text_a[i] for i in index], padding=True, return_tensors="np")
    assert np.array_equal(batch["input_ids"].numpy(), ref["input_ids"])
    assert np.array_equal(batch["attention_mask"].numpy(), ref["attention_mask"])
    ref_b = tokenizer([split.text_b[i] for i in index], padding=True, return_tensors="np")
    assert np.array_equal(batch["input_ids_b"].numpy(), ref_b["input_ids"])
    assert np.allclose(batch["labels"].numpy(), split.labels[index])
    sub = enc.subset(index)
    assert _same(sub, encode(split.subset(index), tokenizer, 128, joint=False))


def test_cache_folder_is_the_env_or_home(monkeypatch, tmp_path):
    from study.data.token_cache import cache_dir

    monkeypatch.setenv("PEFT_STUDY_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path / "tokens"
    monkeypatch.delenv("PEFT_STUDY_CACHE")
    assert str(cache_dir()).endswith(os.path.join(".cache", "peft-study", "tokens"))
