"""Read-only accessors for trials.jsonl rows (schema in study/results.py). Every key is optional."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

METRICS = ("sst", "para", "sts", "overall")
METRIC_LABELS = {"sst": "SST", "para": "Para", "sts": "STS", "overall": "Overall"}
METRIC_UNITS = {
    "sst": "SST accuracy",
    "para": "Para accuracy",
    "sts": "STS Pearson r",
    "overall": "overall score",
}
STATUS_ORDER = ("completed", "stopped_early", "errored")


def config(row: dict[str, Any]) -> dict[str, Any]:
    return row.get("config") or {}


def is_merge(row: dict[str, Any]) -> bool:
    return row.get("kind") == "merge"


def number(value: Any) -> float | None:
    """A finite float, or None for missing / NaN / non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def is_scored(row: dict[str, Any]) -> bool:
    """Has final dev scores: completed or stopped early by ASHA (not errored)."""
    return (
        row.get("status") in ("completed", "stopped_early")
        and number(row.get("overall")) is not None
    )


def is_completed(row: dict[str, Any]) -> bool:
    """Ran to its last epoch (the tables use only these)."""
    return row.get("status") == "completed" and number(row.get("overall")) is not None


def method(row: dict[str, Any]) -> str:
    """full | lora | dora | merge."""
    return "merge" if is_merge(row) else str(config(row).get("method", "lora"))


def mode(row: dict[str, Any]) -> str:
    return str(config(row).get("mode", "single_task"))


def task_order(row: dict[str, Any]) -> str:
    """e.g. 'sst-para-sts' (the paper's order labels, lower case)."""
    order = config(row).get("task_order") or ("sst", "para", "sts")
    return "-".join(order) if isinstance(order, list | tuple) else str(order)


def order_label(order: str) -> str:
    """'sst-para-sts' -> 'SST-Para-STS' as the paper writes it."""
    return "-".join(METRIC_LABELS.get(t, t) for t in order.split("-"))


def trial_label(row: dict[str, Any]) -> str:
    return str(row.get("trial_id") or "?")


def status_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Rows per status, in STATUS_ORDER, then any other status the rows carry."""
    counts = Counter(str(r.get("status") or "unknown") for r in rows)
    ordered = {s: counts.pop(s, 0) for s in STATUS_ORDER}
    ordered.update(sorted(counts.items()))
    return ordered
