"""export TRIAL --hub DIR: one folder per task that a fresh process with no project code loads
(torch, transformers, peft, safetensors only) and that reproduces the task's recorded dev
score; its card is huggingface_hub's, with no placeholder link."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from model.encoder import resolve_model_path
from study.atomic import read_json
from study.config import TrialConfig
from study.data.files import load_split
from study.data.splits import split_index
from study.predict import best_trial
from tests.conftest import PROJECT

pytestmark = [pytest.mark.slow, pytest.mark.local_ray]
PROJECT_PACKAGES = ("study", "model", "reports", "search_spaces")
ALONE = (
    "import runpy, sys; sys.argv = ['head.py', '--base', sys.argv[1], '--csv', sys.argv[2]]; "
    "runpy.run_path('head.py', run_name='__main__'); "
    f"assert not [m for m in sys.modules if m.split('.')[0] in {PROJECT_PACKAGES!r}]"
)


@pytest.fixture(scope="module")
def exported(smoke_study, tmp_path_factory):
    out = tmp_path_factory.mktemp("hub")
    cmd = [sys.executable, "-m", "study", "export", str(smoke_study), "--hub", str(out)]
    proc = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_dir, _ = best_trial(smoke_study)
    return out, run_dir


def test_each_task_folder_alone_reproduces_its_recorded_dev_score(exported):
    out, run_dir = exported
    config = TrialConfig.from_dict(read_json(run_dir / "config.json"))
    recorded = read_json(run_dir / "meta.json")["dev"]
    for task in ("sst", "para", "sts"):
        folder = out / task
        assert sorted(p.name for p in folder.iterdir()) == [
            "README.md",
            "adapter_config.json",
            "adapter_model.safetensors",
            "head.py",
            "head.safetensors",
            "head_config.json",
        ]
        split = load_split(task, "dev", config.data_dir)
        index = split_index(task, "dev", len(split.text_a), config)  # the trial's dev rows
        rows = folder.parent / f"{task}-dev.csv"
        with open(rows, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text_a", "text_b"] if split.text_b else ["text_a"])
            for i in index:
                writer.writerow([split.text_a[i], *([split.text_b[i]] if split.text_b else [])])
        proc = subprocess.run(
            [sys.executable, "-c", ALONE, str(resolve_model_path("")), str(rows)],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
            env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},  # no PYTHONPATH, no network
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        scores = np.asarray([json.loads(line) for line in proc.stdout.splitlines()])
        labels = split.labels[index]
        if task == "sst":
            got = float((scores.argmax(-1) == labels).mean())
        elif task == "para":
            got = float(((scores > 0.5) == labels).mean())
        else:
            got = float(np.corrcoef(scores, labels)[0, 1])
        assert got == pytest.approx(recorded[task], abs=2e-3), task


def test_the_card_is_huggingface_hubs_with_no_placeholder_link(exported):
    from huggingface_hub import ModelCard

    out, _ = exported
    card = ModelCard.load(out / "sts" / "README.md")
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert card.data.library_name == "peft" and card.data.datasets
    assert card.data.eval_results[0].metric_type == "pearsonr"
    assert "http" not in card.content and "peft-study 0." in card.content
