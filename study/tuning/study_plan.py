"""StudyPlan: everything study/tuning needs to run one study, checked before Ray starts.

study/plan.py builds it from the command's options; nothing here imports Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from search_spaces.spec import StudySpec
from study.config import TrialConfig


@dataclass(frozen=True)
class StudyPlan:
    """One study, ready to run."""

    spec: StudySpec
    base: TrialConfig
    """The config every trial starts from (scale, study base, --set), threads set."""
    study_dir: Path
    samples: int
    """Trials the search runs."""
    metrics: tuple[str, ...]
    """What the search optimises: ("overall",) or ("overall", "params_pct")."""
    modes: tuple[str, ...]
    """max | min per metric."""
    cpus_per_trial: float
    gpus_per_trial: float
    cpus_explicit: bool
    """--cpus-per-trial was given: never capped to fit a node (refused instead)."""
    max_concurrent: int
    address: str
    """An existing cluster's address; empty: a local Ray."""
    dashboard_host: str
    dashboard_port: int
    """A port that was free when the plan was made (8265 unless it was taken)."""
    resume: bool
    """The study folder already holds this study: continue it."""
    storage: str
    """Ray's experiment storage: a local folder or a pyarrow-filesystem URI (s3://, gs://, ...)."""
    seeds: int = 1
    """Runs per chosen configuration: the search's run and seeds - 1 reruns (reruns.py)."""
    top_k: int = 2
    """Search configurations, besides the first points, that get reruns."""
    seed: int = 0
    """The sampler's seed."""
    max_params_pct: float | None = None
    """Proposals above this params_pct are pruned before they run (search.py)."""
    reuse_workers: bool = True
    """Run trials one after another in the same worker process (Tune's reuse_actors): imports,
    weights and token caches load once per worker. False: a fresh, trial-named process each."""
