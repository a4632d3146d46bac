"""Bad input through the real CLI: one line on stderr, exit code 2, no traceback, no Ray.

Each case runs `python -m study ...` in a subprocess from the repository root, on copies of the
real data files (symlinks, with the one broken file written in tmp_path) and the real embedded
model. `train` is used where the case is about data, model or config (no Ray); `run` cases must
fail before Ray starts.
"""

from __future__ import annotations

import pytest

from model.encoder import EMBEDDED_SHA256, MODEL_SHA256_ENV
from model.errors import ModelConfigError, ModelError
from model.merging.methods import check_lambdas
from study.errors import ConfigError
from study.merge.stage2 import merge_params
from tests.cli.bad_input_helpers import (
    Case,
    corrupted_model_copy,
    edited,
    model_folder,
    one_error_line,
    other_study_folder,
    run,
    run_cli,
    set_label,
    train,
    with_data,
)
from tests.conftest import DATA

CASES = [
    Case(
        "comma_separated_file",
        with_data(
            "sst-train.csv", lambda: (DATA / "sst-train.csv").read_bytes().replace(b"\t", b",")
        ),
        ("sst-train.csv", "missing column(s) id, sentence, sentiment", "tab-separated"),
    ),
    Case(
        "missing_column",
        with_data(
            "sts-dev.csv",
            lambda: (DATA / "sts-dev.csv").read_bytes().replace(b"similarity", b"score", 1),
        ),
        ("sts-dev.csv", "missing column(s) similarity"),
    ),
    Case(
        "empty_file",
        with_data("quora-dev.csv", lambda: b""),
        ("quora-dev.csv", "file is empty"),
    ),
    Case(
        "header_only",
        with_data("sst-dev.csv", lambda: b"\tid\tsentence\tsentiment\n"),
        ("sst-dev.csv", "no usable rows"),
    ),
    Case(
        "non_utf8_bytes",
        with_data(
            "sst-dev.csv", lambda: (DATA / "sst-dev.csv").read_bytes() + b"9\tx\tcaf\xe9\t1\n"
        ),
        ("sst-dev.csv", "not UTF-8", "0xe9"),
    ),
    Case(
        "sentiment_7",
        with_data("sst-train.csv", lambda: edited("sst-train.csv", lambda ls: set_label(ls, "7"))),
        ("sst-train.csv", "line 2", "sentiment=7 is out of range", "0-4"),
    ),
    Case(
        "similarity_9_5",
        with_data(
            "sts-train.csv", lambda: edited("sts-train.csv", lambda ls: set_label(ls, "9.5"))
        ),
        ("sts-train.csv", "similarity=9.5 is out of range", "[0, 5]"),
    ),
    Case(
        "unclosed_quote",
        with_data(
            "sst-train.csv",
            lambda: edited(
                "sst-train.csv", lambda ls: ls.__setitem__(5, ls[5].replace("\t", '\t"', 1))
            ),
        ),
        ("sst-train.csv", "line 6", "unclosed quote"),
    ),
    Case(
        "folder_where_a_data_file_belongs",
        with_data("sst-dev.csv", lambda: None),
        ("sst-dev.csv is a folder", "tab-separated file"),
    ),
    Case(
        "file_given_as_data_dir",
        lambda tmp: train("--data-dir", str(DATA / "sst-dev.csv")),
        ("sst-dev.csv is a file, not a folder",),
    ),
    Case(
        "model_not_bert",
        lambda tmp: train(
            "--model-path", str(model_folder(tmp, {"model_type": "gpt2", "n_embd": 768}))
        ),
        ("not a BERT checkpoint", "model_type='gpt2'", "expected 'bert'"),
    ),
    Case(
        "model_folder_without_config",
        lambda tmp: train("--model-path", str(DATA)),
        ("not a BERT checkpoint: no config.json",),
    ),
    Case(
        "model_config_not_json",
        lambda tmp: train("--model-path", str(model_folder(tmp, "{model_type: bert"))),
        ("config.json is not valid JSON",),
    ),
    Case(
        "weights_checksum_mismatch",
        lambda tmp: train("--model-path", str(corrupted_model_copy(tmp))),
        ("checksum mismatch", f"expected {EMBEDDED_SHA256[:12]}", MODEL_SHA256_ENV),
        env={MODEL_SHA256_ENV: EMBEDDED_SHA256},
    ),
    Case(
        "checksum_env_not_a_sha256",
        lambda tmp: train(),
        (f"{MODEL_SHA256_ENV}='abc' is invalid", "64 hex digits"),
        env={MODEL_SHA256_ENV: "abc"},
    ),
    Case("unknown_study", lambda tmp: ["run", "nosuch"], ("unknown study 'nosuch'", "lora_sweep")),
    Case(
        "unknown_set_key",
        lambda tmp: train("--set", "nosuch=1"),
        ("unknown --set key 'nosuch'", "known keys"),
    ),
    Case(
        "set_without_equals",
        lambda tmp: train("--set", "r"),
        ("--set 'r' is invalid: expected key=value",),
    ),
    Case(
        "bad_value_type",
        lambda tmp: train("--set", "r=abc"),
        ("r='abc' is invalid: must be an integer",),
    ),
    Case(
        "bad_choice",
        lambda tmp: train("--set", "method=adapter"),
        ("method='adapter' is invalid", "full | lora | dora"),
    ),
    Case(
        "r_above_hidden_size",
        lambda tmp: train("--set", "r=1000"),
        ("r=1000 is invalid", "hidden size 384"),
    ),
    Case(
        "task_order_repeats_a_task",
        lambda tmp: train("--set", "task_order=sst-sst-para"),
        ("task_order=sst-sst-para is invalid", "permutation of sst, para, sts"),
    ),
    Case("bad_scale", lambda tmp: ["run", "smoke", "--scale", "huge"], ("'huge'", "smoke")),
    Case("negative_samples", lambda tmp: run("--samples", "-1"), ("--samples=-1 is invalid",)),
    Case(
        "samples_not_a_number",
        lambda tmp: run("--samples", "abc"),
        ("--samples", "invalid int value: 'abc'"),
    ),
    Case(
        "negative_gpus_per_trial",
        lambda tmp: run("--gpus-per-trial", "-1"),
        ("--gpus-per-trial=-1.0 is invalid", ">= 0"),
    ),
    Case(  # Ray would wait forever for a GPU a local cluster does not have
        "gpus_per_trial_without_a_gpu",
        lambda tmp: run("--gpus-per-trial", "0.25", "--out", str(tmp / "study")),
        ("--gpus-per-trial=0.25 needs a GPU", "use 0"),
        env={"CUDA_VISIBLE_DEVICES": ""},  # no GPU, also where the tests run on one
    ),
    Case(
        "unknown_objectives",
        lambda tmp: run("--objectives", "speed"),
        ("--objectives 'speed' is invalid", "overall"),
    ),
    Case(
        "resume_of_no_study",
        lambda tmp: run("--resume", "--out", str(tmp / "never-run")),
        ("--resume: no study at", "never-run"),
    ),
    Case(
        "out_holds_another_study",
        lambda tmp: run("--out", str(other_study_folder(tmp))),
        ("holds study lora_sweep", "pick another --out"),
    ),
    Case(
        "report_of_missing_study_folder",
        lambda tmp: ["report", "smoke", "--out", str(tmp / "none")],
        ("none not found",),
    ),
    Case(
        "predict_folder_is_not_a_trial",
        lambda tmp: ["predict", str(tmp)],
        ("not a trial folder (no config.json)",),
    ),
    Case(
        "predict_unknown_split",
        lambda tmp: ["predict", str(tmp), "--split", "train"],
        ("--split 'train' is invalid", "dev | test"),
    ),
    Case(
        "predict_missing_folder",
        lambda tmp: ["predict", str(tmp / "nowhere")],
        ("nowhere: no such folder",),
    ),
    Case("unknown_command", lambda tmp: ["frobnicate"], ("invalid choice: 'frobnicate'",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_exit_2(case: Case, tmp_path):
    line = one_error_line(run_cli(*case.argv(tmp_path), env=case.env))
    for text in case.expect:
        assert text in line, line


def test_corrupted_weights_are_not_checked_without_a_known_sha256(tmp_path):
    """Why the checksum case sets the env: a copied folder has no built-in checksum."""
    from model.encoder import verify_model

    folder = corrupted_model_copy(tmp_path)
    cfg, digest = verify_model(str(folder))
    assert cfg["model_type"] == "bert" and digest != EMBEDDED_SHA256
    with pytest.raises(ModelError, match="checksum mismatch"):
        verify_model(str(folder), EMBEDDED_SHA256)


# λ has no CLI path (merge studies sample lambda_sst/para/sts), so it is checked at the API.
@pytest.mark.parametrize("lambdas", [[1.0, 1.0], [0.5, 0.5, 0.5, 0.5], []])
def test_lambdas_of_the_wrong_length_are_a_config_error(lambdas):
    with pytest.raises(ModelConfigError, match=f"lambdas has {len(lambdas)} value"):
        check_lambdas(lambdas, 3)


def test_merge_params_without_a_lambda_are_a_config_error():
    params = {"merge_method": "fedavg", "lambda_sst": 1.0, "lambda_para": 1.0}
    with pytest.raises(ConfigError, match="'lambda_sts' is missing"):
        merge_params(params)
