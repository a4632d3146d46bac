"""The study folder's durable records: TrialRecord, one line of trials.jsonl per finished trial,
and study.json (how the study was made). Written by study/tuning; read by reports/, predict and
resume. The file I/O: study/trials_file.py (trials.jsonl) and study/json_files.py.

A trial returns one TrialRecord (run_trial, run_merge_trial); Ray carries it as JSON; the
study's recorder adds its bookkeeping (trial id, status, ...) and appends it. Every row carries
`format`; rows without one are the unversioned rows of earlier releases (format 1), which hold
a subset of the same keys and load as they are.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.errors import UserError
from study.json_files import read_json
from study.metrics import METRICS

RECORD_FORMAT = 2
TRIALS = "trials.jsonl"
STUDY_META = "study.json"
STATUSES = ("completed", "stopped_early", "errored")
COUNTS = (
    "params_pct",  # trainable / (base encoder + heads) x 100, one task's share (model/multitask)
    "params_total_pct",  # every task's adapters and heads together
    "adapter_pct",  # adapters only / base encoder x 100 (the paper's count)
    "adapter_params",
    "trainable_params",
    "base_params",
)


class RecordFormatError(UserError):
    """A trials.jsonl row written by a newer peft-study."""


@dataclass(frozen=True)
class EpochScores:
    """Scores after one epoch: validation (every epoch) and dev (the last epoch; earlier ones
    too in format-1 rows), and the epoch's mean training loss per task."""

    epoch: int
    sst: float | None = None
    para: float | None = None
    sts: float | None = None
    overall: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    val_sst: float | None = None
    val_para: float | None = None
    val_sts: float | None = None
    val_overall: float | None = None


