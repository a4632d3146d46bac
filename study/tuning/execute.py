"""Run or resume a study: Ray Tune's Tuner with OptunaSearch (seeded TPE) and ASHA.

Trials run `study.train.run.run_trial` in Ray actors (trainable.py); the driver-side
StudyRecorder writes one durable row per finished trial to trials.jsonl. Resume =
Tuner.restore on the same folder; a trial already recorded as finished is never trained again.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna
import ray
from ray import tune

from model.encoder import weights_sha256
from study.data.splits import data_sizes
from study.folder_lock import hold_study_folder
from study.records import read_records
from study.records.meta import EMBEDDED, StudyMeta, write_meta
from study.scales import recipe
from study.study_files import spec_to_dict
from study.train.baseline import study_floors
from study.train.checkpoint import library_versions
from study.tuning.cluster import init_ray
from study.tuning.recorder import StudyRecorder
from study.tuning.reruns import RERUN, RERUNS, rerun_points
from study.tuning.resources import alive_nodes, fit_request
from study.tuning.search import make_scheduler, make_searcher
from study.tuning.trackers import tracker_callbacks
from study.tuning.trainable import make_trainable

if TYPE_CHECKING:  # built by study/plan.py; the tuning layer only reads it
    from study.plan import StudyPlan


class AfterEachTrial(tune.Callback):
    """Calls hook() in the driver after each trial completes; the study waits meanwhile."""

    def __init__(self, hook: Callable[[], None]) -> None:
        self.hook = hook

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.hook()


Then = Callable[["StudyPlan", "dict[str, Any] | None"], None]
"""A phase run after the reruns in the same Ray session, e.g. study/decide's: (plan, stage1)."""


def run_study(plan: StudyPlan, then: Then | None = None) -> None:
    """Run (or resume) the study while holding its folder: a second command on the same folder
    is refused at once (folder_lock.py)."""
    with hold_study_folder(plan.study_dir):
        execute(plan, then=then)


def execute(
    plan: StudyPlan,
    after_each_trial: Callable[[], None] | None = None,
    then: Then | None = None,
) -> None:
    """Run (or resume) the study until it has plan.samples trials, then its reruns, then
    `then`. after_each_trial (a module-level function, as Tune pickles it) runs in the driver
    after each trial of a new study (the benchmark's plain runs)."""
    callbacks = (AfterEachTrial(after_each_trial),) if after_each_trial else ()
    # Ray's own CSV / JSON / TensorBoard loggers only where --log-to asks (trackers.py); the
    # ResultGrid Tune builds at the end then finds no result.json to read, which it warns about
    # for every trial: trials.jsonl is the study's record
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    plan.study_dir.mkdir(parents=True, exist_ok=True)
    init_ray(plan)
    try:
        plan = fit_request(plan, alive_nodes())  # before anything is written or trained
        if not plan.resume:
            versions = {**library_versions(), "ray": ray.__version__}
            versions["optuna"] = optuna.__version__
            sha = weights_sha256(plan.base.model_path)
            meta = describe(plan, sha, data_sizes(plan.base), versions, study_floors(plan.base))
            write_meta(plan.study_dir, meta)
        stage1 = None
        if plan.spec.kind == "merge":  # stage 1: per-task adapters, trained once (or reused)
            where = plan.study_dir / "stage1"
            print(f"{plan.spec.name} stage 1: per-task adapters in {where}", file=sys.stderr)
            stage1 = stage1_for(plan, plan.seeds)
        exp_path = f"{plan.storage}/{plan.spec.name}"
        if plan.resume and tune.Tuner.can_restore(exp_path):
            print(f"resuming {plan.spec.name} from {exp_path}", file=sys.stderr)
            tuner = tune.Tuner.restore(
                exp_path,
                trainable=make_trainable(plan, stage1),
                resume_unfinished=True,
                resume_errored=False,
            )
        else:
            tuner = new_tuner(plan, stage1, callbacks)
        tuner.fit()
        run_reruns(plan, callbacks, stage1)
        if then is not None:
            then(plan, stage1)
    finally:
        ray.shutdown()


def describe(
    plan: StudyPlan, model_sha: str, data_sizes: dict, versions: dict, floors: dict
) -> StudyMeta:
    """The study.json of a new study: how it was made, from its plan."""
    sched = plan.spec.scheduler
    asha = sched is not None and len(plan.metrics) == 1
    return StudyMeta(
        study=plan.spec.name,
        description=plan.spec.description,
        scale=plan.base.scale,
        samples=plan.samples,
        model_path=plan.base.model_path or EMBEDDED,
        model_sha256=model_sha,
        data_sizes=data_sizes,
        recipe=recipe(plan.base, plan.seeds),
        baseline=floors,
        search={
            "sampler": "TPESampler",
            "seed": plan.seed,
            "metric": list(plan.metrics),
            "mode": list(plan.modes),
            "points_to_evaluate": len(plan.spec.points_to_evaluate),
        },
        scheduler={
            "type": "ASHA",
            "grace_period": min(sched.grace_period, plan.base.epochs),
            "reduction_factor": sched.reduction_factor,
            "max_t": plan.base.epochs,
            "time_attr": "epoch",
            "run_first_points_fully": sched.run_first_points_fully,
        }
        if asha
        else None,
        resources={
            "cpus_per_trial": plan.cpus_per_trial,
            "gpus_per_trial": plan.gpus_per_trial,
            "max_concurrent": plan.max_concurrent,
            "reuse_workers": plan.reuse_workers,
        },
        hardware={
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
        },
        versions=versions,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        base_config=plan.base.to_dict(),
        spec=spec_to_dict(plan.spec),  # the file form: resume and report need no file
    )


