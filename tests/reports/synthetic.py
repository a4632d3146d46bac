"""Synthetic TrialRecords for the report tests: a completed trial whose scores are given, so
that every number a page shows can be computed by hand."""

from __future__ import annotations

from typing import Any

from study.config import TrialConfig
from study.records import TrialRecord


def record(
    trial_id: str,
    seed: int,
    overall: float,
    *,
    kind: str = "train",
    val: float | None = None,
    status: str = "completed",
    **fields: Any,
) -> TrialRecord:
    """A trial of `kind` (train: a full TrialConfig from the given config fields; merge: the
    fields as they are, with the seed) whose dev overall is `overall` (SST and Para alike, STS
    2 * overall - 1, so the overall formula holds) and validation overall `val` (default: the
    same). Record fields (params_pct, seconds, ...) pass through; the rest are config fields."""
    known = set(TrialRecord.__dataclass_fields__)
    extra = {k: v for k, v in fields.items() if k in known}
    config = {k: v for k, v in fields.items() if k not in known}
    base = (
        TrialConfig(seed=seed, **config).to_dict() if kind == "train" else config | {"seed": seed}
    )
    dev = {} if status != "completed" else {"sst": overall, "para": overall, "overall": overall}
    dev |= {"sts": 2 * overall - 1} if dev else {}
    return TrialRecord(
        kind=kind,
        config=base,
        trial_id=trial_id,
        status=status,
        seed=seed,
        val_overall=overall if val is None else val,
        study=extra.pop("study", "synthetic"),
        **dev,
        **extra,
    )
