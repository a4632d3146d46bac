"""Each PEFT method end to end on the real embedded model and real data (smoke scale): the loss
goes down, the saved adapter loads with plain peft in a fresh process (no project code) to the
project's outputs, `predict` reproduces the recorded dev metrics to the last digit, and the
record carries the count the meta device planned."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from model.encoder import embedded_model_path, load_tokenizer
from model.param_count import count_parameters
from study.cli import main
from study.config import TASKS
from study.scales import scale_config
from study.train.checkpoint import load_trial
from study.train.run import run_trial

# (name, config changes): every method, and the LoRA init that changes the base weights
RUNS = {
    "lora": {"method": "lora", "r": 4, "loraplus_lr_ratio": 4.0},
    "pissa": {"method": "lora", "r": 4, "init": "pissa"},
    "dora": {"method": "dora", "r": 4},
    "adalora": {"method": "adalora", "r": 6},
    "vera": {"method": "vera", "r": 16},
    "ia3": {"method": "ia3", "targets": "all_linear"},
    "oft": {"method": "oft", "r": 32},
    "boft": {"method": "boft", "r": 32},
    "hra": {"method": "hra", "r": 8},
}
# Half the smoke scale's rows in batches of 8: the same 4 batches per task and epoch (AdaLoRA's
# schedule below), at half the compute of nine trials.
ROWS = {"train_per_task": 32, "batch_size": 8, "val_per_task": 16, "dev_per_task": 32}
SENTENCES = ["a film that is more fun than it has any right to be", "flat and tedious"]

PLAIN_PEFT = """
import json, sys
import torch
from peft import PeftModel
from transformers import BertModel, BertTokenizerFast
tok = BertTokenizerFast.from_pretrained(sys.argv[1])
batch = tok(json.loads(sys.argv[2]), return_tensors="pt", padding=True)
out = {}
for folder in sys.argv[3:]:
    base = BertModel.from_pretrained(sys.argv[1], add_pooling_layer=False)
    model = PeftModel.from_pretrained(base, folder).eval()
    with torch.no_grad():
        out[folder] = model(**batch).last_hidden_state.tolist()
ours = [m for m in sys.modules if m.split(".")[0] in ("study", "model", "reports")]
print(json.dumps({"states": out, "project_modules": ours}))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_data):
    """name -> (config, record, run folder): one smoke trial per entry of RUNS."""
    root = tmp_path_factory.mktemp("methods")
    out = {}
    for name, changes in RUNS.items():
        config = scale_config("smoke").replace(data_dir=str(small_data), **ROWS, **changes)
        out[name] = (config, run_trial(config, run_dir=root / name), root / name)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_the_loss_goes_down(trained, name):
    _, record, _ = trained[name]
    start, end = record.history[0].losses, record.history[-1].losses
    assert sum(end[t] for t in TASKS) < sum(start[t] for t in TASKS), (start, end)
    for task in TASKS:
        assert end[task] < start[task] + 0.02, (task, start, end)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_the_record_holds_the_planned_count(trained, name):
    config, record, _ = trained[name]
    planned = count_parameters(config.model_spec())
    assert record.adapter_params == planned["adapter_params"]
    assert record.params_pct == pytest.approx(planned["params_pct"], rel=1e-12)
    assert record.stored_params == planned["stored_params"]
    if config.method == "adalora":  # its budget pruned the ranks by the trial's last step
        assert record.optimizer_steps == {t: 8 for t in TASKS}  # 2 epochs x 4 batches
        assert record.adapter_params_final == planned["adapter_params_final"]
        assert record.adapter_params_final < record.adapter_params


@pytest.mark.slow
def test_saved_adapters_load_with_plain_peft_to_the_projects_outputs(trained, tmp_path):
    """PiSSA included: saved as a rank-2r LoRA on the original weights, it loads onto the
    unchanged base model."""
    folders = {
        name: run / "checkpoint" / "adapters" / "sst" for name, (_, _, run) in trained.items()
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PLAIN_PEFT,
            str(embedded_model_path()),
            json.dumps(SENTENCES),
            *map(str, folders.values()),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        timeout=600,
        check=True,
    )
    plain = json.loads(proc.stdout.strip().splitlines()[-1])
    assert plain["project_modules"] == []
    batch = load_tokenizer()(SENTENCES, return_tensors="pt", padding=True)
    for name, folder in folders.items():
        _, model = load_trial(trained[name][2])
        with torch.no_grad():
            ours = model.encoders["sst"](**batch).last_hidden_state
        theirs = torch.tensor(plain["states"][str(folder)])
        torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=0, msg=name)
    pissa = json.loads((folders["pissa"] / "adapter_config.json").read_text())
    assert (pissa["r"], pissa["init_lora_weights"]) == (8, True)  # converted: [B, -B0] [A; A0]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_predict_reproduces_the_recorded_dev_metrics(trained, name, capsys, tmp_path):
    """The reloaded folder scores what the trained model in memory scored, every digit."""
    _, record, run = trained[name]
    code = main(["predict", str(run), "--out", str(tmp_path)])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    keys = ("sst", "para", "sts", "overall")
    assert summary["dev_subsample"] == {k: getattr(record, k) for k in keys}
    assert summary["matches_recorded"] is True
