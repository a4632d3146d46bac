"""--log-to mlflow,tensorboard: a real MLflow store read back with MLflow's own API, one run
per trial with its per-epoch scalars and its params; Ray's automatic loggers stay off."""

from __future__ import annotations

import mlflow
import pytest

from study.records import read_records
from tests.ecosystem.conftest import TRIALS

pytestmark = [pytest.mark.slow, pytest.mark.local_ray]


def test_mlflow_has_one_run_per_trial_with_the_epoch_scores_and_params(smoke_study):
    mlflow.set_tracking_uri(f"sqlite:///{smoke_study / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["smoke"])
    assert len(runs) == TRIALS
    for column in (
        "metrics.val_overall",
        "metrics.val_sst",
        "metrics.val_para",
        "metrics.val_sts",
        "metrics.overall",
        "metrics.epoch",
        "params.r",
        "params.lr",
    ):
        assert column in runs.columns, column
    records = {r.trial_id: r for r in read_records(smoke_study)}
    client = mlflow.tracking.MlflowClient()
    for _, run in runs.iterrows():
        trial_id = run["tags.trial_name"].split("_", 1)[1]
        record = records[trial_id]
        assert int(run["params.r"]) == record.params["r"]
        history = client.get_metric_history(run["run_id"], "val_overall")
        assert len(history) == record.epochs_run  # one point per epoch
        assert history[-1].value == record.val_overall


def test_only_the_asked_for_loggers_write_into_the_trial_folders(smoke_study):
    files = {p.name for p in (smoke_study / "ray").rglob("*") if p.is_file()}
    assert any(name.startswith("events.out.tfevents") for name in files)  # tensorboard
    assert "progress.csv" not in files and "result.json" not in files  # csv, json: not asked
