"""Studies on a real local Ray with real Optuna, the real model and the real data (smoke scale)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from search_spaces import load_study
from search_spaces.spec import Choice
from study.options import RunOptions
from study.plan import make_plan
from tests.conftest import read_rows

pytestmark = pytest.mark.local_ray

ROOT = Path(__file__).resolve().parents[2]
ROW_KEYS = {
    "trial_id",
    "status",
    "error",
    "config",
    "seed",
    "params",
    "history",
    "sst",
    "para",
    "sts",
    "overall",
    "params_pct",
    "seconds",
    "adapter_dir",
    "epochs_run",
    "trained_params",
}


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "study", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_args(study: str, out: Path, **kw) -> RunOptions:
    return RunOptions(study=study, scale="smoke", out=str(out), **kw)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "nosuch"], "known studies"),
        (["run", "smoke", "--scale", "paper"], "has no scale"),
        (["run", "smoke", "--samples", "-1"], "--samples"),
        (["run", "smoke", "--set", "nosuch=1"], "nosuch"),
        (["run", "smoke", "--set", "r=abc"], "r="),
        (["run", "smoke", "--objectives", "speed"], "--objectives"),
        (["run", "smoke", "--resume", "--out", "/tmp/peft-study-does-not-exist"], "--resume"),
        (["run", "smoke", "--budget-min", "5"], "add --decide"),
        (["run", "smoke", "--decide", "--min-effect", "0"], "--min-effect=0 is invalid"),
        (["run", "smoke", "--decide", "--budget-min", "-1"], "--budget-min=-1 is invalid"),
        (["run", "smoke", "--decide", "--budget-min", "x"], "--budget-min"),
    ],
)
def test_bad_run_input_exits_2_with_one_line_before_ray(argv, needle):
    proc = run_cli(*argv, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "Ray dashboard" not in proc.stderr


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "study", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_lock(folder: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        lock = folder / ".lock"
        if (
            lock.is_file()
            and lock.read_text().startswith("pid ")
            and (folder / "study.json").is_file()
        ):
            return
        time.sleep(0.5)
    raise AssertionError(f"{folder}: the study never held its lock")


def _bytes(path) -> bytes:  # noqa: ANN001
    """A file's bytes, b"" while the study has not written it yet."""
    return path.read_bytes() if path.is_file() else b""


@pytest.fixture(scope="module")
def two_studies(tmp_path_factory):
    """Two smoke studies at once on this machine, each on its own local Ray: `plain` (reused
    workers) and `fresh` (--fresh-workers) in other folders; and, while `plain` runs, a third
    command on `plain`'s folder, which must be refused at once. `fresh` starts once Tune has
    made `plain`'s first trial, with two trials of its own (each in a new worker process): on
    2 cores, two studies overlapping from start to end took longer than one after the other."""
    root = tmp_path_factory.mktemp("two")
    plain_out, fresh_out = root / "plain", root / "fresh"
    plain = _start("run", "smoke", "--scale", "smoke", "--out", str(plain_out))
    _wait_for_lock(plain_out, plain)
    before = {n: (plain_out / n).read_bytes() for n in ("study.json",) if (plain_out / n).is_file()}
    rows_before, journal_before = (
        _bytes(plain_out / "trials.jsonl"),
        _bytes(plain_out / "optuna.journal"),
    )
    refused = run_cli("run", "smoke", "--scale", "smoke", "--out", str(plain_out), timeout=120)
    untouched = (
        {n: (plain_out / n).read_bytes() for n in before} == before
        and _bytes(plain_out / "trials.jsonl").startswith(rows_before)
        and _bytes(plain_out / "optuna.journal").startswith(journal_before)
    )
    deadline = time.time() + 300  # until Tune has made plain's first trial folder
    while time.time() < deadline and plain.poll() is None:
        if list((plain_out / "ray" / "smoke").glob("smoke_*")):
            break
        time.sleep(0.5)
    fresh = _start(
        "run",
        "smoke",
        "--scale",
        "smoke",
        "--samples",
        "2",
        "--fresh-workers",
        "--out",
        str(fresh_out),
    )
    outs = {}
    for name, proc in (("plain", plain), ("fresh", fresh)):
        stdout, stderr = proc.communicate(timeout=1200)
        outs[name] = (proc.returncode, stdout, stderr)
    return {
        "plain": (plain_out, *outs["plain"]),
        "fresh": (fresh_out, *outs["fresh"]),
        "refused": refused,
        "plain_pid": plain.pid,
        "untouched": untouched,
    }


