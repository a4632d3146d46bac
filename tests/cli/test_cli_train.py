"""`python -m study train` as a user runs it: a subprocess, its stdout, stderr and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT

RESULT_KEYS = {"sst", "para", "sts", "overall", "params_pct", "seconds"}


def _study(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # conftest has removed PEFT_STUDY_* from os.environ; `env` adds what a test wants.
    environ = {**os.environ, "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "study", *args],
        cwd=PROJECT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert result.stdout == ""
    return lines[0]


@pytest.mark.slow
def test_train_smoke_prints_one_json_line(tmp_path):
    out = tmp_path / "run"
    result = _study("train", "--scale", "smoke", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    metrics = json.loads(lines[0])
    assert RESULT_KEYS <= set(metrics)
    assert 0.0 <= metrics["sst"] <= 1.0 and 0.0 <= metrics["para"] <= 1.0
    assert -1.0 <= metrics["sts"] <= 1.0
    assert metrics["overall"] == pytest.approx(
        (metrics["sst"] + metrics["para"] + (metrics["sts"] + 1) / 2) / 3
    )
    assert 0.0 < metrics["params_pct"] < 100.0 and metrics["seconds"] > 0
    assert json.loads((out / "metrics.json").read_text())["overall"] == metrics["overall"]
    assert (out / "checkpoint").is_dir()


def test_bad_value_exits_2_naming_the_field():
    line = _one_error_line(_study("train", "--set", "r=0"))
    assert "r=0" in line


def test_unknown_key_exits_2():
    line = _one_error_line(_study("train", "--set", "nosuch=1"))
    assert "nosuch" in line


def test_unknown_scale_exits_2():
    assert "--scale 'huge'" in _one_error_line(_study("train", "--scale", "huge"))


def test_missing_model_folder_exits_2(tmp_path):
    line = _one_error_line(_study("train", "--model-path", str(tmp_path / "nowhere")))
    assert "nowhere" in line and "does not exist" in line


def test_missing_data_file_exits_2(tmp_path):
    line = _one_error_line(_study("train", "--scale", "smoke", "--data-dir", str(tmp_path)))
    assert "not found" in line and str(tmp_path) in line


def test_data_dir_from_environment(tmp_path):
    line = _one_error_line(
        _study("train", "--scale", "smoke", env={"PEFT_STUDY_DATA_DIR": str(tmp_path)})
    )
    assert str(tmp_path) in line


@pytest.mark.parametrize("args", [("--help",), ("train", "--help")])
def test_help_exits_0(args):
    result = _study(*args)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    if "train" in args:
        assert "--set" in result.stdout and "--scale" in result.stdout
