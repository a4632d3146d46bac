"""The one module that imports Ray and Optuna: Tuner + OptunaSearch (seeded TPE) + ASHA.

Trials run `study.trial.run_trial` in Ray actors. The driver-side StudyRecorder callback writes
one durable row per finished trial to trials.jsonl. Resume = Tuner.restore on the same folder;
a trial already recorded as finished is never trained again (see `peft_trial`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from search_spaces.spec import Choice, LogUniform, Param, Uniform
from study.results import append_row, completed_ids, read_rows
from study.runner import StudyPlan, apply_params, write_study_meta

EXPERIMENT = "ray"  # Ray's experiment folder inside the study folder
SCALARS = (
    "epoch",
    "sst",
    "para",
    "sts",
    "overall",
    "params_pct",
    "params_total_pct",
    "adapter_pct",
    "seconds",
    "epochs_run",
    "final",
)


def peft_trial(params: dict[str, Any], base: dict[str, Any], done: dict[str, dict]) -> None:
    """Ray Tune function trainable: one trial = run_trial on base + sampled params."""
    from study.config import TrialConfig
    from study.trial import run_trial

    trial_id = tune.get_context().get_trial_id()
    node_id = ray.get_runtime_context().get_node_id()
    # A trial that already finished (the driver died before Ray saved that) is not retrained:
    # its row in trials.jsonl, or its final checkpoint, is reported again instead.
    if trial_id in done:
        row = done[trial_id]
        _report_flat(
            {**row, "epoch": row["epochs_run"], "final": row["status"] == "completed"}, node_id
        )
        return
    saved = tune.get_checkpoint()
    if saved is not None:
        with saved.as_directory() as folder:
            _report_flat(json.loads((Path(folder) / "metrics.json").read_text()), node_id)
        return
    config = apply_params(TrialConfig.from_dict(base), params)
    run_dir = Path(tempfile.mkdtemp(prefix=f"peft-trial-{trial_id}-"))

    def report(metrics: dict[str, Any]) -> None:
        if metrics.get("final") and (run_dir / "checkpoint").is_dir():
            (run_dir / "metrics.json").write_text(json.dumps(metrics, default=str))
            _report_flat(metrics, node_id, tune.Checkpoint.from_directory(str(run_dir)))
        else:
            _report_flat(metrics, node_id)

    try:
        run_trial(config, report, run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _report_flat(metrics: dict[str, Any], node_id: str, checkpoint: Any = None) -> None:
    """Scalars go to Tune as they are; the rest rides along as one JSON string."""
    flat = {k: metrics[k] for k in SCALARS if metrics.get(k) is not None}
    extra = {k: v for k, v in metrics.items() if k not in SCALARS}
    flat.update(node_id=node_id, extra_json=json.dumps(extra, default=str))
    tune.report(flat, checkpoint=checkpoint)


class StudyRecorder(tune.Callback):
    """Driver side: one trials.jsonl row per finished trial, and a live progress line."""

    def __init__(self, plan: StudyPlan) -> None:
        self.plan = plan
        self.history: dict[str, list[dict]] = {}
        self.recorded = set(completed_ids(plan.study_dir)) | {
            r["trial_id"] for r in read_rows(plan.study_dir)
        }
        self.started = time.time()

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        if not result.get("final"):
            self.history.setdefault(trial.trial_id, []).append(
                {k: result.get(k) for k in ("epoch", "sst", "para", "sts", "overall")}
            )
        self._progress(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        status = "completed" if result.get("final") else "stopped_early"
        self._record(trial, status, None)
        self._progress(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial, "errored", _error_line(trial))
        self._progress(trials)

    def _record(self, trial: Any, status: str, error: str | None) -> None:
        # Read the file, not memory: a restored driver unpickles this callback with old state.
        if trial.trial_id in {r["trial_id"] for r in read_rows(self.plan.study_dir)}:
            return
        result = trial.last_result or {}
        extra = json.loads(result.get("extra_json") or "{}")
        history = extra.pop("history", None) or self.history.get(trial.trial_id, [])
        checkpoint = getattr(trial, "checkpoint", None)
        config = (
            apply_params(self.plan.base, trial.config).to_dict()
            if status != "errored" or trial.config
            else None
        )
        row = {
            "study": self.plan.spec.name,
            "trial_id": trial.trial_id,
            "status": status,
            "error": error,
            "kind": self.plan.spec.kind,
            "config": config,
            "seed": self.plan.base.seed,
            "params": dict(trial.config),
            "history": history,
            **{
                k: result.get(k)
                for k in (
                    "sst",
                    "para",
                    "sts",
                    "overall",
                    "params_pct",
                    "params_total_pct",
                    "adapter_pct",
                )
            },
            "seconds": result.get("seconds") or result.get("time_total_s"),
            "epochs_run": len(history),
            "adapter_dir": checkpoint.path
            if checkpoint is not None and status == "completed"
            else None,
            "trained_params": extra.get("trained_params"),
            "time_split": extra.get("time_split"),
            "precision": extra.get("precision"),
            "node_id": result.get("node_id"),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if status == "errored":
            row.update(sst=None, para=None, sts=None, overall=None)
        append_row(self.plan.study_dir, row)

    def _progress(self, trials: list) -> None:
        rows = read_rows(self.plan.study_dir)
        count = {
            s: sum(r["status"] == s for r in rows)
            for s in ("completed", "stopped_early", "errored")
        }
        running = sum(t.status == "RUNNING" for t in trials)
        best = max(
            (r for r in rows if r.get("overall") is not None),
            key=lambda r: r["overall"],
            default=None,
        )
        best_txt = (
            f"best overall {best['overall']:.4f} ({best['trial_id']}: {best['params']})"
            if best
            else "best -"
        )
        mins = (time.time() - self.started) / 60
        print(
            f"[{self.plan.spec.name} {mins:5.1f} min] {len(rows)}/{self.plan.samples} done: "
            f"{count['completed']} completed, {count['stopped_early']} stopped early, "
            f"{count['errored']} errored; {running} running | {best_txt}",
            file=sys.stderr,
            flush=True,
        )


def _error_line(trial: Any) -> str:
    """Last line of the trial's traceback, e.g. 'NonFiniteLossError: non-finite loss ...'."""
    text = ""
    path = getattr(trial, "error_file", None)
    if path and os.path.isfile(path):
        text = Path(path).read_text(errors="replace")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "trial failed (no error message)"


