"""Which trial is best: one rule, used by predict, the summary, status, the report, the seed
reruns and the progress line.

A configuration is a trial's config without what does not change its result (the seed, the
thread count, the fault hook). Among completed trials, configurations rank by the mean of their
seeds' selection scores (validation overall; dev for rows made before the validation split),
ties broken by more seeds, then by the configuration's key, so the rank never depends on the
order of trials.jsonl. The best trial is the best configuration's best seed by the same score,
ties to the lower seed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from study.records.record import TrialRecord

IGNORED_FIELDS = ("seed", "threads", "inject_fault")
"""Config fields that are not part of a configuration's identity."""


def params_text(params: dict[str, Any]) -> str:
    """A trial's params in words, e.g. 'method=lora r=16 lr=0.0003' (floats to 4 digits)."""
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def config_key(config: dict[str, Any]) -> str:
    """A configuration's identity: its fields but IGNORED_FIELDS, as sorted JSON."""
    kept = {k: v for k, v in config.items() if k not in IGNORED_FIELDS}
    return json.dumps(kept, sort_keys=True, default=str)


@dataclass(frozen=True)
class Configuration:
    """The completed seeds of one configuration."""

    key: str
    records: tuple[TrialRecord, ...]

    @property
    def mean_score(self) -> float:
        """Mean selection score over its seeds."""
        return sum(r.selection_score() for r in self.records) / len(self.records)

    @property
    def best_record(self) -> TrialRecord:
        """Its best seed by selection score; ties go to the lower seed."""
        return min(self.records, key=lambda r: (-r.selection_score(), r.seed_value))

    def _rank(self) -> tuple[float, int, str]:
        return (-self.mean_score, -len(self.records), self.key)


def rank_configurations(records: Iterable[TrialRecord]) -> list[Configuration]:
    """Every configuration with a completed, scored trial, best first (module docstring)."""
    groups: dict[str, list[TrialRecord]] = {}
    for record in records:
        if record.completed and record.selection_score() is not None:
            groups.setdefault(config_key(record.config), []).append(record)
    ranked = [Configuration(key, tuple(rows)) for key, rows in groups.items()]
    return sorted(ranked, key=Configuration._rank)


def best(records: Iterable[TrialRecord]) -> TrialRecord | None:
    """The best completed trial: the best configuration's best seed; None without one."""
    ranked = rank_configurations(records)
    return ranked[0].best_record if ranked else None
