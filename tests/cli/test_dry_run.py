"""`run --dry-run`: the checked plan, printed, exit 0; Ray never starts and nothing is run."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT


def _run(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "study", "run", *args]
    return subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300)


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path):
    out = tmp_path / "lora"
    proc = _run("lora_sweep", "--dry-run", "--decide", "--budget-min", "30", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for needle in (
        f"folder: {out}",
        "trials: 10 in the search, then 3 seed(s) per chosen configuration",
        "ASHA: grace 1 epoch(s), reduction factor 2, max 2 epochs",
        "resources per trial: 2 CPU(s), 0 GPU(s); 1 at once; a local Ray",
        "    r: choice of 2, 4, 8, 16, 32, 64, 128",
        "    lr: log-uniform in [0.0001, 0.001]",
        "first points (8 of 8):",
        '{"method": "dora", "r": 64, "targets": "qkv", "bias": "none", "lr": 0.0003}',
        "decide phase: Stein's two-stage procedure, E=0.005, budget 30 min",
        "    train_per_task: 800",
    ):
        assert needle in text, needle
    assert "Ray dashboard" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "trials.jsonl").exists() and not (out / "study.json").exists()


def test_dry_run_of_a_suite_plans_each_study_and_bad_input_is_still_one_line(tmp_path):
    proc = _run("paper", "--dry-run", "--out", str(tmp_path / "paper"))
    assert proc.returncode == 0, proc.stderr
    names = [ln.split(":")[0] for ln in proc.stdout.splitlines() if ln.startswith("study ")]
    assert names == [
        "study full_finetune",
        "study lora_sweep",
        "study multitask_order",
        "study merge",
    ]
    bad = _run("lora_sweep", "--dry-run", "--samples", "0")
    assert bad.returncode == 2 and "--samples=0 is invalid" in bad.stderr
