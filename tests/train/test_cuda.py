"""The CUDA path. Skipped where torch sees no GPU (CI, the 2-core machines); on a GPU machine:
`python -m pytest tests/test_cuda.py`. Nothing else in the suite needs a GPU.

The model is the embedded one, or the folder in $PEFT_STUDY_MODEL_PATH when pytest starts (a
GPU node without the embedded package; conftest clears the variable for every other test)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from model.encoder import load_tokenizer, weights_sha256
from study.config import TrialConfig
from study.data.batching import collate, micro_batches, training_batches
from study.data.splits import task_data
from study.scales import scale_config
from study.train.loop import TrainingRun, make_optimizer, train_task
from study.train.run import build_trial_model, run_trial
from study.train.stats import RunStats

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.local_ray,
]
ROOT = Path(__file__).resolve().parents[2]
CUDA = torch.device("cuda")
MODEL = os.environ.get("PEFT_STUDY_MODEL_PATH", "")  # read before conftest clears it


def smoke() -> TrialConfig:
    return scale_config("smoke").replace(model_path=MODEL)


def _training_run(model, config, rng) -> TrainingRun:  # noqa: ANN001
    optimizer = make_optimizer(model, config)
    return TrainingRun(model, optimizer, config, rng, CUDA, "bf16", RunStats.start())


@pytest.mark.parametrize("task", ["sst", "para"])
def test_training_steps_copy_only_the_batch_to_the_gpu(task):
    """One pass over a task's batches on CUDA in bf16: the batch tensors are the only
    host-to-device copies (from pinned memory), the pass's losses the only device-to-host copy,
    and that copy is the pass's one synchronization (nothing reads a device value mid-pass)."""
    config = smoke().replace(precision="bf16", mode="sequential")
    data = task_data(config, "train", load_tokenizer(MODEL), weights_sha256(MODEL))[task]
    model = build_trial_model(config, CUDA, "bf16")
    rng = np.random.default_rng(0)
    run = _training_run(model, config, rng)
    train_task(run, data, 1)  # warm-up
    replay = copy.deepcopy(rng)
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    syncs: list[list[str]] = []  # the Python stack of each synchronization warning

    def keep_stack(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if "ynchroniz" in str(message):  # the frames that led to it, less the warning's own
            frames = traceback.extract_stack()[:-1]
            while frames and Path(frames[-1].filename).name == "warnings.py":
                frames.pop()
            syncs.append([f"{Path(f.filename).name}:{f.lineno}" for f in frames])

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = keep_stack
        with torch.profiler.profile(activities=activities) as prof:
            torch.cuda.set_sync_debug_mode("warn")  # each host-device synchronization warns
            try:
                train_task(run, data, 2)
            finally:
                torch.cuda.set_sync_debug_mode(0)
    torch.cuda.synchronize()
    parts = [
        part
        for index in training_batches(data.lengths(), config.batch_size, replay)
        for part in micro_batches(data, index, config.max_batch_tokens)
    ]
    tensors_per_part = len(collate(data, parts[0]))
    events = prof.events()
    copies = [e.name for e in events if e.name.startswith("Memcpy")]
    to_gpu = [n for n in copies if "HtoD" in n]
    to_host = [n for n in copies if "DtoH" in n]
    # the loop's own: not set_sync_debug_mode's (torch 2.11 warns once per process there)
    ours = [stack for stack in syncs if any(f.startswith("loop.py:") for f in stack)]
    where = [" <- ".join(reversed(stack[-6:])) for stack in syncs]
    assert len(ours) == 1, f"{len(ours)} synchronizations in the loop: {where}"
    assert ours[0][-1].startswith("loop.py:"), where  # the pass's losses, copied once
    assert len(to_gpu) == len(parts) * tensors_per_part, sorted(set(to_gpu))
    assert all("Pinned" in n for n in to_gpu), sorted(set(to_gpu))
    assert len(to_host) == 1, to_host


def test_bf16_attention_runs_without_cudnn_plans():
    """bf16 attention on CUDA runs SDPA's memory-efficient kernel, not cuDNN's, which builds an
    execution plan for every new (batch, length) shape (model/accel/fast_dropout.py)."""
    config = smoke().replace(precision="bf16", mode="sequential")
    data = task_data(config, "train", load_tokenizer(MODEL), weights_sha256(MODEL))["sst"]
    model = build_trial_model(config, CUDA, "bf16")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        train_task(_training_run(model, config, np.random.default_rng(0)), data, 1)
    ops = {e.name for e in prof.events() if "scaled_dot_product" in e.name}
    assert "aten::_scaled_dot_product_efficient_attention" in ops, ops
    assert not any("cudnn" in name for name in ops), ops


def test_trial_trains_on_the_gpu_in_bf16():
    """A smoke trial runs on CUDA in bf16 (opted in; auto is fp32 on CUDA), learns, and
    reports its GPU and GPU memory."""
    result = run_trial(smoke().replace(precision="bf16")).to_dict()
    assert result["device"] == "cuda" and result["precision"] == "bf16"
    assert result["gpu"] == torch.cuda.get_device_name(CUDA)
    assert 0 < result["peak_gpu_mb"] < torch.cuda.get_device_properties(CUDA).total_memory / 2**20
    history = result["history"]
    assert all(np.isfinite(h[t]) for h in history for t in ("sst", "para", "sts"))
    losses = [h["losses"]["sst"] for h in history]
    assert losses[-1] < losses[0], losses


@pytest.mark.slow
def test_quarter_gpu_trials_run_four_at_once(tmp_path):
    """`run --gpus-per-trial 0.25`: Ray packs four trials on the one GPU, at the same time."""
    pytest.importorskip("ray")
    if torch.cuda.device_count() != 1:
        pytest.skip("the packing check expects exactly one GPU")
    out = tmp_path / "study"
    argv = ["run", "smoke", "--scale", "smoke", "--samples", "4", "--gpus-per-trial", "0.25"]
    # one epoch (no ASHA rung to stop a trial at) of ~200 steps, long enough to overlap
    argv += ["--set", "epochs=1", "--set", "train_per_task=1024"]
    argv += ["--out", str(out)] + (["--model-path", MODEL] if MODEL else [])
    done = subprocess.run(
        [sys.executable, "-m", "study", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["completed"] * 4
    assert {r["device"] for r in rows} == {"cuda"}
    assert len({r["worker_pid"] for r in rows}) == 4  # four workers, one per trial
    spans = [(r["started_unix"], r["ended_unix"]) for r in rows]
    latest_start, earliest_end = max(s for s, _ in spans), min(e for _, e in spans)
    assert latest_start < earliest_end, spans  # a moment when all four were training