def run_reruns(
    plan: StudyPlan,
    callbacks: tuple[tune.Callback, ...] = (),
    stage1: dict[str, Any] | None = None,
) -> None:
    """The seed reruns (reruns.py) as a second experiment, NAME-reruns, in the same storage;
    a merge study's merge the other seeds' stage-1 adapters."""
    name = f"{plan.spec.name}{RERUNS}"
    if tune.Tuner.can_restore(f"{plan.storage}/{name}"):  # chosen when the search ended
        run_points(plan, [], name, "rerun", callbacks, stage1)
        return
    points = rerun_points(plan, read_records(plan.study_dir))
    if not points:
        return
    print(
        f"{plan.spec.name}: {len(points)} seed reruns of the chosen configurations "
        f"({plan.seeds} seeds each, never stopped early)",
        file=sys.stderr,
    )
    run_points(plan, points, name, "rerun", callbacks, stage1)


def run_points(
    plan: StudyPlan,
    points: list[dict[str, Any]],
    name: str,
    phase: str,
    callbacks: tuple[tune.Callback, ...] = (),
    stage1: dict[str, Any] | None = None,
) -> None:
    """Run `points` (params, seed included) as the experiment `name`, never stopped early,
    recorded with `phase`; an experiment of that name that can be restored is continued
    instead (its unfinished trials; the recorded ones report their rows again)."""
    exp_path = f"{plan.storage}/{name}"
    if tune.Tuner.can_restore(exp_path):
        tuner = tune.Tuner.restore(
            exp_path,
            trainable=make_trainable(plan, stage1),
            resume_unfinished=True,
            resume_errored=False,
        )
    else:
        tuner = tune.Tuner(
            make_trainable(plan, stage1),
            param_space={RERUN: tune.grid_search(points)},
            tune_config=tune.TuneConfig(
                num_samples=1,
                max_concurrent_trials=plan.max_concurrent,
                reuse_actors=plan.reuse_workers,
                trial_name_creator=lambda t: f"{plan.spec.name}_{t.trial_id}",
                trial_dirname_creator=lambda t: f"{plan.spec.name}_{t.trial_id}",
            ),
            run_config=_run_config(plan, name, callbacks, phase, len(points)),
        )
    tuner.fit()


def stage1_for(plan: StudyPlan, seeds: int) -> dict[str, Any]:
    """A merge study's stage-1 adapters for `seeds` seeds (trained where missing)."""
    from study.merge.stage1 import prepare_task_adapters

    return prepare_task_adapters(plan.base, plan.study_dir, seeds, progress=True)


def _run_config(
    plan: StudyPlan,
    name: str,
    callbacks: tuple[tune.Callback, ...],
    phase: str,
    points: int | None = None,
) -> tune.RunConfig:
    return tune.RunConfig(
        name=name,
        storage_path=plan.storage,
        failure_config=tune.FailureConfig(max_failures=1),
        callbacks=[StudyRecorder(plan, phase, points), *tracker_callbacks(plan), *callbacks],
        verbose=0,
    )


def new_tuner(
    plan: StudyPlan, stage1: dict[str, Any] | None, callbacks: tuple[tune.Callback, ...] = ()
) -> tune.Tuner:
    single = len(plan.metrics) == 1
    return tune.Tuner(
        make_trainable(plan, stage1),
        tune_config=tune.TuneConfig(
            metric=plan.metrics[0] if single else None,
            mode=plan.modes[0] if single else None,
            search_alg=make_searcher(plan),
            scheduler=make_scheduler(plan),
            num_samples=plan.samples,
            max_concurrent_trials=plan.max_concurrent,
            # A worker process, its imports and caches serve trial after trial. Ray names an
            # actor once, at its start, so --fresh-workers gives each trial its own process and
            # dashboard name.
            reuse_actors=plan.reuse_workers,
            trial_name_creator=lambda t: f"{plan.spec.name}_{t.trial_id}",
            trial_dirname_creator=lambda t: f"{plan.spec.name}_{t.trial_id}",
        ),
        run_config=_run_config(plan, plan.spec.name, callbacks, "search"),
    )
