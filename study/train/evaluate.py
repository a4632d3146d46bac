"""Predictions in file order, computed on length-sorted batches under inference_mode."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from model.multitask import MultiTaskBert
from study.data.batching import Encoded, collate, sorted_batches
from study.metrics import overall_score, task_score
from study.train.memory import release_free_memory

EVAL_BATCH = 64  # examples per evaluation batch (length-sorted, so little padding)


def predict(
    model: MultiTaskBert,
    data: Encoded,
    batch_size: int = EVAL_BATCH,
    autocast: contextlib.AbstractContextManager | None = None,
) -> np.ndarray:
    """SST: class 0-4; Para: 0/1; STS: score clipped to [0, 5]. Shape (N,), in input order.

    On CUDA each batch is copied in (pinned) and the predictions come back in one copy.
    """
    model.eval()
    device = next(model.parameters()).device
    order, preds = [], []
    with torch.inference_mode(), autocast or contextlib.nullcontext():
        for index in sorted_batches(data.lengths(), batch_size):
            batch = collate(data, index)
            if device.type != "cpu":
                batch = {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
            y = model(data.task, batch).float()
            if data.task == "sst":
                y = y.argmax(-1)
            elif data.task == "para":
                y = (y > 0).long()
            else:
                y = y.clamp(0.0, 5.0)
            order.append(index)
            preds.append(y.double())
    out = np.zeros(len(data), dtype=np.float64)
    if preds:
        out[np.concatenate(order)] = torch.cat(preds).cpu().numpy()
    return out.astype(np.int64) if data.task != "sts" else out


def evaluate(
    model: MultiTaskBert,
    dev: dict[str, Encoded],
    batch_size: int = EVAL_BATCH,
    autocast: contextlib.AbstractContextManager | None = None,
) -> dict[str, float]:
    """Dev scores per task and overall."""
    scores = {
        task: task_score(task, predict(model, enc, batch_size, autocast), enc.labels)
        for task, enc in dev.items()
    }
    scores["overall"] = overall_score(scores["sst"], scores["para"], scores["sts"])
    release_free_memory()
    return scores
