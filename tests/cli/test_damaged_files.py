"""Every file read back from a run or study folder, damaged or missing, is one line naming it
and exit code 2 (predict, report, run --resume), never a library's traceback; a damaged token
cache entry is rebuilt with one warning. Each file is damaged in turn, in a copy of a real
saved run folder (save_trial's own layout) and of a study folder whose row points at it."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from model.encoder import load_encoder, load_tokenizer, weights_sha256
from model.multitask import build_model
from study.cli import main
from study.data.files import CACHE_ENV
from study.data.token_cache import encode_file, entry_path
from study.records import STUDY_META, StudyMeta, TrialRecord, append_record, write_meta
from study.scales import scale_config
from study.train.checkpoint import save_trial

ADAPTER = "checkpoint/adapters/sst"
RUN_FILES = (
    "config.json",
    "meta.json",
    "checkpoint/heads.safetensors",
    f"{ADAPTER}/adapter_model.safetensors",
    f"{ADAPTER}/adapter_config.json",
)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, small_data) -> Path:
    config = scale_config("smoke").replace(data_dir=str(small_data))
    folder = tmp_path_factory.mktemp("saved") / "run"
    model = build_model(config.model_spec(), load_encoder())
    save_trial(model, config, folder, {"model_sha256": weights_sha256(), "dev": None})
    return folder


def _torn(path: Path) -> None:
    """What a full disk or an interrupted copy leaves: the file's first bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: min(100, len(data) // 2)])


def _one_line(capsys, code: int) -> str:  # noqa: ANN001
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and len(err) <= 2, err
    return errors[0]


@pytest.mark.parametrize("damage", ["torn", "missing"])
@pytest.mark.parametrize("name", RUN_FILES)
def test_predict_names_a_damaged_run_file(saved_run, tmp_path, capsys, name, damage):
    run = tmp_path / "run"
    shutil.copytree(saved_run, run)
    if damage == "torn":
        _torn(run / name)
    else:
        (run / name).unlink()
    code = main(["predict", str(run), "--out", str(tmp_path / "out")])
    if (name, damage) == ("meta.json", "missing"):  # optional: no checksum, nothing recorded
        assert code == 0
        return
    line = _one_line(capsys, code)
    assert Path(name).name in line, line
    assert not (tmp_path / "out").exists()
    assert (run / "config.json").exists() or name == "config.json"  # nothing else removed


def _study(tmp_path: Path, run: Path) -> Path:
    """A study folder whose rows point at the run: three rows, so a damaged middle one is not
    the torn last line a crash mid-write may leave."""
    study = tmp_path / "study"
    study.mkdir()
    config = json.loads((run / "config.json").read_text())
    for n in range(3):
        row = TrialRecord(
            trial_id=f"t{n}",
            status="completed",
            config=config,
            adapter_dir=str(run),
            sst=0.3,
            para=0.7,
            sts=0.8,
            overall=0.65,
            val_overall=0.6 + n / 100,
            final=True,
        )
        append_record(study, row)
    write_meta(study, StudyMeta(study="smoke", scale="smoke"))
    return study


def test_a_torn_last_row_is_a_crash_mid_write_and_is_skipped(saved_run, tmp_path, capsys):
    study = _study(tmp_path, saved_run)
    path = study / "trials.jsonl"
    path.write_text(path.read_text()[:-30])
    code = main(["predict", str(study), "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["out"]


def test_a_damaged_study_json_stops_report_and_resume(saved_run, tmp_path, capsys):
    study = _study(tmp_path, saved_run)
    _torn(study / STUDY_META)
    line = _one_line(capsys, main(["report", str(study)]))
    assert f"{study / STUDY_META} is not valid JSON" in line
    resume = ["run", "smoke", "--scale", "smoke", "--resume", "--out", str(study)]
    line = _one_line(capsys, main(resume))
    assert f"{study / STUDY_META} is not valid JSON" in line
    assert (study / "trials.jsonl").read_text().count("\n") == 3  # nothing lost


def test_a_damaged_token_cache_entry_is_rebuilt_with_one_warning(small_data, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # not the user's cache
    tokenizer = load_tokenizer()
    args = ("sst", "dev", str(small_data), tokenizer, 128, True)
    first, _ = encode_file(*args)
    path = entry_path(*args[:-2], 128, True)
    _torn(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again, status = encode_file(*args)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and f"token cache entry {path} is damaged" in messages[0]
    assert status == "miss" and again.row_ids == first.row_ids
    assert encode_file(*args)[1] == "hit"  # replaced by a whole entry
