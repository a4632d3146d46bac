"""Task metrics and the overall score used by every table of the paper."""

from __future__ import annotations

import numpy as np

from model.spec import TASKS

METRICS = (*TASKS, "overall")
"""Every score a trial reports: the three tasks' dev metrics and the paper's overall."""
VAL_METRICS = tuple(f"val_{m}" for m in METRICS)
"""The same scores on the validation split, which every selection decision reads."""


def overall_score(sst: float, para: float, sts: float) -> float:
    """(sst + para + (sts + 1) / 2) / 3: STS Pearson is mapped from [-1, 1] to [0, 1]."""
    return (sst + para + (sts + 1.0) / 2.0) / 3.0


def overall_of(scores: dict[str, float]) -> float | None:
    """overall_score of a {task: score} dict, or None when a task is missing."""
    if not all(scores.get(t) is not None for t in TASKS):
        return None
    return overall_score(scores["sst"], scores["para"], scores["sts"])


def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(gold)))


def pearson(pred: np.ndarray, gold: np.ndarray) -> float:
    """Pearson correlation; 0.0 when predictions are constant (undefined otherwise)."""
    pred, gold = np.asarray(pred, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    if pred.std() == 0 or gold.std() == 0:
        return 0.0
    return float(np.corrcoef(pred, gold)[0, 1])


def task_score(task: str, pred: np.ndarray, gold: np.ndarray) -> float:
    """SST and Para: accuracy; STS: Pearson."""
    return pearson(pred, gold) if task == "sts" else accuracy(pred, gold)
