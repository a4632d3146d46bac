"""`python -m study predict`: leaderboard files, exact dev-metric reproduction, bad input.

Trials train at smoke scale on a small copy of the real data files (their first rows, headers
kept verbatim, so sst-test-student.csv keeps its odd header and there is no Quora test file),
which keeps the whole-file predictions fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model.encoder import load_encoder, weights_sha256
from model.multitask import build_model
from study.cli import main
from study.data.files import load_split
from study.records import TrialRecord, append_record
from study.scales import scale_config
from study.train.checkpoint import save_trial
from study.train.run import run_trial
from tests.conftest import SMALL_ROWS

HEADER = {
    "sst": "id \t Predicted_Sentiment \n",
    "para": "id \t Predicted_Is_Paraphrase \n",
    "sts": "id \t Predicted_Similiarity \n",
}
LINE = re.compile(r"^(\S+) , (\S+) \n$")


def _train(folder: Path, data: Path, **changes) -> tuple[Path, dict]:
    config = scale_config("smoke").replace(data_dir=str(data), **changes)
    metrics = run_trial(config, run_dir=folder).to_dict()
    return folder, metrics


@pytest.fixture(scope="module")
def single_run(tmp_path_factory, small_data):
    return _train(tmp_path_factory.mktemp("single") / "run", small_data)


@pytest.fixture(scope="module")
def sequential_run(tmp_path_factory, small_data):
    # Design 1 encodes the two sentences apart, so the non-joint path is covered too.
    return _train(
        tmp_path_factory.mktemp("seq") / "run",
        small_data,
        mode="sequential",
        head_design=1,
        task_order=("sts", "sst", "para"),
    )


@pytest.fixture(scope="module")
def untrained_run(tmp_path_factory, small_data) -> Path:
    """A real run folder saved from an untrained model: enough for the bad-input cases."""
    config = scale_config("smoke").replace(data_dir=str(small_data))
    folder = tmp_path_factory.mktemp("untrained") / "run"
    save_trial(
        build_model(config.model_spec(), load_encoder()),
        config,
        folder,
        {"model_sha256": weights_sha256()},
    )
    return folder


def _predict(capsys, *argv: str) -> tuple[int, dict, str]:
    """Run the CLI in-process; (exit code, the final JSON summary line, stderr)."""
    code = main(["predict", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "study", "predict", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _read_output(path: Path) -> tuple[str, list[str], list[str]]:
    """(header, ids, values) parsed with the leaderboard's line format."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    ids, values = [], []
    for line in lines[1:]:
        match = LINE.match(line)
        assert match, f"{path.name}: bad line {line!r}"
        ids.append(match.group(1))
        values.append(match.group(2))
    return lines[0], ids, values


def _check_values(task: str, values: list[str]) -> None:
    if task == "sst":
        assert {int(v) for v in values} <= {0, 1, 2, 3, 4}
    elif task == "para":
        assert {int(v) for v in values} <= {0, 1}
    else:
        assert all(0.0 <= float(v) <= 5.0 for v in values)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["single_run", "sequential_run"])
def test_dev_scores_equal_the_recorded_metrics(which, request, capsys, tmp_path):
    run_dir, metrics = request.getfixturevalue(which)
    code, summary, _ = _predict(capsys, str(run_dir), "--out", str(tmp_path))
    assert code == 0
    keys = ("sst", "para", "sts", "overall")
    assert summary["dev_subsample"] == {k: metrics[k] for k in keys}  # every digit
    meta = json.loads((run_dir / "meta.json").read_text())
    assert summary["recorded"] == {k: meta["dev"][k] for k in keys}
    assert summary["matches_recorded"] is True
    assert summary["dev_subsample_rows"] == metrics["dev_examples"]


@pytest.mark.slow
def test_dev_files_hold_every_row_in_file_order(single_run, small_data, capsys, tmp_path):
    run_dir, _ = single_run
    code, summary, _ = _predict(capsys, str(run_dir), "--split", "dev", "--out", str(tmp_path))
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "para-dev-output.csv",
        "sst-dev-output.csv",
        "sts-dev-output.csv",
    ]
    for task in ("sst", "para", "sts"):
        header, ids, values = _read_output(tmp_path / f"{task}-dev-output.csv")
        assert header == HEADER[task]
        assert ids == load_split(task, "dev", str(small_data)).ids
        _check_values(task, values)
    # The written files cover more rows than the trial's 64-row subsample.
    assert summary["dev_subsample_rows"]["sst"] < len(ids)
    assert set(summary["dev_full"]) == {"sst", "para", "sts", "overall"}


