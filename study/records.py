"""Turn what Ray knows about a finished trial into a trials.jsonl row, and the progress line.

Pure functions (no Ray import): study/tune.py's callback passes plain values in.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from study.runner import StudyPlan, apply_params

SCORES = ("sst", "para", "sts", "overall", "params_pct", "params_total_pct", "adapter_pct")


def trial_row(
    plan: StudyPlan,
    trial_id: str,
    params: dict[str, Any],
    status: str,
    error: str | None,
    result: dict[str, Any],
    history: list[dict],
    checkpoint_path: str | None,
) -> dict[str, Any]:
    """One row as documented in study/results.py."""
    extra = json.loads(result.get("extra_json") or "{}")
    history = extra.pop("history", None) or history
    row = {
        "study": plan.spec.name,
        "trial_id": trial_id,
        "status": status,
        "error": error,
        "kind": plan.spec.kind,
        "config": row_config(plan, params),
        "seed": plan.base.seed,
        "params": dict(params),
        "history": history,
        **{k: result.get(k) for k in SCORES},
        "seconds": result.get("seconds") or result.get("time_total_s"),
        "epochs_run": len(history),
        "adapter_dir": checkpoint_path if status == "completed" else None,
        "trained_params": extra.get("trained_params"),
        "time_split": extra.get("time_split"),
        "precision": extra.get("precision"),
        "peak_rss_mb": extra.get("peak_rss_mb"),  # in the final report only
        "device": extra.get("device"),
        "gpu": extra.get("gpu"),  # the GPU's name on CUDA, else null
        "peak_gpu_mb": extra.get("peak_gpu_mb"),
        "started_unix": extra.get("started_unix"),
        "ended_unix": extra.get("ended_unix"),
        "cpu_seconds": extra.get("cpu_seconds"),
        "nice": extra.get("nice"),
        "node_id": result.get("node_id"),
        "worker_pid": result.get("worker_pid"),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if status == "errored":  # whatever it reported before failing is not a result
        row.update({k: None for k in SCORES})
    return row


def row_config(plan: StudyPlan, params: dict[str, Any]) -> dict[str, Any]:
    """The full config of a trial; a merge trial's is the stage-1 base plus its recipe."""
    if plan.spec.kind == "merge":
        lambdas = [params.get(f"lambda_{t}") for t in ("sst", "para", "sts")]
        return {
            **plan.base.to_dict(),
            "merge_method": params.get("merge_method"),
            "lambdas": lambdas,
            "density": params.get("density"),
        }
    return apply_params(plan.base, params).to_dict()


def progress_line(plan: StudyPlan, rows: list[dict], running: int, minutes: float) -> str:
    """[study 3.2 min] 5/14 done: 3 completed, 1 stopped early, 1 errored; 1 running | best ..."""
    count = {
        s: sum(r["status"] == s for r in rows) for s in ("completed", "stopped_early", "errored")
    }
    scored = [r for r in rows if r.get("overall") is not None]
    best = max(scored, key=lambda r: r["overall"]) if scored else None
    best_txt = (
        f"best overall {best['overall']:.4f} ({best['trial_id']}: {best['params']})"
        if best
        else "best -"
    )
    return (
        f"[{plan.spec.name} {minutes:5.1f} min] {len(rows)}/{plan.samples} done: "
        f"{count['completed']} completed, {count['stopped_early']} stopped early, "
        f"{count['errored']} errored; {running} running | {best_txt}"
    )


def error_line(error_file: str | None) -> str:
    """Last line of the trial's traceback, e.g. 'NonFiniteLossError: non-finite loss ...'."""
    text = ""
    if error_file and os.path.isfile(error_file):
        text = Path(error_file).read_text(errors="replace")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "trial failed (no error message)"