@dataclass(frozen=True)
class MergeInfo:
    """How a merge trial combined the stage-1 adapters (study/merge)."""

    method: str
    lambdas: dict[str, float]
    weights: dict[str, float]
    """What multiplied each ΔW (fedavg: λ / Σλ; eoe: λ per expert)."""
    density: float | None = None
    stage1_dir: str | None = None
    residual_overlap: float | None = None
    """Largest ‖ΔWᵢ ΔWⱼᵀ‖ / (‖ΔWᵢ‖ ‖ΔWⱼ‖) of the merged adapters (≈ 0 for OrthoAda)."""


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its config, dev scores per epoch, parameter counts, and how it ran."""

    format: int = RECORD_FORMAT
    kind: str = "train"
    """train (run_trial) | merge (run_merge_trial)."""
    config: dict[str, Any] = field(default_factory=dict)
    """The full TrialConfig (to_dict); a merge trial's also has merge_method, lambdas, density."""
    sst: float | None = None
    para: float | None = None
    sts: float | None = None
    overall: float | None = None
    """Dev scores after the last epoch (None for a trial stopped early or errored): what the
    tables report, and what no selection decision reads."""
    val_sst: float | None = None
    val_para: float | None = None
    val_sts: float | None = None
    val_overall: float | None = None
    """Validation scores after the last epoch run: what every selection decision reads."""
    history: tuple[EpochScores, ...] = ()
    epochs_run: int = 0
    final: bool = False
    """True once the trial ran its last epoch (and saved its checkpoint)."""
    params_pct: float | None = None
    params_total_pct: float | None = None
    adapter_pct: float | None = None
    adapter_params: int | None = None
    trainable_params: int | None = None
    base_params: int | None = None
    stored_params: int | None = None
    """Frozen tensors the adapter stores besides its trained ones (VeRA's shared projections)."""
    adapter_params_final: int | None = None
    """AdaLoRA: one task's adapter size once its budget pruned the ranks."""
    optimizer_steps: dict[str, int] = field(default_factory=dict)
    """Optimizer steps per encoder (what AdaLoRA's schedule spans)."""
    seconds: float | None = None
    started_unix: float | None = None
    ended_unix: float | None = None
    cpu_seconds: float | None = None
    """CPU time of every thread of the trial's process."""
    nice: int | None = None
    """The training thread's nice value (a Ray worker's priority)."""
    precision: str | None = None
    device: str | None = None
    gpu: str | None = None
    peak_rss_mb: float | None = None
    peak_gpu_mb: float | None = None
    time_split: dict[str, float] = field(default_factory=dict)
    """Seconds spent in setup (tokenize included), data, train, eval and save."""
    model_sha256: str | None = None
    train_examples: dict[str, int] = field(default_factory=dict)
    val_examples: dict[str, int] = field(default_factory=dict)
    dev_examples: dict[str, int] = field(default_factory=dict)
    trained_params: tuple[str, ...] = ()
    """Trainable parameter names of encoder block 0 (Figure 1)."""
    adapter_dir: str | None = None
    """The saved run folder (checkpoint) of a completed trial."""
    merge: MergeInfo | None = None
    study: str | None = None
    """The rest is the study's bookkeeping, filled in by study/tuning."""
    trial_id: str | None = None
    status: str | None = None
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    """The values the search sampled (a rerun: its config's, with the seed)."""
    seed: int | None = None
    phase: str = "search"
    """search: proposed by the search | rerun: a chosen configuration again with another seed."""
    node_id: str | None = None
    worker_pid: int | None = None
    finished_at: str | None = None

    def scores(self) -> dict[str, float | None]:
        return {m: getattr(self, m) for m in METRICS}

    def val_scores(self) -> dict[str, float | None]:
        return {m: getattr(self, f"val_{m}") for m in METRICS}

    def selection_score(self) -> float | None:
        """What selection reads: validation overall, or dev overall for rows without one."""
        return self.val_overall if self.val_overall is not None else self.overall

    def counts(self) -> dict[str, float | int | None]:
        return {k: getattr(self, k) for k in COUNTS}

    def replace(self, **changes: Any) -> TrialRecord:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        """A record from a trials.jsonl row of this or an earlier format."""
        version = data.get("format", 1)
        if not isinstance(version, int) or version > RECORD_FORMAT:
            raise RecordFormatError(
                f"a {TRIALS} row has format {version!r}, newer than this peft-study reads "
                f"(formats 1-{RECORD_FORMAT}); upgrade peft-study to read it"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        values["format"] = version
        values["history"] = tuple(_epoch(h) for h in data.get("history") or ())
        values["trained_params"] = tuple(data.get("trained_params") or ())
        if isinstance(data.get("merge"), dict):
            values["merge"] = MergeInfo(**data["merge"])
        elif data.get("merge_method"):  # format 1 kept a merge's settings beside the scores
            values["merge"] = MergeInfo(
                method=data["merge_method"],
                lambdas=data.get("lambdas") or {},
                weights=data.get("merge_weights") or {},
                density=data.get("density"),
                stage1_dir=data.get("stage1_dir"),
                residual_overlap=data.get("residual_overlap"),
            )
        for name in (
            "config",
            "params",
            "time_split",
            "train_examples",
            "val_examples",
            "dev_examples",
            "optimizer_steps",
        ):
            if not isinstance(values.get(name, {}), dict):
                values.pop(name)
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> TrialRecord:
        return cls.from_dict(json.loads(text))


def _epoch(entry: dict[str, Any]) -> EpochScores:
    """A history entry; format 1 kept the losses as loss_<task> keys beside the scores."""
    losses = dict(entry.get("losses") or {})
    losses |= {k[5:]: v for k, v in entry.items() if k.startswith("loss_")}
    val = {f"val_{m}": entry.get(f"val_{m}") for m in METRICS}
    return EpochScores(int(entry.get("epoch", 0)), *(entry.get(m) for m in METRICS), losses, **val)


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively (JSON's shape)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def read_study_meta(study_dir: str | Path) -> dict[str, Any]:
    path = Path(study_dir) / STUDY_META
    return read_json(path) if path.is_file() else {}
