"""What each command was asked to do, as typed dataclasses: the CLI builds them from its
arguments before anything else runs, and the benchmark and tests build them directly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class TrialOptions:
    """What every training command takes: where the model and data are, and config changes."""

    scale: str = "cpu"
    """smoke | cpu | paper: the data sizes and epochs a config starts from."""
    sets: tuple[str, ...] = ()
    """`key=value` config overrides (--set)."""
    model_path: str = ""
    """A local BERT folder; empty: $PEFT_STUDY_MODEL_PATH or the embedded model."""
    data_dir: str = ""
    """The minBERT files; empty: $PEFT_STUDY_DATA_DIR or data/."""


@dataclass(frozen=True, kw_only=True)
class TrainOptions(TrialOptions):
    """`study train`: one trial in this process."""

    out: str = ""
    """The run folder; empty: runs/train/<time>-<method>."""


@dataclass(frozen=True, kw_only=True)
class RunOptions(TrialOptions):
    """`study run NAME`: a named study on Ray Tune."""

    study: str
    samples: int | None = None
    """Trials the search runs; None: the study's count for the scale."""
    seeds: int | None = None
    """Runs per chosen configuration (the paper rows and the top_k), its search run included;
    None: the study's count for the scale."""
    top_k: int | None = None
    """Best search configurations that get seed reruns besides the paper rows; None: the
    study's (2)."""
    cpus_per_trial: float | None = None
    """None: all CPUs / max_concurrent."""
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    """Trials at once; None: 1 on CPU, 1/gpus_per_trial on GPUs."""
    address: str = ""
    """An existing Ray cluster (auto | HOST:PORT | ray://HOST:PORT); empty: a local Ray."""
    resume: bool = False
    out: str = ""
    """The study folder; empty: runs/NAME."""
    storage: str = ""
    """Ray's experiment storage (a folder or pyarrow URI); empty: OUT/ray."""
    objectives: str = "overall"
    """overall | overall,params_pct (multi-objective, no ASHA)."""
    max_params_pct: float | None = None
    """A budget: proposals whose params_pct (counted before training) is above it never run."""
    fresh_workers: bool = False
    """A new worker process per trial instead of reused workers."""
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int | None = None
    """The local dashboard's port; None: 8265, or a free port when 8265 is taken."""


@dataclass(frozen=True, kw_only=True)
class BaselineOptions:
    """`study baseline`: the no-training floors."""

    scale: str = ""
    """A scale: its dev subsample; empty: the whole dev files."""
    model_path: str = ""
    data_dir: str = ""


@dataclass(frozen=True, kw_only=True)
class ReportOptions:
    study: str
    out: str = ""


@dataclass(frozen=True, kw_only=True)
class PredictOptions:
    target: str
    split: str = "dev"
    data_dir: str = ""
    out: str = ""


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    json: str = ""
    quick: bool = False
    asha: str = ""
