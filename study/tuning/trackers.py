"""--log-to: experiment trackers through Ray Tune's own logger callbacks (none of our own).

Ray's automatic TensorBoard / CSV / JSON loggers are off (TUNE_DISABLE_AUTO_CALLBACK_LOGGERS),
so that --log-to says everything a study writes besides its own files. Every tracker gets what
Tune reports each epoch (dev and validation overall and per task, params_pct, the epoch) as
scalars, and each trial's Tune config as params.

    tensorboard  TBXLoggerCallback: event files in each trial's folder under OUT/ray
                 (`tensorboard --logdir OUT/ray`)
    csv, json    CSVLoggerCallback, JsonLoggerCallback: progress.csv, result.json per trial
    mlflow       MLflowLoggerCallback: one MLflow run per trial in the experiment NAME, in
                 $MLFLOW_TRACKING_URI, else the SQLite store OUT/mlflow.db
                 (`mlflow ui --backend-store-uri sqlite:///OUT/mlflow.db`)
    wandb        WandbLoggerCallback: project NAME, offline unless $WANDB_MODE says otherwise:
                 each trial's run in its trial folder (ray/NAME/<trial>/wandb/offline-run-*,
                 `wandb sync` uploads it)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ray import tune

if TYPE_CHECKING:
    from study.plan import StudyPlan

MLFLOW_DB = "mlflow.db"


def mlflow_uri(plan: StudyPlan) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{plan.study_dir / MLFLOW_DB}"


def tracker_callbacks(plan: StudyPlan) -> list[tune.Callback]:
    out: list[tune.Callback] = []
    for name in plan.log_to:
        if name == "tensorboard":
            from ray.tune.logger import TBXLoggerCallback

            out.append(TBXLoggerCallback())
        elif name == "csv":
            from ray.tune.logger import CSVLoggerCallback

            out.append(CSVLoggerCallback())
        elif name == "json":
            from ray.tune.logger import JsonLoggerCallback

            out.append(JsonLoggerCallback())
        elif name == "mlflow":
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            out.append(
                MLflowLoggerCallback(
                    tracking_uri=mlflow_uri(plan),
                    experiment_name=plan.spec.name,
                    tags={"study": plan.spec.name, "scale": plan.base.scale},
                )
            )
        elif name == "wandb":
            from ray.air.integrations.wandb import WandbLoggerCallback

            # Ray's driver side reads WANDB_MODE (offline: it asks for no API key); the logging
            # actors do not inherit the driver's environment, so wandb.init gets the mode too
            mode = os.environ.setdefault("WANDB_MODE", "offline")
            out.append(WandbLoggerCallback(project=plan.spec.name, mode=mode))
    return out
