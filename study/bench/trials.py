"""Whole trials in-process, each in a fresh child process (a clean peak RSS); the same trial
under Ray Tune is study/bench/ray_trials.py."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from study.config import TrialConfig
from study.metrics import METRICS

SCORES = METRICS
AGREE = 0.01  # fp32 and bf16 dev metrics must agree within this
PAIR = ("fp32", "bf16")
_CHILD = "import study.bench.trials as b; b.child_main()"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of the bench's child processes: quiet tokenizers and warnings."""
    return {**extra, **os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}


def smoke_plan(out_dir: Path, scale: str, samples: int = 1):  # noqa: ANN201 - StudyPlan
    """The StudyPlan of `python -m study run smoke --scale SCALE --samples N --out OUT_DIR`
    (for N > 1 without ASHA)."""
    from search_spaces import load_study
    from study.options import RunOptions
    from study.plan import make_plan
    from study.train.device import pick_device

    spec = load_study("smoke")
    if samples > 1:  # the first point N times, each to the end: the same work as in-process
        first = spec.points_to_evaluate[0]
        spec = dataclasses.replace(spec, scheduler=None, points_to_evaluate=(first,) * samples)
    options = RunOptions(
        study="smoke",
        scale=scale,
        samples=samples,
        seeds=1,  # the same trial `samples` times, no seed reruns after it
        out=str(out_dir),
        # else Ray hides the GPU from a worker that asked for none
        gpus_per_trial=1.0 if pick_device().type == "cuda" else 0.0,
        dashboard_port=_free_port(),  # other Ray instances on this machine keep theirs
    )
    return make_plan(spec, options)


def first_trial_config(plan) -> TrialConfig:  # noqa: ANN001 - a StudyPlan
    """The config of the study's first trial (its first point to evaluate)."""
    return plan.base.replace(**plan.spec.points_to_evaluate[0])


def quick_config() -> TrialConfig:
    """A smaller trial for --quick: a few batches per task, one epoch, 200 dev rows per task."""
    from study.scales import scale_config

    return (
        scale_config("smoke")
        .replace(
            mode="single_task", method="lora", r=4, lr=1e-3, train_per_task=96, dev_per_task=200
        )
        .replace(epochs=1)
    )


def child_trial(config: TrialConfig) -> dict[str, Any]:
    """run_trial(config, run_dir=tmp) in a fresh Python process; its metrics, imports and RSS."""
    with tempfile.TemporaryDirectory(prefix="peft-bench-") as tmp:
        job = {"config": config.to_dict(), "run_dir": str(Path(tmp) / "run")}
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            env=child_env(),
            check=False,
        )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"benchmark trial failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_main() -> None:
    """Child side of child_trial: read the job from stdin, print one JSON line."""
    job = json.loads(sys.stdin.read())
    t0 = time.perf_counter()
    import peft  # noqa: F401 - timed: what a fresh worker pays before training
    import transformers  # noqa: F401

    from study.train.run import run_trial

    imports = time.perf_counter() - t0
    config = TrialConfig.from_dict(job["config"])
    record = run_trial(config, run_dir=job["run_dir"])
    keep = (*SCORES, "seconds", "time_split", "peak_rss_mb", "precision", "train_examples")
    print(json.dumps({**{k: getattr(record, k) for k in keep}, "import_s": imports}))


def precision_pair(config: TrialConfig, precisions: tuple[str, ...] = PAIR) -> dict[str, Any]:
    """The same trial and seed in each precision (fp32 and bf16 where bf16 is measured); their
    dev metrics and the largest gap (None with fp32 alone)."""
    runs = {p: child_trial(config.replace(precision=p)) for p in precisions}
    out = {"config": config.to_dict(), **runs, "tolerance": AGREE}
    if set(PAIR) <= set(runs):
        diffs = {k: abs(runs["fp32"][k] - runs["bf16"][k]) for k in SCORES}
        worst = max(diffs.values())
        return out | {"abs_diff": diffs, "max_abs_diff": worst, "agree": worst <= AGREE}
    return out | {"abs_diff": None, "max_abs_diff": None, "agree": None}


def time_split_shares(trial: dict[str, Any]) -> dict[str, Any]:
    """Shares of a trial's seconds; `outside_compute` = all but forward/backward/step."""
    seconds = trial["seconds"]
    split = trial["time_split"]
    shares = {k: v / seconds for k, v in split.items()}
    return {
        "seconds": seconds,
        "time_split": split,
        "shares": shares,
        "outside_compute_share": 1.0 - split["train"] / seconds,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