def optuna_space(space: dict[str, Param]) -> dict[str, Any]:
    dist = optuna.distributions
    out = {}
    for name, p in space.items():
        if isinstance(p, Choice):
            out[name] = dist.CategoricalDistribution(list(p.values))
        elif isinstance(p, LogUniform):
            out[name] = dist.FloatDistribution(p.low, p.high, log=True)
        elif isinstance(p, Uniform):
            out[name] = dist.FloatDistribution(p.low, p.high)
    return out


def make_searcher(plan: StudyPlan) -> OptunaSearch:
    """Seeded TPE; its state is an Optuna JournalStorage file (parallel-safe, optuna-dashboard)."""
    storage = JournalStorage(JournalFileBackend(str(plan.study_dir / "optuna.journal")))
    multi = len(plan.metrics) > 1
    return OptunaSearch(
        space=optuna_space(plan.spec.space),
        metric=list(plan.metrics) if multi else plan.metrics[0],
        mode=list(plan.modes) if multi else plan.modes[0],
        points_to_evaluate=[dict(p) for p in plan.spec.points_to_evaluate],
        sampler=optuna.samplers.TPESampler(seed=plan.seed),
        study_name=plan.spec.name,
        storage=storage,
    )


def make_scheduler(plan: StudyPlan) -> ASHAScheduler | None:
    """ASHA on overall, one rung per epoch; none for grids or multi-objective searches."""
    sched = plan.spec.scheduler
    if sched is None or len(plan.metrics) > 1 or plan.base.epochs < 2:
        return None
    return ASHAScheduler(
        time_attr="epoch",
        max_t=plan.base.epochs,
        grace_period=max(1, min(sched.grace_period, plan.base.epochs)),
        reduction_factor=sched.reduction_factor,
    )


