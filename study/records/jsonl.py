"""trials.jsonl: one TrialRecord per line, appended durably and read back whole.

Rows are appended with one write() of a whole line plus fsync, so a crash leaves a line whole
or absent; a torn tail from a crash mid-write is cut off before the next append.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from study.errors import FolderError, UserError
from study.records.record import TRIALS, Status, TrialRecord
from study.records.select import best


def append_record(study_dir: str | Path, record: TrialRecord) -> None:
    """Append one row durably. An OSError (read-only, disk full) becomes a one-line UserError."""
    path = Path(study_dir) / TRIALS
    line = (record.to_json() + "\n").encode()
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
            pass  # the next append cuts the torn tail (_repair_tail)
        raise


def read_records(study_dir: str | Path) -> list[TrialRecord]:
    """Every whole row, in file order. A torn last line (a crash mid-write, or a row being
    appended now) is ignored; a damaged line before it is a FolderError naming the line."""
    path = Path(study_dir) / TRIALS
    if not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:  # bad JSON or bad UTF-8
            continue  # a torn row (test_storage_faults: garbage bytes are skipped)
        if not isinstance(row, dict):
            continue
        try:
            records.append(TrialRecord.from_dict(row))
        except (TypeError, ValueError, AttributeError) as err:  # a field of another shape
            raise FolderError(
                f"{path} line {number} is damaged ({type(err).__name__}: {err}); restore the "
                "file from a copy, or delete that line to drop its trial"
            ) from None
    return records


def finished_records(study_dir: str | Path) -> dict[str, TrialRecord]:
    """trial_id -> record for rows whose status is final (not errored)."""
    return {r.trial_id: r for r in read_records(study_dir) if r.status is not Status.ERRORED}


def best_record(study_dir: str | Path) -> TrialRecord | None:
    """The study's best trial (select.best): chosen on validation, never on dev."""
    return best(read_records(study_dir))


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
