"""The Ray Tune trainable: one trial = run_trial on the base config + sampled params, or in a
merge study run_merge_trial on the saved stage-1 adapters. Each report carries the trial's
TrialRecord as JSON, beside the few scalars Tune schedules on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
from ray import tune

from study.atomic import write_text
from study.records import TrialRecord, finished_records
from study.tuning.reruns import RERUN
from study.tuning.training_thread import run_on_training_thread, stop_running_trial

if TYPE_CHECKING:  # built by study/plan.py; the tuning layer only reads it
    from study.plan import StudyPlan

RECORD_FILE = "record.json"  # a finished trial's record, in its Tune checkpoint


def peft_trial(
    params: dict[str, Any],
    base: dict[str, Any],
    done: dict[str, str],
    assets: dict[str, Any],
    stage1: dict[str, Any] | None = None,
    study: str = "",
) -> None:
    """Tune function trainable. `done`: trial_id -> record JSON of trials already in
    trials.jsonl (a restored study reports them again instead of training them)."""
    from study.config import TrialConfig
    from study.train.model_card import write_model_cards
    from study.train.run import run_trial
    from study.tuning.assets import materialize

    trial_id = tune.get_context().get_trial_id()
    node_id = ray.get_runtime_context().get_node_id()
    # A reused worker's dashboard name is fixed at its start; its log (Actors -> the worker ->
    # Logs) says which trial it runs.
    print(f"trial {tune.get_context().get_trial_name()} started: {params}", flush=True)
    # A trial that already finished (the driver died before Ray saved that) is not retrained:
    # its row in trials.jsonl, or its final checkpoint, is reported again instead.
    if trial_id in done:
        report_record(TrialRecord.from_json(done[trial_id]), node_id)
        return
    saved = tune.get_checkpoint()
    if saved is not None:
        with saved.as_directory() as folder:
            record = TrialRecord.from_json((Path(folder) / RECORD_FILE).read_text())
        report_record(record, node_id)
        return
    params = params.get(RERUN, params)  # a seed rerun's params, seed included
    config = TrialConfig.from_dict(base)
    if not stage1:
        config = config.replace(**params)
    # On a node without the driver's folders, use the copies shipped through the object store.
    for field, kind in (("data_dir", "data"), ("model_path", "model")):
        path = getattr(config, field)
        if path and not os.path.isdir(path) and assets.get(kind):
            config = config.replace(**{field: materialize(assets[kind], kind)})
    run_dir = Path(tempfile.mkdtemp(prefix=f"peft-trial-{trial_id}-"))

    def report(record: TrialRecord) -> None:
        if record.final and (run_dir / "checkpoint").is_dir():
            write_text(run_dir / RECORD_FILE, record.to_json())
            if not stage1:  # the cards name the study and trial that made the adapters
                scores = {"dev": record.scores()}
                card = (run_dir, config, record.model_sha256 or "", scores, study, trial_id)
                write_model_cards(*card)
            report_record(record, node_id, tune.Checkpoint.from_directory(str(run_dir)))
        else:
            report_record(record, node_id)

    def train(put: Any, stop: threading.Event) -> None:  # on the worker's training thread
        if stage1:
            from study.merge.stage2 import run_merge_trial

            run_merge_trial(params, stage1, config, put, run_dir)
        else:
            run_trial(config, put, run_dir, stop=stop)

    try:
        run_on_training_thread(train, report)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def report_record(record: TrialRecord, node_id: str, checkpoint: Any = None) -> None:
    """Tune gets the scalars it schedules on; the record rides along as one JSON string."""
    scalars = {"epoch": record.epochs_run, "final": record.final}
    # what Tune schedules on, and what trackers (--log-to) plot per epoch
    scores = ("overall", "sst", "para", "sts", "val_overall", "val_sst", "val_para", "val_sts")
    scalars |= {k: getattr(record, k) for k in (*scores, "params_pct")}
    scalars = {k: v for k, v in scalars.items() if v is not None}
    extra = {"record": record.to_json(), "node_id": node_id, "worker_pid": os.getpid()}
    tune.report(scalars | extra, checkpoint=checkpoint)


def make_trainable(plan: StudyPlan, stage1: dict[str, Any] | None = None) -> Any:
    """peft_trial as a Tune class whose actors are named after their trial in the dashboard."""
    from study.tuning.assets import pack_data, pack_model

    assets = {}
    if plan.address:  # no shared filesystem assumed: ship custom data/model folders
        assets = {
            "data": pack_data(plan.base.data_dir) if plan.base.data_dir else None,
            "model": pack_model(plan.base.model_path) if plan.base.model_path else None,
        }
    done = {i: r.to_json() for i, r in finished_records(plan.study_dir).items()}
    fn = tune.with_parameters(
        peft_trial,
        base=plan.base.to_dict(),
        done=done,
        assets=assets,
        stage1=stage1,
        study=plan.spec.name,
    )
    resources = {"cpu": plan.cpus_per_trial, "gpu": plan.gpus_per_trial}
    try:  # Tune's function wrapper is not public API: without it, trials run as a function
        from ray.tune.trainable.function_trainable import wrap_function
    except ImportError:
        return tune.with_resources(fn, resources)
    study, reused = plan.spec.name, plan.reuse_workers

    class PeftTrial(wrap_function(fn)):
        def __repr__(self) -> str:  # the dashboard's actor "Repr" column, set once per actor
            return f"{study} trial worker" if reused else f"{study} trial {self.trial_name}"

        # Tune stops a trial (ASHA, the end of the study) through these, in the actor's main
        # thread; without this, a stopped trial would go on training until its next report.
        def reset_config(self, new_config: dict) -> bool:
            stop_running_trial()
            return super().reset_config(new_config)

        def cleanup(self) -> None:
            stop_running_trial()
            super().cleanup()

    return tune.with_resources(PeftTrial, resources)