def init_ray(plan: StudyPlan) -> None:
    """Join the cluster at --address, or start a local Ray whose dashboard binds 127.0.0.1."""
    quiet = {"log_to_driver": False, "logging_level": "WARNING", "configure_logging": True}
    if plan.address:
        ray.init(address=plan.address, **quiet)
        print(f"joined Ray cluster at {plan.address}", file=sys.stderr)
        return
    ctx = ray.init(
        include_dashboard=True,
        dashboard_host=plan.dashboard_host,
        dashboard_port=plan.dashboard_port,
        **quiet,
    )
    token = "~/.ray/auth_token" if os.environ.get("RAY_AUTH_MODE", "token") != "disabled" else None
    print(
        f"Ray dashboard: http://{ctx.dashboard_url} (listening on {plan.dashboard_host} only)",
        file=sys.stderr,
    )
    if token:
        print(
            f"  token auth is on: paste the token from `ray get-auth-token` (or {token}) when the page asks",
            file=sys.stderr,
        )
    print(
        f"  trials show as actors named '{plan.spec.name}_<trial id>'; Optuna: optuna-dashboard {plan.study_dir / 'optuna.journal'}",
        file=sys.stderr,
    )


def _trainable(plan: StudyPlan) -> Any:
    done = completed_ids(plan.study_dir)
    fn = tune.with_parameters(peft_trial, base=plan.base.to_dict(), done=done)
    resources = {"cpu": plan.cpus_per_trial, "gpu": plan.gpus_per_trial}
    return tune.with_resources(fn, resources)


def execute(plan: StudyPlan) -> None:
    """Run (or resume) the study until it has plan.samples trials."""
    from model.checkpoint import library_versions
    from model.encoder import weights_sha256

    plan.study_dir.mkdir(parents=True, exist_ok=True)
    if not plan.resume:
        versions = {**library_versions(), "ray": ray.__version__, "optuna": optuna.__version__}
        write_study_meta(plan, weights_sha256(plan.base.model_path), _data_sizes(plan), versions)
    init_ray(plan)
    exp_path = plan.study_dir / EXPERIMENT / plan.spec.name
    try:
        if plan.resume and tune.Tuner.can_restore(str(exp_path)):
            print(f"resuming {plan.spec.name} from {exp_path}", file=sys.stderr)
            tuner = tune.Tuner.restore(
                str(exp_path),
                trainable=_trainable(plan),
                resume_unfinished=True,
                resume_errored=False,
            )
        else:
            tuner = _new_tuner(plan)
        tuner.fit()
    finally:
        ray.shutdown()


def _new_tuner(plan: StudyPlan) -> tune.Tuner:
    single = len(plan.metrics) == 1
    return tune.Tuner(
        _trainable(plan),
        tune_config=tune.TuneConfig(
            metric=plan.metrics[0] if single else None,
            mode=plan.modes[0] if single else None,
            search_alg=make_searcher(plan),
            scheduler=make_scheduler(plan),
            num_samples=plan.samples,
            max_concurrent_trials=plan.max_concurrent,
            trial_name_creator=lambda t: f"{plan.spec.name}_{t.trial_id}",
            trial_dirname_creator=lambda t: f"{plan.spec.name}_{t.trial_id}",
        ),
        run_config=tune.RunConfig(
            name=plan.spec.name,
            storage_path=str(plan.study_dir / EXPERIMENT),
            failure_config=tune.FailureConfig(max_failures=1),
            callbacks=[StudyRecorder(plan)],
            verbose=0,
        ),
    )


def _data_sizes(plan: StudyPlan) -> dict[str, dict[str, int]]:
    from study.config import TASKS
    from study.data import load_split, subsample_index

    sizes: dict[str, dict[str, int]] = {}
    for task in TASKS:
        for split, count in (("train", plan.base.train_per_task), ("dev", plan.base.dev_per_task)):
            n = len(load_split(task, split, plan.base.data_dir))
            sizes.setdefault(task, {})[split] = len(subsample_index(n, count, 0))
            sizes[task][f"{split}_file"] = n
    return sizes
