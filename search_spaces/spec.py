"""Typed shapes of a study definition. Study modules fill these with data, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Choice:
    """A categorical parameter."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class LogUniform:
    """A float drawn on a log scale in [low, high]."""

    low: float
    high: float


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly in [low, high]."""

    low: float
    high: float


Param = Choice | LogUniform | Uniform

# The six orders of sst, para, sts in sequential training (Figure 2, Table 3), as Optuna-friendly strings.
TASK_ORDERS = (
    "sst-para-sts",
    "sst-sts-para",
    "para-sst-sts",
    "para-sts-sst",
    "sts-sst-para",
    "sts-para-sst",
)


@dataclass(frozen=True)
class Scheduler:
    """ASHA settings; the time unit is the epoch (one report per epoch)."""

    grace_period: int = 1
    """Epochs every trial runs before it can be stopped (>= 1)."""
    reduction_factor: int = 2
    """ASHA keeps 1/reduction_factor of the trials at each rung."""
    run_first_points_fully: bool = True
    """The points_to_evaluate (the paper's rows) are never stopped early, so every paper row
    gets a completed trial; ASHA stops only trials Optuna proposes."""


@dataclass(frozen=True)
class StudySpec:
    """A named study: what to vary, what to maximise, how many trials per scale."""

    name: str
    """Registry name, e.g. lora_sweep."""
    description: str
    """One line shown by `study list`."""
    base: dict[str, Any]
    """TrialConfig overrides applied to the scale preset before sampling."""
    space: dict[str, Param]
    """Optuna search space: TrialConfig field -> distribution."""
    samples: dict[str, int]
    """Default number of trials per scale; a scale missing here is not offered."""
    scale_base: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per scale, overrides applied after `base` (e.g. the cpu scale's start for a model the
    paper's recipe does not suit)."""
    points_to_evaluate: tuple[dict[str, Any], ...] = ()
    """Configurations evaluated first, in order (e.g. the paper's table rows)."""
    scheduler: Scheduler | None = field(default_factory=Scheduler)
    """ASHA settings, or None for no early stopping."""
    seeds: dict[str, int] = field(default_factory=lambda: {"smoke": 1, "cpu": 3, "paper": 3})
    """Runs per chosen configuration (its search run and seed reruns), per scale: paired
    seeds behind every interval of the report. 1: no reruns."""
    top_k: int = 2
    """How many of the search's best configurations (by validation) get seed reruns besides
    the first points."""
    rerun_first_points: bool = True
    """Rerun the first points that ran (the paper's rows) with every seed."""
    rerun_best_of: str = ""
    """When set (e.g. "method"), the seed reruns are the best configuration by validation of
    each value this parameter took, instead of the first points and the top_k: every method
    gets the same reruns, so the methods table compares like with like."""
    kind: str = "train"
    """train: each trial trains (run_trial). merge: each trial merges saved adapters."""
    includes: tuple[str, ...] = ()
    """For a suite: the studies it runs, in order (then space and samples are unused)."""
