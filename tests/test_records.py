"""The best trial a study names is chosen on validation, never on dev (the tables report dev)."""

from __future__ import annotations

import json

import pytest

from study.atomic import write_json_atomic
from study.cli import main
from study.predict import best_trial
from study.records import (
    META_FORMAT,
    RECORD_FORMAT,
    STUDY_META,
    TRIALS,
    MetaFormatError,
    RecordFormatError,
    Status,
    StudyMeta,
    TrialRecord,
    append_record,
    best,
    best_record,
    rank_configurations,
    read_meta,
    read_records,
    write_meta,
)


def _row(trial_id: str, status: str, val: float | None, dev: float) -> TrialRecord:
    return TrialRecord(trial_id=trial_id, status=status, val_overall=val, overall=dev)


def test_best_record_selects_on_validation_among_completed_rows(tmp_path):
    for row in (
        _row("high_dev", "completed", 0.70, 0.80),  # best on dev: must not be chosen
        _row("high_val", "completed", 0.76, 0.72),
        _row("stopped", "stopped_early", 0.90, 0.90),  # fewer epochs: not a candidate
        _row("failed", "errored", None, 0.95),
    ):
        append_record(tmp_path, row)
    assert best_record(tmp_path).trial_id == "high_val"


def test_rows_without_a_validation_split_select_on_dev(tmp_path):
    append_record(tmp_path, _row("a", "completed", None, 0.71))
    append_record(tmp_path, _row("b", "completed", None, 0.73))
    assert best_record(tmp_path).trial_id == "b"
    assert best_record(tmp_path / "empty") is None


# ---- one best(): mean validation over a configuration's seeds, fixed tie-breaks ----


def _seeded(lr: float, seed: int, val: float, dev: float = 0.7) -> TrialRecord:
    config = {"method": "lora", "r": 8, "lr": lr, "seed": seed}
    return TrialRecord(
        config=config,
        seed=seed,
        status=Status.COMPLETED,
        val_overall=val,
        overall=dev,
        trial_id=f"lr{lr}-s{seed}",
    )


def test_best_picks_the_configuration_by_its_mean_then_its_best_seed():
    steady = [_seeded(1e-4, s, v) for s, v in ((0, 0.74), (1, 0.75), (2, 0.76))]
    lucky = [_seeded(2e-4, 0, 0.80), _seeded(2e-4, 1, 0.60), _seeded(2e-4, 2, 0.62)]
    for order in (steady + lucky, lucky + steady, list(reversed(steady + lucky))):
        assert best(order).trial_id == "lr0.0001-s2"  # mean 0.75 beats 0.673; its best seed
    ranked = rank_configurations(steady + lucky)
    assert [round(c.mean_score, 4) for c in ranked] == [0.75, 0.6733]


def test_best_ties_go_to_more_seeds_then_the_key_and_never_to_file_order():
    one = [_seeded(3e-4, 0, 0.75)]
    two = [_seeded(1e-4, 0, 0.75), _seeded(1e-4, 1, 0.75)]
    assert best(one + two).trial_id == best(two + one).trial_id == "lr0.0001-s0"
    a, b = _seeded(5e-4, 0, 0.7), _seeded(4e-4, 0, 0.7)
    assert best([a, b]).trial_id == best([b, a]).trial_id  # the key decides, not the order
    assert best([]) is None and best([_row("x", "errored", 0.9, 0.9)]) is None


def test_predict_and_the_record_file_name_the_same_best_trial(tmp_path):
    rows = [_seeded(1e-4, 0, 0.74), _seeded(1e-4, 1, 0.76), _seeded(2e-4, 0, 0.77)]
    for r in rows:
        run = tmp_path / "runs" / r.trial_id
        run.mkdir(parents=True)
        append_record(tmp_path, r.replace(adapter_dir=str(run)))
    _, chosen = best_trial(tmp_path)
    assert chosen.trial_id == best_record(tmp_path).trial_id == "lr0.0002-s0"  # 0.77 > 0.75


# ---- formats: the unversioned rows of earlier releases load; newer ones are refused ----

# As release 0.1 wrote a merge trial: no `format`, the merge's settings beside the scores,
# and the epoch losses as loss_<task> keys.
FORMAT_1_ROW = {
    "trial_id": "m1",
    "status": "completed",
    "kind": "merge",
    "overall": 0.71,
    "merge_method": "fedavg",
    "lambdas": {"sst": 1.0, "para": 0.5, "sts": 0.5},
    "merge_weights": {"sst": 0.5, "para": 0.25, "sts": 0.25},
    "stage1_dir": "stage1",
    "history": [{"epoch": 1, "overall": 0.7, "loss_sst": 1.2, "loss_para": 0.4}],
}


def test_a_format_1_row_loads_with_its_merge_settings_and_losses(tmp_path):
    (tmp_path / TRIALS).write_text(json.dumps(FORMAT_1_ROW) + "\n")
    (record,) = read_records(tmp_path)
    assert record.format == 1 and record.status is Status.COMPLETED and record.is_merge
    assert record.merge.method == "fedavg" and record.merge.weights["sst"] == 0.5
    assert record.merge.stage1_dir == "stage1"
    assert record.history[0].losses == {"sst": 1.2, "para": 0.4}
    again = TrialRecord.from_json(record.to_json())
    assert again.format == 1 and again.merge == record.merge  # a rewrite keeps its meaning


def test_a_row_of_a_newer_format_is_refused_in_one_line_naming_its_version(tmp_path, capsys):
    append_record(tmp_path, _row("ok", "completed", 0.7, 0.7))
    with open(tmp_path / TRIALS, "a") as fh:
        fh.write(json.dumps({"format": RECORD_FORMAT + 1, "trial_id": "new"}) + "\n")
    with pytest.raises(RecordFormatError, match=f"format {RECORD_FORMAT + 1}"):
        read_records(tmp_path)
    assert main(["predict", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"format {RECORD_FORMAT + 1}" in err and "upgrade" in err


def test_an_unknown_status_is_refused_in_one_line(tmp_path):
    (tmp_path / TRIALS).write_text(json.dumps({"format": 2, "status": "paused"}) + "\n")
    with pytest.raises(RecordFormatError, match="status 'paused'; known: completed"):
        read_records(tmp_path)


def test_study_json_of_format_1_loads_and_a_newer_one_is_refused(tmp_path):
    floors = {"sst": 0.28, "overall": 0.65}
    old = {"study": "lora_sweep", "scale": "cpu", "samples": 8, "baseline": {"dev": floors}}
    write_json_atomic(tmp_path / STUDY_META, old)
    meta = read_meta(tmp_path)
    assert meta.format == 1 and meta.study == "lora_sweep" and meta.samples == 8
    assert meta.floors() == {"sst": 0.28, "overall": 0.65} and meta.recipe_version == 1
    write_meta(tmp_path, StudyMeta(study="x", scale="smoke"))
    assert read_meta(tmp_path) == StudyMeta(study="x", scale="smoke")
    write_json_atomic(tmp_path / STUDY_META, {"format": META_FORMAT + 1, "study": "x"})
    with pytest.raises(MetaFormatError, match=f"format {META_FORMAT + 1}, newer"):
        read_meta(tmp_path)
    assert read_meta(tmp_path / "none") is None
