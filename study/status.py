"""`python -m study status NAME|DIR`: where a study stands, from its folder alone.

It reads trials.jsonl, study.json, running.json and decide.json, and asks the kernel whether a
live process holds the folder's lock, so it works during a study, after a crash and on a copy;
it starts nothing and writes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

from study.decide.allocate import lacking
from study.folder_lock import holder
from study.records import (
    Status,
    TrialRecord,
    params_text,
    rank_configurations,
    read_meta,
    read_records,
)
from study.records.decisions import read_decide_plan
from study.records.frame import study_folder
from study.records.running import read_running
from study.tuning.reruns import params_key

TOP_K = 5


def status_text(name_or_dir: str | Path, top_k: int = TOP_K, now: float | None = None) -> str:
    folder = study_folder(name_or_dir)
    now = time.time() if now is None else now
    rows = read_records(folder)
    meta = read_meta(folder)
    who = holder(folder)
    lines = [f"study {meta.study if meta else folder.name} at {folder}"]
    lines.append(f"  {'running: ' + who if who else 'not running (no live process holds it)'}")
    counts = ", ".join(f"{sum(r.status is s for r in rows)} {s.value}" for s in Status)
    lines.append(f"trials: {len(rows)} finished ({counts})")
    running = read_running(folder)
    if running:
        head = "running now" if who else "were running when it stopped (--resume runs them again)"
        lines.append(f"{len(running)} {head}:")
        for trial_id, info in running.items():
            minutes = (now - float(info.get("started_unix", now))) / 60
            lines.append(
                f"  {trial_id} ({info.get('phase', '?')}, {minutes:.1f} min): "
                f"{params_text(info.get('params', {}))}"
            )
    lines += _top(rows, top_k)
    floors = meta.floors("dev") if meta else None
    if floors:
        shown = "  ".join(
            f"{k} {floors[k]:.3f}" for k in ("sst", "para", "sts", "overall") if k in floors
        )
        lines.append(f"floors (no training, dev): {shown}")
    lines += _left(folder, rows, meta)
    return "\n".join(lines)


def _top(rows: list[TrialRecord], k: int) -> list[str]:
    ranked = rank_configurations(rows)[:k]
    if not ranked:
        return ["no completed trial yet"]
    out = [f"top {len(ranked)} by validation (mean over seeds; dev beside it):"]
    for i, config in enumerate(ranked, start=1):
        dev = [r.overall for r in config.records if r.overall is not None]
        seeds = sorted(r.seed_value for r in config.records)
        dev_text = f"{sum(dev) / len(dev):.4f}" if dev else "-"
        params = {k: v for k, v in config.best_record.params.items() if k != "seed"}
        out.append(
            f"  {i}. val {config.mean_score:.4f}  dev {dev_text}  seeds {seeds}  {params_text(params)}"
        )
    return out


def _left(folder: Path, rows: list[TrialRecord], meta) -> list[str]:  # noqa: ANN001
    out = []
    search = sum(r.phase == "search" for r in rows)
    samples = meta.samples if meta else None
    if samples is not None:
        left = max(samples - search, 0)
        out.append(f"left to run: search {left} of {samples}" if left else "search: done")
    reruns = sum(r.phase == "rerun" for r in rows)
    seeds = (meta.recipe or {}).get("seeds") if meta else None
    if isinstance(seeds, int) and seeds > 1:
        out.append(
            f"seed reruns: {reruns} recorded ({seeds} seeds per chosen configuration; chosen "
            "when the search ends)"
        )
    plan = read_decide_plan(folder)
    if plan is not None:
        funded = {(params_key(a), s) for c in plan.claims if c.funded for a, s in lacking(c, rows)}
        undecided = sum(not c.funded for c in plan.claims)
        out.append(
            f"decide phase: {len(plan.claims)} claims, {len(funded)} funded trials left, "
            f"{undecided} claims beyond the budget (decide.json)"
        )
    return out
