"""From a command's options to a checked plan: every check that can fail on user input runs
here, before Ray starts. Nothing here imports Ray or Optuna; study/tuning does, and only after
every check passed.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from pathlib import Path

from search_spaces import load_study
from search_spaces.spec import Choice, StudySpec
from study.config import TrialConfig
from study.errors import UserError
from study.folder_lock import hold_study_folder
from study.options import BaselineOptions, RunOptions, TrialOptions
from study.overrides import parse_assignments
from study.preflight import check_output_dir, preflight
from study.records import STUDY_META, read_study_meta
from study.scales import RECIPE_VERSION, scale_config
from study.trials_file import best_record, read_records
from study.tuning.study_plan import StudyPlan

OBJECTIVES = {
    "overall": (("overall",), ("max",)),
    "overall,params_pct": (("overall", "params_pct"), ("max", "min")),
}


def base_config(options: TrialOptions, study_base: dict | None = None) -> TrialConfig:
    """Scale preset -> study base -> --model-path/--data-dir -> --set, all validated."""
    config = scale_config(options.scale)
    if study_base:
        config = config.replace(**study_base)
    paths = {"model_path": options.model_path, "data_dir": options.data_dir}
    paths = {k: str(Path(v).expanduser().resolve()) for k, v in paths.items() if v}
    if paths:
        config = config.replace(**paths)
    return config.replace(**parse_assignments(list(options.sets)))


def baseline_config(options: BaselineOptions) -> TrialConfig:
    """The rows `study baseline` scores: a scale's dev subsample, else the whole dev files
    (training rows for the threshold: the cpu scale's)."""
    scale = options.scale or "cpu"
    config = base_config(TrialOptions(scale=scale, model_path=options.model_path,
                                      data_dir=options.data_dir))  # fmt: skip
    return config if options.scale else config.replace(dev_per_task=0)


def run_study(options: RunOptions) -> int:
    """Run the named study (or each study of a suite) and print its summary."""
    spec = load_study(options.study)
    if spec.includes:
        return _run_suite(spec, options)
    plan = make_plan(spec, options)
    if plan.address:
        # Joining a cluster: keep Ray's token auth on. Ray reads this when it is first imported.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    from study.tuning.execute import execute  # Ray and Optuna are imported only now

    with hold_study_folder(plan.study_dir):
        execute(plan)
    print_summary(plan)
    return 0


def _run_suite(spec: StudySpec, options: RunOptions) -> int:
    """A suite (e.g. paper) runs its studies one after another, each in its own folder."""
    root = Path(options.out) if options.out else Path("runs")
    for name in spec.includes:
        print(f"== {spec.name}: study {name} -> {root / name}", file=sys.stderr)
        run_study(dataclasses.replace(options, study=name, out=str(root / name)))
    return 0


def make_plan(spec: StudySpec, options: RunOptions) -> StudyPlan:
    """All checks that can fail on user input, before Ray starts."""
    if options.scale not in spec.samples:
        raise UserError(
            f"study {spec.name} has no scale {options.scale!r}; scales: {', '.join(spec.samples)}"
        )
    samples = spec.samples[options.scale] if options.samples is None else options.samples
    if samples < 1:
        raise UserError(f"--samples={samples} is invalid: must be an integer >= 1")
    seeds = options.seeds if options.seeds is not None else spec.seeds.get(options.scale, 1)
    if seeds < 1:
        raise UserError(f"--seeds={seeds} is invalid: must be an integer >= 1")
    top_k = options.top_k if options.top_k is not None else spec.top_k
    if top_k < 0:
        raise UserError(f"--top-k={top_k} is invalid: must be an integer >= 0")
    if options.objectives not in OBJECTIVES:
        raise UserError(
            f"--objectives {options.objectives!r} is invalid: must be one of "
            f"{' | '.join(OBJECTIVES)}"
        )
    budget = options.max_params_pct
    if budget is not None and not 0 < budget <= 100:
        raise UserError(f"--max-params-pct={budget:g} is invalid: must be > 0 and <= 100")
    if budget is not None and spec.kind != "train":
        raise UserError(f"--max-params-pct applies to training studies; {spec.name} merges")
    gpus = options.gpus_per_trial
    if gpus < 0:
        raise UserError(f"--gpus-per-trial={gpus} is invalid: must be >= 0 (fractions allowed)")
    if gpus > 0 and not options.address:
        import torch

        if torch.cuda.device_count() == 0:  # Ray would queue the trials forever
            raise UserError(
                f"--gpus-per-trial={gpus} needs a GPU, and this machine has none "
                "that torch can use; use 0 (the default) or --address of a cluster with GPUs"
            )
    if options.cpus_per_trial is not None and options.cpus_per_trial <= 0:
        raise UserError(f"--cpus-per-trial={options.cpus_per_trial} is invalid: must be > 0")
    if options.max_concurrent is not None and options.max_concurrent < 1:
        raise UserError(f"--max-concurrent={options.max_concurrent} is invalid: must be >= 1")
    base = base_config(options, spec.base)
    model_cfg = preflight(base)
    check_space(spec, base, int(model_cfg.get("hidden_size", 0)))

    study_dir = Path(options.out or f"runs/{spec.name}").expanduser().resolve()
    exists = (study_dir / STUDY_META).is_file()
    if options.resume and not exists:
        raise UserError(
            f"--resume: no study at {study_dir} to resume; run it once without --resume"
        )
    if exists:
        meta = read_study_meta(study_dir)
        if (meta.get("study"), meta.get("scale")) != (spec.name, options.scale):
            raise UserError(
                f"{study_dir} holds study {meta.get('study')} at scale {meta.get('scale')}; "
                f"pick another --out for {spec.name} at scale {options.scale}"
            )
        made = (meta.get("recipe") or {}).get("version", 1)
        if made != RECIPE_VERSION:
            raise UserError(
                f"{study_dir} was made by an earlier recipe (version {made}: no validation "
                f"split, other scale settings) and cannot be resumed by this one (version "
                f"{RECIPE_VERSION}); pass another --out (`study report` still reads it)"
            )
    check_output_dir(study_dir, "study folder")
    storage = options.storage or str(study_dir / "ray")
    if "://" not in storage:
        check_output_dir(storage, "storage folder")
    port = 0 if options.address else dashboard_port(options.dashboard_host, options.dashboard_port)
    cpus = os.cpu_count() or 1
    if not options.address and (options.cpus_per_trial or 0) > cpus:
        raise UserError(
            f"--cpus-per-trial={options.cpus_per_trial:g} is more than this machine's {cpus} "
            f"CPUs; pass at most {cpus} (or --address of a cluster with larger nodes)"
        )
    concurrent = options.max_concurrent or (1 if gpus == 0 else max(1, int(1 / gpus)))
    cpus_per_trial = options.cpus_per_trial or max(1.0, float(cpus // concurrent))
    metrics, modes = OBJECTIVES[options.objectives]
    if base.val_per_task:  # every selection decision reads validation, never dev
        metrics = tuple(f"val_{m}" if m == "overall" else m for m in metrics)
    return StudyPlan(
        spec=spec,
        base=base.replace(threads=max(1, int(cpus_per_trial))),
        study_dir=study_dir,
        samples=samples,
        metrics=metrics,
        modes=modes,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus,
        cpus_explicit=options.cpus_per_trial is not None,
        max_concurrent=concurrent,
        address=options.address,
        dashboard_host=options.dashboard_host,
        dashboard_port=port,
        resume=exists,
        storage=storage,
        reuse_workers=not options.fresh_workers,
        seeds=seeds,
        top_k=top_k,
        max_params_pct=budget,
    )


DEFAULT_DASHBOARD_PORT = 8265


def dashboard_port(host: str, wanted: int | None) -> int:
    """`wanted` if it is free on `host`; None: 8265, else a free port (another study, or any
    server, may hold 8265). A wanted port that is taken is a UserError."""
    if wanted is not None and not 0 < wanted < 65536:
        raise UserError(f"--dashboard-port={wanted} is invalid: must be a port 1-65535")
    port = DEFAULT_DASHBOARD_PORT if wanted is None else wanted
    if _is_free(host, port):
        return port
    if wanted is not None:
        raise UserError(
            f"--dashboard-port {wanted} is taken on {host}; pass a free port, or leave "
            "--dashboard-port out to get one"
        )
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_space(spec: StudySpec, base: TrialConfig, hidden: int) -> None:
    """Every space key is a config field, every point is a valid config, no r above hidden."""
    if spec.kind == "merge":
        from study.merge.stage1 import stage1_config
        from study.merge.trial import merge_params

        stage1_config(base, orthogonal=False)  # merging needs LoRA without trained biases
        for point in spec.points_to_evaluate:
            merge_params(point)
        return
    for point in spec.points_to_evaluate:
        base.replace(**point)
    r_param = spec.space.get("r")
    if isinstance(r_param, Choice) and max(r_param.values) > hidden:
        raise UserError(
            f"study {spec.name} samples r up to {max(r_param.values)} > hidden size {hidden}"
        )


def print_summary(plan: StudyPlan) -> None:
    rows = read_records(plan.study_dir)
    by_status = {
        s: sum(r.status == s for r in rows) for s in ("completed", "stopped_early", "errored")
    }
    print(
        f"study {plan.spec.name}: {len(rows)} trials recorded ({by_status}) in "
        f"{plan.study_dir}/trials.jsonl"
    )
    best = best_record(plan.study_dir)
    if best is None:
        print("no completed trial")
        return
    chosen = "validation" if best.val_overall is not None else "dev"
    print(
        f"best trial {best.trial_id} (chosen on {chosen} overall "
        f"{best.selection_score():.4f}): dev overall {best.overall:.4f}  sst {best.sst:.3f}  "
        f"para {best.para:.3f}  sts {best.sts:.3f}  params {best.params_pct:.2f}%  {best.params}"
    )
    print(f"its adapters: {best.adapter_dir}")
