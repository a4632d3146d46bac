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
import threading
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
from ray.tune.trainable.function_trainable import wrap_function

from search_spaces.spec import Choice, LogUniform, Param, Uniform
from study.records import error_line, progress_line, trial_row
from study.results import append_row, completed_ids, read_rows
from study.runner import StudyPlan, apply_params, data_sizes, write_study_meta
from study.trial_thread import run_on_training_thread, stop_running_trial

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


def peft_trial(
    params: dict[str, Any],
    base: dict[str, Any],
    done: dict[str, dict],
    assets: dict[str, Any],
    stage1: dict[str, Any] | None = None,
) -> None:
    """Ray Tune function trainable: one trial = run_trial on base + sampled params, or, in a
    merge study (stage1 given), run_merge_trial on the saved stage-1 adapters."""
    from study.assets import materialize
    from study.config import TrialConfig
    from study.trial import run_trial

    trial_id = tune.get_context().get_trial_id()
    node_id = ray.get_runtime_context().get_node_id()
    # A reused worker's dashboard name is fixed at its start; its log (Actors -> the worker ->
    # Logs) says which trial it runs.
    print(f"trial {tune.get_context().get_trial_name()} started: {params}", flush=True)
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
    config = (
        TrialConfig.from_dict(base) if stage1 else apply_params(TrialConfig.from_dict(base), params)
    )
    # On a node without the driver's folders, use the copies shipped through the object store.
    for field, kind in (("data_dir", "data"), ("model_path", "model")):
        path = getattr(config, field)
        if path and not os.path.isdir(path) and assets.get(kind):
            config = config.replace(**{field: materialize(assets[kind], kind)})
    run_dir = Path(tempfile.mkdtemp(prefix=f"peft-trial-{trial_id}-"))

    def report(metrics: dict[str, Any]) -> None:
        if metrics.get("final") and (run_dir / "checkpoint").is_dir():
            (run_dir / "metrics.json").write_text(json.dumps(metrics, default=str))
            _report_flat(metrics, node_id, tune.Checkpoint.from_directory(str(run_dir)))
        else:
            _report_flat(metrics, node_id)

    def train(put: Any, stop: threading.Event) -> None:  # on the worker's training thread
        if stage1:
            from study.merge_trial import run_merge_trial

            run_merge_trial(params, stage1, config, put, run_dir)
        else:
            run_trial(config, put, run_dir, stop=stop)

    try:
        run_on_training_thread(train, report)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _report_flat(metrics: dict[str, Any], node_id: str, checkpoint: Any = None) -> None:
    """Scalars go to Tune as they are; the rest rides along as one JSON string."""
    flat = {k: metrics[k] for k in SCALARS if metrics.get(k) is not None}
    extra = {k: v for k, v in metrics.items() if k not in SCALARS}
    flat.update(node_id=node_id, worker_pid=os.getpid(), extra_json=json.dumps(extra, default=str))
    tune.report(flat, checkpoint=checkpoint)