@pytest.mark.slow
def test_smoke_study_records_every_trial(two_studies):
    out, code, stdout, stderr = two_studies["plain"]
    assert code == 0, stderr[-3000:]
    rows = read_rows(out)
    assert len(rows) == 3 and len({r["trial_id"] for r in rows}) == 3
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["status"] in ("completed", "stopped_early")
        assert row["config"]["scale"] == "smoke" and row["config"]["r"] == row["params"]["r"]
        last = row["history"][-1]
        assert row["history"] and last["val_overall"] == pytest.approx(row["val_overall"])
        if row["status"] == "completed":  # dev after the last epoch only: what tables report
            assert last["overall"] == pytest.approx(row["overall"])
        assert 0 < row["params_pct"] < 5
    first = rows[0] if rows[0]["params"] == {"r": 4, "lr": 1e-3} else None
    assert first is not None, "the study's first point is evaluated first"
    done = [r for r in rows if r["status"] == "completed"]
    assert done and all(
        (Path(r["adapter_dir"]) / "checkpoint" / "heads.safetensors").is_file() for r in done
    )
    assert all(300 < r["peak_rss_mb"] < 8000 and r["precision"] in ("fp32", "bf16") for r in done)
    # Ray renices its workers to 15 unless told not to; trials keep the driver's priority
    assert all(r["nice"] == os.getpriority(os.PRIO_PROCESS, 0) for r in done)
    assert len({r["worker_pid"] for r in rows}) == 1  # one worker serves trial after trial
    assert json.loads((out / "study.json").read_text())["resources"]["reuse_workers"] is True
    assert (out / "optuna.journal").is_file() and (out / "study.json").is_file()
    assert "best trial" in stdout and "Ray dashboard: http://127.0.0.1:" in stderr


@pytest.mark.slow
def test_fresh_workers_give_every_trial_its_own_process(two_studies):
    out, code, _, stderr = two_studies["fresh"]
    assert code == 0, stderr[-3000:]
    rows = read_rows(out)
    assert len(rows) == 2 and {r["status"] for r in rows} <= {"completed", "stopped_early"}
    assert len({r["worker_pid"] for r in rows}) == 2
    assert json.loads((out / "study.json").read_text())["resources"]["reuse_workers"] is False
    assert "actors named 'smoke trial smoke_<id>'" in stderr


@pytest.mark.slow
def test_two_studies_at_once_each_run_on_their_own_ray(two_studies):
    """The second study started while the first ran: its own dashboard on another port, a note
    that the two share this machine's CPUs; both complete."""
    (_, _, _, plain_err), (_, code, _, fresh_err) = two_studies["plain"], two_studies["fresh"]
    assert code == 0
    ports = [
        re.search(r"Ray dashboard: http://127.0.0.1:(\d+)", e).group(1)
        for e in (plain_err, fresh_err)
    ]
    assert ports[0] != ports[1]
    assert "other Ray cluster(s) run on this machine" in fresh_err


@pytest.mark.slow
def test_a_second_command_on_a_running_study_folder_is_refused(two_studies):
    refused, out = two_studies["refused"], two_studies["plain"][0]
    assert refused.returncode == 2, refused.stderr
    lines = [
        ln for ln in refused.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")
    ]
    assert (
        len(lines) == 1
        and f"study folder {out} is in use by pid {two_studies['plain_pid']}" in lines[0]
    )
    assert "Ray dashboard" not in refused.stderr and two_studies["untouched"]


