"""The best trial a study names is chosen on validation, never on dev (the tables report dev)."""

from __future__ import annotations

from study.records import TrialRecord, append_record, best_record


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
