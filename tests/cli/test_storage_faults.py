"""Storage faults: an unwritable output folder fails fast with one line, and a failed or torn
append never costs a row already written.

Tests run as root in CI, where chmod stops nothing; the faults here stop root too: a regular
file where a folder is expected, /proc, /dev/full (ENOSPC) and RLIMIT_FSIZE (EFBIG, with a
short write first) in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from study.atomic import write_json_atomic
from study.errors import UserError
from study.preflight import check_output_dir
from study.records import TRIALS, TrialRecord, append_record, read_meta, read_records
from tests.cli.bad_input_helpers import one_error_line, run_cli
from tests.conftest import PROJECT

HAS_PROC = Path("/proc/self").is_dir()


def rows(n: int) -> list[TrialRecord]:
    return [TrialRecord(trial_id=f"t{i}", status="completed", overall=i / 10) for i in range(n)]


def study_with_rows(folder: Path, n: int = 3) -> bytes:
    """A study folder holding n rows; returns the file's bytes."""
    folder.mkdir(exist_ok=True)
    for row in rows(n):
        append_record(folder, row)
    return (folder / TRIALS).read_bytes()


# ---- the output folder, through the CLI and the check behind it ----


def test_check_output_dir_creates_and_returns_the_folder(tmp_path):
    assert check_output_dir(tmp_path / "a" / "b") == (tmp_path / "a" / "b").resolve()
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []


def unwritable_places(tmp: Path) -> list[tuple[Path, str]]:
    blocker = tmp / "a-file"
    blocker.write_text("not a folder")
    places = [(blocker, "is a file, not a folder"), (blocker / "sub", "Not a directory")]
    if HAS_PROC:
        places.append((Path("/proc/peft-study"), "cannot write"))
    return places


def test_check_output_dir_refuses_what_root_cannot_write(tmp_path):
    for place, reason in unwritable_places(tmp_path):
        with pytest.raises(UserError, match=reason) as err:
            check_output_dir(place, "study folder")
        assert "\n" not in str(err.value) and str(place) in str(err.value)
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_train_out_is_a_file_exits_2_and_leaves_the_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    line = one_error_line(run_cli("train", "--scale", "smoke", "--out", str(blocker)))
    assert "is a file, not a folder" in line and str(blocker) in line
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_run_out_unwritable_exits_2_before_ray(where, tmp_path):
    if where == "proc" and not HAS_PROC:
        pytest.skip("no /proc")
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    out = blocker / "study" if where == "under_a_file" else Path("/proc/peft-study")
    line = one_error_line(run_cli("run", "smoke", "--scale", "smoke", "--out", str(out)))
    assert "cannot write study folder" in line and str(out) in line
    assert blocker.read_text() == "keep me"


# ---- trials.jsonl: appends that fail, and a torn tail ----


def test_append_to_a_full_disk_is_one_line(tmp_path):
    """trials.jsonl -> /dev/full: every write fails with ENOSPC."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    (tmp_path / TRIALS).symlink_to("/dev/full")
    with pytest.raises(UserError, match="No space left on device") as err:
        append_record(tmp_path, rows(1)[0])
    assert "\n" not in str(err.value) and "results so far are intact" in str(err.value)


def test_append_when_the_study_folder_is_a_file(tmp_path):
    blocker = tmp_path / "study"
    blocker.write_text("keep me")
    with pytest.raises(UserError, match="Not a directory"):
        append_record(blocker, rows(1)[0])
    assert blocker.read_text() == "keep me"


# The child hits a real kernel limit: RLIMIT_FSIZE lets a write reach the limit (a short
# write), then fails with EFBIG. SIGXFSZ is ignored so the failure is an error, not a kill.
CHILD = """
import json, resource, signal, sys
from study.errors import UserError
from study.atomic import write_json_atomic
from study.records import TrialRecord
from study.records import append_record
folder, limit, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
try:
    if what == "row":
        append_record(folder, TrialRecord(trial_id="big", status="completed", error="x" * 500))
    else:
        write_json_atomic(folder + "/study.json", {"study": "new", "pad": "x" * 500})
except UserError as err:
    print(json.dumps({"error": str(err)}))
else:
    print(json.dumps({"error": None}))
"""


def write_under_limit(folder: Path, limit: int, what: str) -> str | None:
    """Run one write in a child whose files may not grow past `limit` bytes; its error line."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(limit), what],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])["error"]


def test_failed_append_keeps_earlier_rows_whole(tmp_path):
    before = study_with_rows(tmp_path)
    error = write_under_limit(tmp_path, len(before) + 20, "row")  # 20 bytes fit, the row not
    assert error is not None and "File too large" in error and "\n" not in error
    assert (tmp_path / TRIALS).read_bytes() == before  # the short write was cut back
    assert read_records(tmp_path) == rows(3)
    append_record(tmp_path, TrialRecord(trial_id="after", status="completed"))  # the limit is gone
    assert [r.trial_id for r in read_records(tmp_path)] == ["t0", "t1", "t2", "after"]


def test_torn_last_line_is_ignored_then_cut_by_the_next_append(tmp_path):
    before = study_with_rows(tmp_path)
    torn = json.dumps({"trial_id": "torn", "status": "completed", "overall": 0.9})
    with open(tmp_path / TRIALS, "ab") as fh:  # a crash mid-write: half a line, no newline
        fh.write(torn[: len(torn) // 2].encode())
    assert read_records(tmp_path) == rows(3)
    append_record(tmp_path, TrialRecord(trial_id="next", status="completed"))
    after = (tmp_path / TRIALS).read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 4 and b"torn" not in after
    assert [r.trial_id for r in read_records(tmp_path)] == ["t0", "t1", "t2", "next"]


def test_read_rows_skips_a_line_of_garbage_bytes(tmp_path):
    before = study_with_rows(tmp_path, 2)
    (tmp_path / TRIALS).write_bytes(before + b"\xff\xfe{not json\n" + b"[1, 2]\n")
    assert read_records(tmp_path) == rows(2)


# ---- study.json: replaced whole or not at all ----


def test_failed_study_json_write_keeps_the_old_file(tmp_path):
    write_json_atomic(tmp_path / "study.json", {"study": "old"})
    before = (tmp_path / "study.json").read_bytes()
    error = write_under_limit(tmp_path, 100, "json")  # the new one is > 500 bytes
    assert error is not None and "study.json" in error and "\n" not in error
    assert (tmp_path / "study.json").read_bytes() == before
    assert read_meta(tmp_path).study == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.json"]  # no tmp left


def test_study_json_write_blocked_by_a_folder_keeps_the_old_file(tmp_path):
    write_json_atomic(tmp_path / "study.json", {"study": "old"})
    (tmp_path / "study.json.tmp").mkdir()  # where the new copy would be written
    with pytest.raises(UserError, match="cannot write"):
        write_json_atomic(tmp_path / "study.json", {"study": "new"})
    assert read_meta(tmp_path).study == "old"
