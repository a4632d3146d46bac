"""Studies on a real local Ray with real Optuna, the real model and the real data (smoke scale)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from search_spaces import load_study, study_names
from search_spaces.spec import Choice, LogUniform, Uniform
from study.merge.trial import merge_params
from study.options import RunOptions
from study.plan import make_plan
from study.scales import scale_config
from tests.conftest import read_rows

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


def fixed_params(space: dict, pick: int) -> dict:
    """Sample through Optuna's own API (FixedTrial): value number `pick` of each parameter."""
    values = {}
    for name, p in space.items():
        if isinstance(p, Choice):
            values[name] = p.values[pick % len(p.values)]
        else:
            values[name] = p.low if pick % 2 == 0 else p.high
    trial = optuna.trial.FixedTrial(values)
    out = {}
    for name, p in space.items():
        if isinstance(p, Choice):
            out[name] = trial.suggest_categorical(name, list(p.values))
        else:
            out[name] = trial.suggest_float(name, p.low, p.high, log=isinstance(p, LogUniform))
    return out


@pytest.mark.parametrize("name", study_names())
def test_every_study_loads_and_samples_valid_configs(name):
    spec = load_study(name)
    assert spec.description and spec.samples
    if spec.includes:
        for sub in spec.includes:
            assert load_study(sub).samples.keys() >= spec.samples.keys()
        for scale, n in spec.samples.items():
            assert n == sum(load_study(s).samples[scale] for s in spec.includes)
        return
    for scale in spec.samples:
        base = scale_config(scale).replace(**spec.base)
        for pick in range(3):
            params = fixed_params(spec.space, pick)
            if spec.kind == "merge":
                method, lambdas, _ = merge_params(params)
                assert method == params["merge_method"] and len(lambdas) == 3
            else:
                assert base.replace(**params).scale == scale
        for point in spec.points_to_evaluate:
            assert set(point) == set(spec.space), "a first point must set every searched parameter"
            merge_params(point) if spec.kind == "merge" else base.replace(**point)
    for p in spec.space.values():
        assert isinstance(p, Choice | LogUniform | Uniform)


def test_lora_sweep_starts_with_the_paper_table2_rows():
    spec = load_study("lora_sweep")
    rows = [(p["method"], p["r"], p["targets"], p["bias"]) for p in spec.points_to_evaluate]
    assert rows[:8] == [
        ("lora", 2, "qkv", "none"),
        ("lora", 4, "qkv", "none"),
        ("lora", 16, "qkv", "none"),
        ("lora", 64, "qkv", "none"),
        ("dora", 64, "qkv", "none"),
        ("lora", 64, "all_linear", "none"),
        ("lora", 64, "all_linear", "all"),
        ("lora", 128, "all_linear", "all"),
    ]
    assert spec.samples["cpu"] >= 12


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
    ],
)
def test_bad_run_input_exits_2_with_one_line_before_ray(argv, needle):
    proc = run_cli(*argv, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "Ray dashboard" not in proc.stderr


@pytest.mark.slow
def test_smoke_study_records_every_trial(tmp_path):
    out = tmp_path / "smoke"
    proc = run_cli("run", "smoke", "--scale", "smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_rows(out)
    assert len(rows) == 3 and len({r["trial_id"] for r in rows}) == 3
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["status"] in ("completed", "stopped_early")
        assert row["config"]["scale"] == "smoke" and row["config"]["r"] == row["params"]["r"]
        assert row["history"] and row["history"][-1]["overall"] == pytest.approx(row["overall"])
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
    assert "best trial" in proc.stdout and "Ray dashboard: http://127.0.0.1:" in proc.stderr


@pytest.mark.slow
def test_fresh_workers_give_every_trial_its_own_process(tmp_path):
    out = tmp_path / "fresh"
    proc = run_cli("run", "smoke", "--scale", "smoke", "--out", str(out), "--fresh-workers")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_rows(out)
    assert len(rows) == 3 and {r["status"] for r in rows} <= {"completed", "stopped_early"}
    assert len({r["worker_pid"] for r in rows}) == 3
    assert json.loads((out / "study.json").read_text())["resources"]["reuse_workers"] is False
    assert "actors named 'smoke trial smoke_<id>'" in proc.stderr


@pytest.mark.slow
def test_failing_trial_is_recorded_as_errored_and_the_study_goes_on(tmp_path):
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
    execute(plan)
    rows = {r["params"]["inject_fault"]: r for r in read_rows(plan.study_dir)}
    assert rows["nan"]["status"] == "errored" and "non-finite loss" in rows["nan"]["error"]
    assert "task sst, epoch 1, step 1" in rows["nan"]["error"]
    assert rows["raise"]["status"] == "errored" and "injected fault" in rows["raise"]["error"]
    assert rows[""]["status"] == "completed" and rows[""]["overall"] > 0


@pytest.mark.slow
def test_kill_9_of_the_driver_then_resume_loses_and_reruns_nothing(tmp_path):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "study",
        "run",
        "smoke",
        "--scale",
        "smoke",
        "--samples",
        "4",
        "--out",
        str(out),
    ]
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
    proc = run_cli(
        "run", "smoke", "--scale", "smoke", "--samples", "4", "--out", str(out), "--resume"
    )
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
    print(
        f"completed trials lost = {len(lost)}, trials rerun = {len(rerun) + len(ids) - len(set(ids))}, "
        f"final count = {len(set(ids))} of 4"
    )
    assert not lost and not rerun and len(ids) == len(set(ids)) == 4