@pytest.mark.slow
def test_test_split_writes_sst_and_sts_and_notes_missing_quora(
    single_run, small_data, capsys, tmp_path
):
    run_dir, _ = single_run
    code, summary, err = _predict(capsys, str(run_dir), "--split", "test", "--out", str(tmp_path))
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sst-test-output.csv",
        "sts-test-output.csv",
    ]
    assert summary["skipped"] == ["para"]
    notes = [line for line in err.splitlines() if "quora-test-student.csv" in line]
    assert len(notes) == 1 and notes[0].startswith("note: para skipped")
    for task in ("sst", "sts"):
        header, ids, values = _read_output(tmp_path / f"{task}-test-output.csv")
        assert header == HEADER[task]
        assert ids == load_split(task, "test", str(small_data)).ids
        assert len(ids) == SMALL_ROWS["test"]
        _check_values(task, values)
    # The odd sst-test-student.csv header: ids come from its id column, not the float index.
    assert re.fullmatch(r"[0-9a-f]{25}", ids[0])


@pytest.mark.slow
def test_study_name_target_reproduces_the_best_row(single_run, sequential_run, tmp_path):
    """A fresh process, cwd holding runs/NAME: the best completed row's trial, same digits."""
    study_dir = tmp_path / "runs" / "mystudy"
    study_dir.mkdir(parents=True)
    keys = ("sst", "para", "sts", "overall")
    best, other = sorted([single_run, sequential_run], key=lambda r: -r[1]["overall"])
    rows = [
        {"trial_id": "a", "status": "errored", "overall": 9.0, "adapter_dir": None},
        {
            "trial_id": "b",
            "status": "completed",
            **{k: other[1][k] for k in keys},
            "adapter_dir": str(other[0]),
        },
        {
            "trial_id": "c",
            "status": "completed",
            **{k: best[1][k] for k in keys},
            "adapter_dir": str(best[0]),
        },
    ]
    for row in rows:
        append_record(study_dir, TrialRecord.from_dict(row))
    out = tmp_path / "out"
    proc = _cli("mystudy", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["run_dir"] == str(best[0])
    assert summary["dev_subsample"] == {k: best[1][k] for k in keys}
    assert summary["matches_recorded"] is True
    assert "best trial c" in proc.stdout
    assert (out / "sts-dev-output.csv").is_file()


def _bad_cases(run: Path, tmp: Path) -> dict[str, tuple[list[str], str]]:
    """case -> (argv, a word the one-line error must contain)."""
    empty = tmp / "empty"
    empty.mkdir()
    no_adapter = tmp / "no_adapter"
    shutil.copytree(run, no_adapter)
    shutil.rmtree(no_adapter / "checkpoint" / "adapters" / "para")
    other_model = tmp / "other_model"
    shutil.copytree(run, other_model)
    meta = json.loads((other_model / "meta.json").read_text())
    (other_model / "meta.json").write_text(json.dumps({**meta, "model_sha256": "0" * 64}))
    no_checkpoint = tmp / "no_checkpoint"
    no_checkpoint.mkdir()
    shutil.copy(run / "config.json", no_checkpoint / "config.json")
    bad_recipe = tmp / "bad_recipe"  # a merge.json makes it a merge trial's folder
    shutil.copytree(run, bad_recipe)
    (bad_recipe / "merge.json").write_text(json.dumps({"method": "fedavg"}))
    no_completed = tmp / "runs" / "failed"
    no_completed.mkdir(parents=True)
    errored = TrialRecord(trial_id="x", status="errored", adapter_dir=None)
    append_record(no_completed, errored)
    return {
        "not_a_trial": ([str(empty)], "not a trial folder"),
        "no_checkpoint": ([str(no_checkpoint)], "not a trial folder"),
        "missing_adapter": ([str(no_adapter)], "adapters/para/adapter_config.json is missing"),
        "bad_merge_recipe": ([str(bad_recipe)], "merge recipe"),
        "other_checksum": ([str(other_model)], "sha256"),
        "unknown_split": ([str(run), "--split", "train"], "--split"),
        "unknown_study": (["no_such_study"], "unknown study"),
        "no_completed_trial": (["failed"], "no completed trial"),
    }


def test_bad_input_is_one_line_and_exit_2(untrained_run, tmp_path):
    for case, (argv, word) in _bad_cases(untrained_run, tmp_path).items():
        proc = _cli(*argv, cwd=tmp_path)
        err = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (case, proc.stderr)
        assert len(err) == 1 and err[0].startswith("error: "), (case, proc.stderr)
        assert word in err[0], (case, err[0])
        assert "Traceback" not in proc.stderr
        assert not (tmp_path / "empty" / "predictions").exists()
    assert os.listdir(untrained_run / "checkpoint")  # the originals are untouched
