"""The study folder's durable records: trials.jsonl (one JSON line per finished trial) and
study.json (how the study was made). Readers: reports, predict, resume.

A row of trials.jsonl:
    study, trial_id, status (completed | stopped_early | errored), error (message or null),
    kind (train | merge), config (the full TrialConfig dict, or the merge config), seed,
    params (the sampled values), history ([{epoch, sst, para, sts, overall, ...}, ...]),
    sst, para, sts, overall (final = last epoch run), params_pct, params_total_pct,
    adapter_pct, seconds, epochs_run, adapter_dir (saved checkpoint or null),
    trained_params (block-0 parameter names, Figure 1), precision, peak_rss_mb (of the trial's
    process; null when stopped early), device (cpu | cuda), gpu (its name on CUDA), peak_gpu_mb
    (torch's peak allocation; null on CPU), started_unix and ended_unix (the trial's wall-clock
    span, seconds since the epoch; null when stopped early), cpu_seconds and nice (the training
    thread's nice value; null when stopped early), node_id, worker_pid (the process that ran
    it), finished_at (ISO time).

Rows are appended with one write() of a whole line plus fsync, so a crash leaves a line whole
or absent; a torn tail from a crash mid-write is cut off before the next append.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from study.errors import UserError

TRIALS = "trials.jsonl"
STUDY_META = "study.json"
STATUSES = ("completed", "stopped_early", "errored")


def append_row(study_dir: str | Path, row: dict[str, Any]) -> None:
    """Append one row durably. An OSError (read-only, disk full) becomes a one-line UserError."""
    path = Path(study_dir) / TRIALS
    line = (json.dumps(row, sort_keys=True, default=str) + "\n").encode()
    try:
        _repair_tail(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            _write_whole(fd, line)
        finally:
            os.close(fd)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UserError(f"cannot write {path}: {reason}; results so far are intact") from None


def _write_whole(fd: int, data: bytes) -> None:
    """Write all of `data` and fsync, or cut the file back to its old end and re-raise.

    write() may write only part (a file-size limit, a disk filling up): without the cut, a
    failed append would leave a torn line behind.
    """
    start = os.fstat(fd).st_size
    try:
        done = 0
        while done < len(data):
            written = os.write(fd, data[done:])
            if written == 0:
                raise OSError(28, os.strerror(28))  # ENOSPC: nothing more fits
            done += written
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, start)
        except OSError:
            pass  # the next append_row cuts the torn tail (_repair_tail)
        raise


def read_rows(study_dir: str | Path) -> list[dict[str, Any]]:
    """Every whole row, in file order; a torn last line is ignored."""
    path = Path(study_dir) / TRIALS
    if not path.is_file():
        return []
    rows = []
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:  # bad JSON or bad UTF-8: only a crash mid-write leaves one, at the end
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def completed_ids(study_dir: str | Path) -> dict[str, dict[str, Any]]:
    """trial_id -> row for rows whose status is final (not errored)."""
    return {r["trial_id"]: r for r in read_rows(study_dir) if r.get("status") != "errored"}


def best_row(study_dir: str | Path, metric: str = "overall") -> dict[str, Any] | None:
    """The completed (or stopped-early) row with the highest `metric`."""
    rows = [
        r
        for r in read_rows(study_dir)
        if r.get("status") != "errored" and r.get(metric) is not None
    ]
    return max(rows, key=lambda r: r[metric]) if rows else None


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write JSON beside, fsync, rename: whole or absent."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if tmp.is_file():  # a half-written copy; `path` itself was never touched
            tmp.unlink()
        raise UserError(f"cannot write {path}: {err.strerror or type(err).__name__}") from None


def read_study_meta(study_dir: str | Path) -> dict[str, Any]:
    path = Path(study_dir) / STUDY_META
    return json.loads(path.read_text()) if path.is_file() else {}


def _repair_tail(path: Path) -> None:
    """Cut a partial last line (left by a crash mid-write) so the next row starts clean."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        data = fh.seek(0) or fh.read()
        fh.truncate(data.rfind(b"\n") + 1)