@pytest.mark.slow
def test_failing_trial_is_recorded_as_errored_and_the_study_goes_on(tmp_path, capfd):
    from dataclasses import replace

    from study.tuning.execute import execute

    spec = load_study("smoke")
    spec = replace(
        spec,
        space={**spec.space, "inject_fault": Choice(("", "nan", "raise"))},
        points_to_evaluate=(
            {"r": 2, "lr": 1e-3, "inject_fault": "nan"},
            {"r": 4, "lr": 1e-3, "inject_fault": ""},
            {"r": 8, "lr": 1e-3, "inject_fault": "raise"},
        ),
        scheduler=None,
    )
    plan = make_plan(spec, run_args("smoke", tmp_path / "faults", samples=3))
    # a default request larger than this machine: a local Ray caps it, with a one-line note
    plan = replace(plan, cpus_per_trial=64.0, cpus_explicit=False)
    execute(plan)
    note = [ln for ln in capfd.readouterr().err.splitlines() if "default request of 64 CPUs" in ln]
    assert len(note) == 1 and f"each trial gets {os.cpu_count()}" in note[0]
    assert (
        json.loads((plan.study_dir / "study.json").read_text())["resources"]["cpus_per_trial"]
        == os.cpu_count()
    )
    rows = {r["params"]["inject_fault"]: r for r in read_rows(plan.study_dir)}
    assert rows["nan"]["status"] == "errored" and "non-finite loss" in rows["nan"]["error"]
    assert "task sst, epoch 1, step 1" in rows["nan"]["error"]
    assert rows["raise"]["status"] == "errored" and "injected fault" in rows["raise"]["error"]
    assert rows[""]["status"] == "completed" and rows[""]["overall"] > 0


@pytest.mark.slow
def test_kill_9_of_the_driver_then_resume_loses_and_reruns_nothing(tmp_path):
    """kill -9 of the driver (its study folder locked) during the search; the same command
    again finishes the search and the seed reruns (--seeds 2) with nothing lost or trained
    twice; the report's Table 2 then shows n = 2 with an interval for the paired seeds."""
    out = tmp_path / "killed"
    args = ["run", "smoke", "--scale", "smoke", "--samples", "4", "--seeds", "2", "--out", str(out)]
    cmd = [sys.executable, "-m", "study", *args]
    driver = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 400
    while time.time() < deadline and len(read_rows(out)) < 1:
        time.sleep(1)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
    driver.wait()
    before = read_rows(out)
    assert before, "no trial finished before the deadline"
    assert (out / ".lock").is_file()  # left behind, but no longer held: the kernel freed it
    proc = run_cli(*args, "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = read_rows(out)
    ids = [r["trial_id"] for r in after]
    lost = [r["trial_id"] for r in before if r not in after]
    rerun = [
        r["trial_id"]
        for r in before
        if r["adapter_dir"]
        and sorted(os.listdir(Path(r["adapter_dir"]).parent)).count("checkpoint_000001")
    ]
    search = [r for r in after if r["phase"] == "search"]
    reruns = [r for r in after if r["phase"] == "rerun"]
    print(
        f"completed trials lost = {len(lost)}, trials rerun = {len(rerun) + len(ids) - len(set(ids))}, "
        f"final count = {len(search)} of 4 searched, {len(reruns)} seed reruns"
    )
    assert not lost and not rerun and len(ids) == len(set(ids)) and len(search) == 4
    # the first point and the 2 best others, each once more with seed 1, never stopped early
    assert 1 <= len(reruns) <= 3 and {r["seed"] for r in reruns} == {1}
    assert all(r["status"] == "completed" for r in reruns)
    first = {"r": 4, "lr": 1e-3}
    paired = [r for r in after if {k: r["params"].get(k) for k in first} == first]
    assert sorted(r["seed"] for r in paired) == [0, 1]
    report = run_cli("report", "smoke", "--out", str(out))
    assert report.returncode == 0, report.stderr[-2000:]
    table = pd.read_csv(out / "tables" / "table2.csv")
    row = table[(table.r == 4) & (table.lr == 1e-3) & (table.n == 2)]
    assert (
        len(row) == 1
        and row.iloc[0]["overall_ci_low"] < row.iloc[0]["overall"] < row.iloc[0]["overall_ci_high"]
    )
