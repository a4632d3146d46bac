"""A study's trials as a pandas DataFrame: `from study import load_trials`.

    df = load_trials("runs/lora_sweep")        # or a study name: runs/NAME
    df[df.status == "completed"].groupby("config.method")["overall"].mean()

One row per trial of trials.jsonl, in file order, flattened with pandas.json_normalize:

    trial_id, study, phase, status, seed, kind   what the trial was: phase search | rerun |
                                                 decide; status completed | stopped_early |
                                                 errored
    sst, para, sts, overall                      dev scores (overall = (sst + para +
                                                 (sts + 1) / 2) / 3); NaN unless completed
    val_sst, val_para, val_sts, val_overall      validation scores, what every choice reads
    seconds, cpu_seconds, peak_rss_mb, peak_gpu_mb   time and memory
    params_pct, adapter_pct, trainable_params, ...   parameter counts
    config.*                                     the full TrialConfig (config.r, config.lr, ...)
    params.*                                     what the search sampled (params.r, ...)
    merge.*, time_split.*, ...                   the other nested fields, one column each
    epochs_run                                   epochs trained (per-epoch scores: load_epochs)

`python -m study export NAME --csv FILE` writes the same table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from study.errors import UserError
from study.records.jsonl import read_records
from study.records.meta import STUDY_META
from study.records.record import TRIALS

if TYPE_CHECKING:
    import pandas as pd

FIRST = ("trial_id", "study", "phase", "status", "seed", "kind")
SCORES = ("sst", "para", "sts", "overall", "val_sst", "val_para", "val_sts", "val_overall")


def study_folder(name_or_dir: str | Path) -> Path:
    """A study folder from a folder path or a study name (runs/NAME): one with trials.jsonl,
    or with study.json while its first trial still runs; one line if neither."""
    path = Path(name_or_dir).expanduser()
    for folder in (path, Path("runs") / str(name_or_dir)):
        if (folder / TRIALS).is_file() or (folder / STUDY_META).is_file():
            return folder
    raise UserError(
        f"no study at {name_or_dir}: neither {path}/{TRIALS} nor runs/{name_or_dir}/{TRIALS} "
        "exists; pass a study folder or the name of a study under runs/"
    )


def load_trials(name_or_dir: str | Path) -> pd.DataFrame:
    """One row per trial (module docstring), the identity and scores first."""
    import pandas as pd

    rows = []
    for record in read_records(study_folder(name_or_dir)):
        row = record.to_dict()
        row.pop("history", None)  # per epoch: load_epochs
        rows.append(row)
    df = pd.json_normalize(rows) if rows else pd.DataFrame(columns=[*FIRST, *SCORES])
    front = [c for c in (*FIRST, *SCORES) if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


def load_epochs(name_or_dir: str | Path) -> pd.DataFrame:
    """One row per (trial, epoch): trial_id, phase, status, epoch, the dev and validation
    scores of that epoch, and its losses (losses.*); the learning curves."""
    import pandas as pd

    rows = []
    for record in read_records(study_folder(name_or_dir)):
        for epoch in record.to_dict().get("history") or ():
            rows.append(
                {"trial_id": record.trial_id, "phase": record.phase}
                | dict(epoch)
                | {"status": None if record.status is None else record.status.value}
            )
    return pd.json_normalize(rows) if rows else pd.DataFrame(columns=["trial_id", "epoch"])