class StudyRecorder(tune.Callback):
    """Driver side: one trials.jsonl row per finished trial, and a live progress line."""

    def __init__(self, plan: StudyPlan) -> None:
        self.plan = plan
        self.history: dict[str, list[dict]] = {}
        self.started = time.time()

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        if not result.get("final"):
            keep = {k: result.get(k) for k in ("epoch", "sst", "para", "sts", "overall")}
            self.history.setdefault(trial.trial_id, []).append(keep)
        self._progress(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        final = (trial.last_result or {}).get("final")
        self._record(trial, "completed" if final else "stopped_early", None)
        self._progress(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial, "errored", error_line(getattr(trial, "error_file", None)))
        self._progress(trials)

    def _record(self, trial: Any, status: str, error: str | None) -> None:
        # Read the file, not memory: a restored driver unpickles this callback with old state.
        if trial.trial_id in {r["trial_id"] for r in read_rows(self.plan.study_dir)}:
            return
        checkpoint = getattr(trial, "checkpoint", None)
        row = trial_row(
            self.plan,
            trial.trial_id,
            trial.config,
            status,
            error,
            trial.last_result or {},
            self.history.get(trial.trial_id, []),
            checkpoint.path if checkpoint else None,
        )
        append_row(self.plan.study_dir, row)

    def _progress(self, trials: list) -> None:
        rows = read_rows(self.plan.study_dir)
        done = {r["trial_id"] for r in rows}
        running = sum(t.status == "RUNNING" and t.trial_id not in done for t in trials)
        line = progress_line(self.plan, rows, running, (time.time() - self.started) / 60)
        print(line, file=sys.stderr, flush=True)


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


class PinnedASHA(ASHAScheduler):
    """ASHA that lets trials of the study's first points (the paper's rows) run their whole
    budget, so the tables can compare them with the paper. Their results still fill ASHA's rungs
    and so still set the bar for the trials Optuna proposes, which ASHA may stop."""

    def __init__(self, pinned: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pinned = pinned

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        if decision == self.STOP and result.get(self._time_attr, 0) < self._max_t:
            if any(all(trial.config.get(k) == v for k, v in p.items()) for p in self.pinned):
                self._num_stopped -= 1
                return self.CONTINUE
        return decision


def make_scheduler(plan: StudyPlan) -> ASHAScheduler | None:
    """ASHA on overall, one rung per epoch; none for grids or multi-objective searches."""
    sched = plan.spec.scheduler
    if sched is None or len(plan.metrics) > 1 or plan.base.epochs < 2:
        return None
    pinned = [dict(p) for p in plan.spec.points_to_evaluate] if sched.run_first_points_fully else []
    return PinnedASHA(
        pinned,
        time_attr="epoch",
        max_t=plan.base.epochs,
        grace_period=max(1, min(sched.grace_period, plan.base.epochs)),
        reduction_factor=sched.reduction_factor,
    )


PROJECT = Path(__file__).resolve().parent.parent
SHIP_EXCLUDES = [
    ".venv",
    ".git",
    "runs",
    ".helpers",
    ".pytest_cache",
    ".ruff_cache",
    "*.egg-info",
    "__pycache__",
]


# A local Ray's daemons share the trial's cores; every wake-up stalls one of its two OpenMP
# threads at the next barrier. Slower housekeeping for a one-node study (dashboard task and
# node views refresh every 5-15 s instead of 1-5 s; the OOM monitor looks every second):
# idle daemons' CPU went 5.1 -> 4.5 s per minute here. No idle workers prestarted (one per
# CPU, ~0.7 CPU-s a minute each; Tune starts the trial workers it needs), and no log monitor
# (below): 3.9 -> 2.6 CPU-s a minute beside a training process. Workers keep the driver's nice
# value: Ray's default renices them to 15, so a trial lost to every other busy process what a
# plain one shares fairly (a 10%-of-a-core load slowed nice-15 trials 6.4% more than nice-0 ones).
QUIET_SYSTEM_CONFIG = {
    "worker_niceness": 0,
    "task_events_report_interval_ms": 5000,
    "metrics_report_interval_ms": 30000,
    "memory_monitor_refresh_ms": 1000,
    "raylet_check_gc_period_milliseconds": 1000,
    "debug_dump_period_milliseconds": 60000,
    "enable_worker_prestart": False,
    "prestart_worker_first_driver": False,
}
QUIET_DASHBOARD_ENV = {
    "REPORTER_UPDATE_INTERVAL_MS": "15000",
    "RAY_DASHBOARD_AGENT_CHECK_PARENT_INTERVAL_S": "2",
    # the dashboard's own CPU/memory metrics: every 5 s it parsed /proc/PID/smaps_rollup of
    # itself and its nine module processes, ~40% of its CPU (py-spy); 60 s: 7.7-9.0 -> 5.0-6.2
    # CPU-ms/s for the dashboard head of an idle local cluster
    "METRICS_RECORD_INTERVAL_S": "60",
}


def _stop_log_monitor() -> None:
    """Stop the local cluster's log monitor: it streams worker logs to the driver, which
    log_to_driver=False turns off, yet it scans the log folder 10 times a second (~0.5 CPU-s a
    minute). Worker logs stay in Ray's session folder and the dashboard. ray.init has no
    switch for it (`ray start --include-log-monitor=false` does), hence Ray's own Node call."""
    try:
        ray._private.worker._global_node.kill_log_monitor(check_alive=False)
    except Exception as exc:  # noqa: BLE001 - a Ray without that call: keep the monitor
        print(f"note: Ray's log monitor keeps running ({exc})", file=sys.stderr)


def init_ray(plan: StudyPlan) -> None:
    """Join the cluster at --address, or start a local Ray whose dashboard binds 127.0.0.1."""
    quiet = {"log_to_driver": False, "logging_level": "WARNING", "configure_logging": True}
    env: dict[str, Any] = {
        "worker_process_setup_hook": "study.worker_setup.preload",
        # a reused worker waits this long for a stopped trial to end (Tune's default: 2 s)
        "env_vars": {"TUNE_FUNCTION_THREAD_TIMEOUT_S": "60"},
    }
    if plan.address:
        # Other nodes get this project's code and data/ as a packaged working_dir.
        env.update(working_dir=str(PROJECT), excludes=SHIP_EXCLUDES)
        ray.init(address=plan.address, runtime_env=env, **quiet)
        print(f"joined Ray cluster at {plan.address}", file=sys.stderr)
        return
    for name, value in QUIET_DASHBOARD_ENV.items():  # read by the daemons ray.init starts
        os.environ.setdefault(name, value)
    ctx = ray.init(
        address="local",  # a new local cluster, never one that a `ray start` left on this machine
        include_dashboard=True,
        dashboard_host=plan.dashboard_host,
        dashboard_port=plan.dashboard_port,
        runtime_env=env,
        _system_config=QUIET_SYSTEM_CONFIG,
        **quiet,
    )
    _stop_log_monitor()
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
    study = plan.spec.name
    actors = (
        f"'{study} trial worker' (each worker's log names its trials)"
        if plan.reuse_workers
        else f"'{study} trial {study}_<id>'"
    )
    print(f"  trials run in actors named {actors}", file=sys.stderr)
    print(f"  Optuna: optuna-dashboard {plan.study_dir / 'optuna.journal'}", file=sys.stderr)


def _trainable(plan: StudyPlan, stage1: dict[str, Any] | None = None) -> Any:
    """peft_trial as a Tune class whose actors are named after their trial in the dashboard."""
    from study.assets import pack_data, pack_model

    assets = {}
    if plan.address:  # no shared filesystem assumed: ship custom data/model folders
        assets = {
            "data": pack_data(plan.base.data_dir) if plan.base.data_dir else None,
            "model": pack_model(plan.base.model_path) if plan.base.model_path else None,
        }
    done = completed_ids(plan.study_dir)
    fn = tune.with_parameters(
        peft_trial, base=plan.base.to_dict(), done=done, assets=assets, stage1=stage1
    )
    study, reused = plan.spec.name, plan.reuse_workers

    class PeftTrial(wrap_function(fn)):
        def __repr__(self) -> str:  # the dashboard's actor "Repr" column, set once per actor
            return f"{study} trial worker" if reused else f"{study} trial {self.trial_name}"

        # Tune stops a trial (ASHA, the end of the study) through these, in the actor's main
        # thread; without this, a stopped trial went on training until its next report.
        def reset_config(self, new_config: dict) -> bool:
            stop_running_trial()
            return super().reset_config(new_config)

        def cleanup(self) -> None:
            stop_running_trial()
            super().cleanup()

    resources = {"cpu": plan.cpus_per_trial, "gpu": plan.gpus_per_trial}
    return tune.with_resources(PeftTrial, resources)


def execute(plan: StudyPlan, callbacks: tuple[tune.Callback, ...] = ()) -> None:
    """Run (or resume) the study until it has plan.samples trials; `callbacks` join the
    study's own in a new (not resumed) study."""
    from model.checkpoint import library_versions
    from model.encoder import weights_sha256

    plan.study_dir.mkdir(parents=True, exist_ok=True)
    if not plan.resume:
        versions = {**library_versions(), "ray": ray.__version__, "optuna": optuna.__version__}
        write_study_meta(
            plan, weights_sha256(plan.base.model_path), data_sizes(plan.base), versions
        )
    stage1 = None
    if plan.spec.kind == "merge":  # stage 1: per-task adapters, trained once (or reused)
        from study.merge_stage1 import prepare_task_adapters

        print(
            f"{plan.spec.name} stage 1: per-task adapters in {plan.study_dir / 'stage1'}",
            file=sys.stderr,
        )
        stage1 = prepare_task_adapters(plan.base, plan.study_dir, progress=True)
    init_ray(plan)
    exp_path = f"{plan.storage}/{plan.spec.name}"
    try:
        if plan.resume and tune.Tuner.can_restore(exp_path):
            print(f"resuming {plan.spec.name} from {exp_path}", file=sys.stderr)
            tuner = tune.Tuner.restore(
                exp_path,
                trainable=_trainable(plan, stage1),
                resume_unfinished=True,
                resume_errored=False,
            )
        else:
            tuner = _new_tuner(plan, stage1, callbacks)
        tuner.fit()
    finally:
        ray.shutdown()


def _new_tuner(
    plan: StudyPlan, stage1: dict[str, Any] | None, callbacks: tuple[tune.Callback, ...] = ()
) -> tune.Tuner:
    single = len(plan.metrics) == 1
    return tune.Tuner(
        _trainable(plan, stage1),
        tune_config=tune.TuneConfig(
            metric=plan.metrics[0] if single else None,
            mode=plan.modes[0] if single else None,
            search_alg=make_searcher(plan),
            scheduler=make_scheduler(plan),
            num_samples=plan.samples,
            max_concurrent_trials=plan.max_concurrent,
            # On by default: a worker process, its imports and caches serve trial after trial
            # (a fresh process costs ~8 s on 2 cores). Ray names an actor once, at its start,
            # so --fresh-workers gives each trial its own process and dashboard name.
            reuse_actors=plan.reuse_workers,
            trial_name_creator=lambda t: f"{plan.spec.name}_{t.trial_id}",
            trial_dirname_creator=lambda t: f"{plan.spec.name}_{t.trial_id}",
        ),
        run_config=tune.RunConfig(
            name=plan.spec.name,
            storage_path=plan.storage,
            failure_config=tune.FailureConfig(max_failures=1),
            callbacks=[StudyRecorder(plan), *callbacks],
            verbose=0,
        ),
    )
