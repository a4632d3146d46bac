"""TrialRecord: one finished trial, one line of trials.jsonl. Written by study/tuning; read by
reports/, predict, status and resume. The file: jsonl.py; study.json: meta.py; which trial is
best: select.py.

A trial returns one TrialRecord (run_trial, run_merge_trial); Ray carries it as JSON; the
study's recorder adds its bookkeeping (trial id, status, ...) and appends it. Every row carries
`format`; rows without one are the unversioned rows of earlier releases (format 1), which hold
a subset of the same keys and load as they are.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from study.errors import UserError
from study.metrics import METRICS, VAL_METRICS

RECORD_FORMAT = 2
TRIALS = "trials.jsonl"


class Status(str, Enum):
    """How a trial ended (a str, so rows keep their JSON spelling and compare to plain text)."""

    COMPLETED = "completed"
    """Ran its last epoch and saved its checkpoint: the tables use only these."""
    STOPPED_EARLY = "stopped_early"
    """ASHA stopped it at a rung: it has validation scores of the epochs it ran, no dev."""
    ERRORED = "errored"
    """It raised (or its loss turned NaN): counted, never scored."""

    def __str__(self) -> str:
        return self.value


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
    adapter_bytes: int | None = None
    """Bytes on disk of the saved adapters' and heads' weights (safetensors)."""
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
    status: Status | None = None
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    """The values the search sampled (a rerun: its config's, with the seed)."""
    seed: int | None = None
    phase: str = "search"
    """search: proposed by the search | rerun: a chosen configuration again with another seed."""
    node_id: str | None = None
    worker_pid: int | None = None
    finished_at: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not isinstance(self.status, Status):
            object.__setattr__(self, "status", Status(self.status))

    @property
    def completed(self) -> bool:
        """Ran to its last epoch and has dev scores (what tables and claims use)."""
        return self.status is Status.COMPLETED and _finite(self.overall)

    @property
    def scored(self) -> bool:
        """Has a score to show: completed, or stopped early with the scores of its last
        epoch (figures); never an errored trial."""
        if self.status is Status.COMPLETED:
            return _finite(self.overall)
        return self.status is Status.STOPPED_EARLY and _finite(self.selection_score())

    @property
    def is_merge(self) -> bool:
        """A stage-2 merge trial (study/merge): it trains nothing."""
        return self.kind == "merge"

    @property
    def method(self) -> str:
        """full | lora | dora | ... | merge (a merge trial's method is its kind)."""
        return "merge" if self.is_merge else str(self.config.get("method", "lora"))

    @property
    def seed_value(self) -> int:
        """The trial's seed (the record's, else its config's)."""
        return int(self.seed if self.seed is not None else self.config.get("seed", 0))

    def selection_score(self) -> float | None:
        """What selection reads: validation overall, or dev overall for rows without one
        (rows of studies made before the validation split)."""
        return self.val_overall if self.val_overall is not None else self.overall

    def scores(self) -> dict[str, float | None]:
        return {m: getattr(self, m) for m in METRICS}

    def val_scores(self) -> dict[str, float | None]:
        return {m: getattr(self, v) for m, v in zip(METRICS, VAL_METRICS, strict=True)}

    def counts(self) -> dict[str, float | int | None]:
        return {k: getattr(self, k) for k in COUNTS}

    def replace(self, **changes: Any) -> TrialRecord:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = _plain(dataclasses.asdict(self))
        out["status"] = None if self.status is None else self.status.value
        return out

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
        if "status" in values:
            try:
                values["status"] = Status(values["status"])
            except ValueError:
                allowed = ", ".join(s.value for s in Status)
                raise RecordFormatError(
                    f"a {TRIALS} row has status {values['status']!r}; known: {allowed}"
                ) from None
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
    val = {v: entry.get(v) for v in VAL_METRICS}
    return EpochScores(int(entry.get("epoch", 0)), *(entry.get(m) for m in METRICS), losses, **val)


def _finite(value: Any) -> bool:
    """A real number (not None, a bool, NaN or infinite)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value)


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively (JSON's shape)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
