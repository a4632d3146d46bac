"""Study files: every built-in study written by `show` reads back to the identical StudySpec
(key order included), a bad key or value is one line, and `run FILE` plans from the file."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from search_spaces import load_study, study_names
from study.errors import UserError
from study.study_files import read_study_file, show, spec_from_dict, spec_to_dict
from tests.conftest import PROJECT


@pytest.mark.parametrize("name", study_names())
def test_show_then_read_gives_the_identical_spec_key_order_included(name, tmp_path):
    spec = load_study(name)
    path = tmp_path / f"{name}.yaml"
    path.write_text(show(spec))
    back = read_study_file(path)
    assert back == spec
    assert list(back.space) == list(spec.space)  # TPE's proposals follow this order
    assert [list(p) for p in back.points_to_evaluate] == [list(p) for p in spec.points_to_evaluate]
    assert list(back.samples) == list(spec.samples)


GOOD = yaml.safe_load((PROJECT / "examples" / "my_study.yaml").read_text())


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"nosuch": 1}, "unknown key 'nosuch'; allowed: name, description"),
        ({"kind": "eval"}, "kind='eval' is invalid; allowed: train | merge"),
        ({"space": {"r": {"choice": []}}}, "space.r.choice must be a non-empty list"),
        ({"space": {"r": {"pick": [1]}}}, "space.r={'pick': [1]} is invalid; allowed: {choice"),
        ({"space": {"lr": {"log_uniform": [0, 1]}}}, "0 < low < high"),
        ({"space": {"nosuch": {"choice": [1]}}}, "space key 'nosuch' is not a config field"),
        ({"samples": {"cpu": 0}}, "cpu=0 is invalid: an integer >= 1"),
        ({"samples": {"gpu": 3}}, "scale 'gpu' is unknown; allowed: smoke, cpu, paper"),
        ({"top_k": -1}, "top_k=-1 is invalid"),
        ({"base": {"r": "many"}}, "base:"),
        ({"points_to_evaluate": [{"r": 16, "lr": -1}]}, "points_to_evaluate[0]:"),
        ({"rerun_best_of": "method"}, "rerun_best_of='method' is not a space key"),
        ({"scheduler": {"grace_period": 0}}, "grace_period=0 is invalid"),
        ({"includes": ["paper"]}, "includes has 'paper'"),
        ({"name": "../x"}, "name='../x' is invalid"),
    ],
)
def test_a_bad_key_or_value_is_one_line_that_names_it(change, needle):
    with pytest.raises(UserError) as err:
        spec_from_dict({**GOOD, **change}, "mine.yaml")
    text = str(err.value)
    assert needle in text and "\n" not in text and text.startswith("mine.yaml: ")


def test_run_a_study_file_plans_from_it_and_the_folder_keeps_its_spec(tmp_path):
    example = PROJECT / "examples" / "my_study.yaml"
    cmd = [sys.executable, "-m", "study", "run", str(example), "--dry-run", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("study lora_rank_lr: LoRA on all linear layers")
    assert "    r: choice of 4, 16, 64" in proc.stdout and '{"r": 16, "lr": 0.0003}' in proc.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nspace: {r: [1, 2]\n")
    bad = subprocess.run(
        [*cmd[:4], str(broken)], cwd=PROJECT, capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "does not parse" in bad.stderr
    assert spec_from_dict(spec_to_dict(read_study_file(example))) == read_study_file(example)


def test_a_file_study_resumes_from_its_folder_without_the_file(tmp_path):
    from study.records import StudyMeta, write_meta
    from study.study_files import load_spec

    spec = read_study_file(PROJECT / "examples" / "my_study.yaml")
    write_meta(tmp_path, StudyMeta(study=spec.name, spec=spec_to_dict(spec)))
    assert load_spec(spec.name, tmp_path) == spec
    with pytest.raises(UserError, match="unknown study 'other'"):
        load_spec("other", tmp_path)


def test_a_toml_study_file_reads_as_the_yaml_one(tmp_path):
    spec = read_study_file(PROJECT / "examples" / "my_study.yaml")
    lines = [
        f'name = "{spec.name}"',
        f'description = "{spec.description}"',
        "top_k = 1",
        'base = { mode = "single_task", method = "lora", targets = "all_linear" }',
        "points_to_evaluate = [{ r = 16, lr = 3.0e-4 }]",
        "samples = { smoke = 2, cpu = 6, paper = 24 }",
        "scale_base = {}",
        "[space.r]",
        "choice = [4, 16, 64]",
        "[space.lr]",
        "log_uniform = [1.0e-4, 1.0e-3]",
    ]
    path = tmp_path / "mine.toml"
    path.write_text("\n".join(lines) + "\n")
    assert read_study_file(path) == spec
