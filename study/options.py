"""What each command was asked to do, as typed dataclasses: the CLI builds them from its
arguments before anything else runs, and the benchmark and tests build them directly.

These classes are the one source of the command line's options: study/cli/parser.py makes one
flag per field (`out` -> --out), with the field's default and its docstring as the help.
A field's `metadata` may name the flag, its metavar, or mark it positional (cli() below).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import textwrap
from dataclasses import dataclass, field
from typing import Any


def cli(flag: str = "", metavar: str = "", positional: bool = False) -> dict[str, Any]:
    """A field's command-line spelling: another flag name, a metavar, or a positional."""
    return {"flag": flag, "metavar": metavar, "positional": positional}


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """name -> the docstring under each field of `cls` and its bases (the string literal on
    the line after `name: type = default`), whitespace folded."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for node, after in zip(body, body[1:], strict=False):
            is_doc = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
            if isinstance(node, ast.AnnAssign) and is_doc and isinstance(after.value.value, str):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


@dataclass(frozen=True, kw_only=True)
class TrialOptions:
    """What every training command takes: where the model and data are, and config changes."""

    scale: str = "cpu"
    """smoke | cpu | paper: the data sizes and epochs a config starts from (default: cpu)."""
    sets: tuple[str, ...] = field(default=(), metadata=cli(flag="--set", metavar="KEY=VALUE"))
    """Override a config field, e.g. --set r=64 --set targets=all_linear (repeatable)."""
    model_path: str = field(default="", metadata=cli(metavar="DIR"))
    """A local BERT folder (default: $PEFT_STUDY_MODEL_PATH or the embedded all-MiniLM-L6-v2)."""
    data_dir: str = field(default="", metadata=cli(metavar="DIR"))
    """The folder of minBERT-layout files (default: $PEFT_STUDY_DATA_DIR or data/)."""


@dataclass(frozen=True, kw_only=True)
class TrainOptions(TrialOptions):
    """`study train`: one trial in this process."""

    out: str = field(default="", metadata=cli(metavar="DIR"))
    """The run folder (default: runs/train/<time>-<method>)."""


@dataclass(frozen=True, kw_only=True)
class RunOptions(TrialOptions):
    """`study run NAME`: a named study on Ray Tune."""

    study: str = field(metadata=cli(positional=True))
    """Study name (see `list`), or a study file (my_study.yaml: `show NAME` writes one)."""
    samples: int | None = None
    """Trials the search runs (default: the study's count for the scale)."""
    seeds: int | None = None
    """Runs per chosen configuration, the paper rows and the --top-k best; the search's own
    run counts as one (default: the study's for the scale, 3 at the cpu scale)."""
    top_k: int | None = None
    """Best search configurations that get seed reruns besides the paper rows (default: the
    study's, 2)."""
    cpus_per_trial: float | None = None
    """CPUs per trial (default: all CPUs / max-concurrent)."""
    gpus_per_trial: float = 0.0
    """GPUs per trial, fractions allowed, e.g. 0.25 (default: 0)."""
    max_concurrent: int | None = None
    """Trials at once (default: 1 on CPU, 1/gpus-per-trial on GPUs)."""
    address: str = ""
    """Join a Ray cluster: auto | HOST:PORT | ray://HOST:PORT (default: start a local Ray)."""
    fresh_workers: bool = False
    """A new worker process per trial, named after its trial in the dashboard (default: a
    worker runs trial after trial, which saves its start-up per trial)."""
    resume: bool = False
    """Continue an interrupted study in the same folder."""
    dry_run: bool = False
    """Print the checked plan (config, space, first points, trial counts, seeds, ASHA,
    resources, folder) and exit without starting Ray."""
    out: str = field(default="", metadata=cli(metavar="DIR"))
    """The study folder (default: runs/NAME)."""
    storage: str = field(default="", metadata=cli(metavar="URI"))
    """Ray's experiment storage: a folder or a pyarrow URI such as s3://bucket/path
    (default: OUT/ray)."""
    objectives: str = "overall"
    """overall | overall,params_pct (multi-objective, no ASHA) (default: overall)."""
    max_params_pct: float | None = field(default=None, metadata=cli(metavar="P"))
    """A parameter budget: proposals above P% params_pct (counted before training) never
    run."""
    log_to: str = field(default="", metadata=cli(metavar="LIST"))
    """Experiment trackers through Ray Tune's callbacks, comma-separated: tensorboard, csv,
    json, mlflow, wandb (default: none; Ray's own loggers are off)."""
    decide: bool = False
    """After the search and its reruns, give the study's claims seeds until each is decided
    (Stein's two-stage procedure) or --budget-min is spent."""
    min_effect: float = field(default=0.005, metadata=cli(metavar="E"))
    """--decide: the smallest difference in dev overall worth knowing (default: 0.005)."""
    budget_min: float | None = field(default=None, metadata=cli(metavar="M"))
    """--decide: minutes of trials the decide phase may run, counted in recorded trial
    seconds (default: no limit)."""
    dashboard_host: str = "127.0.0.1"
    """The dashboard's bind address for a local Ray (default: 127.0.0.1)."""
    dashboard_port: int | None = None
    """The dashboard's port for a local Ray (default: 8265, or a free port when it is
    taken)."""


@dataclass(frozen=True, kw_only=True)
class BaselineOptions:
    """`study baseline`: the no-training floors."""

    scale: str = ""
    """smoke | cpu | paper: that scale's dev subsample (default: the whole dev files)."""
    model_path: str = field(default="", metadata=cli(metavar="DIR"))
    """A local BERT folder (default: $PEFT_STUDY_MODEL_PATH or the embedded model)."""
    data_dir: str = field(default="", metadata=cli(metavar="DIR"))
    """The folder of minBERT-layout files (default: $PEFT_STUDY_DATA_DIR or data/)."""


@dataclass(frozen=True, kw_only=True)
class ReportOptions:
    """`study report NAME`: the PDF of a study folder."""

    study: str = field(metadata=cli(positional=True))
    """Study name (reads runs/NAME), or 'paper' for the combined report."""
    out: str = field(default="", metadata=cli(metavar="DIR"))
    """The study folder (default: runs/NAME)."""


@dataclass(frozen=True, kw_only=True)
class PredictOptions:
    """`study predict TARGET`: leaderboard-format predictions."""

    target: str = field(metadata=cli(positional=True))
    """A trial's run folder, or a study name or folder (its best trial)."""
    split: str = "dev"
    """dev | test (default: dev)."""
    data_dir: str = field(default="", metadata=cli(metavar="DIR"))
    """The folder of minBERT-layout files (default: $PEFT_STUDY_DATA_DIR or data/)."""
    out: str = field(default="", metadata=cli(metavar="DIR"))
    """Where the *-output.csv files go (default: TARGET/predictions)."""


@dataclass(frozen=True, kw_only=True)
class ShowOptions:
    """`study show NAME`: a study as the YAML a study file holds."""

    study: str = field(metadata=cli(positional=True))
    """A built-in study's name (see `list`), or a study file to check and print resolved."""


@dataclass(frozen=True, kw_only=True)
class StatusOptions:
    """`study status NAME|DIR`: where a study stands, read from its folder."""

    target: str = field(metadata=cli(positional=True))
    """A study folder, or the name of a study under runs/."""
    top_k: int = 5
    """Configurations shown, best by validation first (default: 5)."""


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """`study export NAME --csv FILE | TRIAL --hub DIR`: a table, or Hub-ready folders."""

    target: str = field(metadata=cli(positional=True))
    """A study folder or name (--csv; --hub: its best trial), or a trial's run folder (--hub)."""
    csv: str = field(default="", metadata=cli(metavar="FILE"))
    """Write the trials table (one row per trial, `load_trials`'s columns) to FILE."""
    hub: str = field(default="", metadata=cli(metavar="DIR"))
    """Write one Hub-ready folder per task to DIR: the peft adapter, its head, head.py and a
    model card."""


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """`study bench`: where a trial's time goes."""

    json: str = field(default="", metadata=cli(metavar="FILE"))
    """Also write the results as JSON to FILE."""
    quick: bool = False
    """Fewer steps and no Ray/Trainer runs."""
    asha: str = field(default="", metadata=cli(metavar="STUDY_DIR"))
    """Only report what ASHA early stopping saved in a finished study folder."""
