"""The validation split: carved from the training file, disjoint from every trial's training
subsample and from dev, checked by row ids on the real files."""

from __future__ import annotations

from study.config import TASKS
from study.data.splits import data_sizes, split_ids
from study.scales import scale_config


def test_validation_is_disjoint_from_training_and_dev_by_ids():
    config = scale_config("cpu")
    assert config.val_per_task > 0
    for task in TASKS:
        train, val = set(split_ids(config, task, "train")), set(split_ids(config, task, "val"))
        dev = set(split_ids(config, task, "dev"))
        assert len(val) == config.val_per_task and len(train) == config.train_per_task
        assert not train & val and not val & dev and not train & dev
        # another seed trains on other rows, never on this validation split
        other = config.replace(seed=7, train_per_task=4000)
        assert not set(split_ids(other, task, "train")) & val
        assert set(split_ids(other, task, "val")) == val  # the seed does not move the split


def test_the_data_seed_moves_every_split_and_sizes_are_recorded():
    config = scale_config("cpu")
    moved = config.replace(data_seed=1)
    assert set(split_ids(moved, "sst", "val")) != set(split_ids(config, "sst", "val"))
    sizes = data_sizes(config)
    assert sizes["para"]["val"] == config.val_per_task
    assert sizes["para"]["train"] == config.train_per_task
    assert sizes["sts"]["dev"] == config.dev_per_task and sizes["sts"]["dev_file"] == 863


def test_without_a_validation_split_train_is_the_old_subsample():
    from study.data.files import load_split, subsample_index

    config = scale_config("cpu").replace(val_per_task=0)
    ids = load_split("sst", "train").ids
    expected = [ids[i] for i in subsample_index(len(ids), config.train_per_task, 0)]
    assert split_ids(config, "sst", "train") == expected
    assert split_ids(config, "sst", "val") == []
