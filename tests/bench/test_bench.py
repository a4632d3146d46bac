"""study bench: the --quick run writes every documented key with self-consistent ratios; the
ASHA-savings function; the Ray part; the Trainer peer."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from study.bench.steps import METHODS
from study.data.batching import encode
from study.data.files import load_split
from tests.conftest import PROJECT

STEP_KEYS = {
    "step_s",
    "forward_s",
    "backward_s",
    "optimizer_s",
    "tokens_per_s",
    "real_tokens_per_s",
    "samples_per_s",
    "flops_per_step",
    "gflops",
    "peak_fraction",
}
PAD_KEYS = {"ours", "random", "fixed_128", "sorted", "examples"}
TRIAL_KEYS = {"sst", "para", "sts", "overall", "seconds", "time_split", "peak_rss_mb", "import_s"}
SPLIT_KEYS = {"setup", "tokenize", "data", "train", "eval", "save"}
TARGET_NAMES = {
    "throughput_over_trainer_grouped",
    "padding_efficiency",
    "flops_peak_fraction",
    "full_over_lora_step",
    "dora_over_lora_step",
    "ray_overhead_pct",
    "peak_rss_mb",
    "fp32_bf16_max_abs_diff",
}


@pytest.mark.slow
def test_bench_quick_writes_every_key(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "study", "bench", "--quick", "--json", str(out)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--quick" in proc.stdout and "targets" in proc.stdout
    r = json.loads(out.read_text())
    assert r["meta"]["quick"] is True and set(r["meta"]["skipped"]) == {"ray", "peer"}
    assert "ray" not in r and "peer" not in r
    for key in ("date", "cpu", "cores", "torch", "default_precision", "load_average_before"):
        assert key in r["meta"], key

    # bf16 where it can be the default (a CPU with fast bf16, CUDA); fp32 always
    measured = tuple(r["meta"]["precisions"])
    assert measured in (("fp32", "bf16"), ("fp32",))
    g = r["gemm"]
    assert all(g[f"{p}_gflops"] > 0 for p in measured)

    steps = r["steps"]
    assert set(steps["methods"]) == {name for name, _ in METHODS}
    for name, per in steps["methods"].items():
        assert set(per) == set(measured)
        for p, s in per.items():
            assert STEP_KEYS <= set(s), (name, p)
            parts = s["forward_s"] + s["backward_s"] + s["optimizer_s"]
            assert s["step_s"] == pytest.approx(parts)
            assert s["gflops"] == pytest.approx(s["flops_per_step"] / s["step_s"] / 1e9)
            assert s["peak_fraction"] == pytest.approx(s["gflops"] / g[f"{p}_gflops"])
            assert s["tokens_per_s"] >= s["real_tokens_per_s"] > 0
    m = steps["methods"]
    # LoRA touches fewer weights: ~4NT against full fine-tuning's ~6NT
    assert m["lora_qkv_r16"]["fp32"]["flops_per_step"] < m["full"]["fp32"]["flops_per_step"]
    for p in measured:
        ratios = steps["ratios"][p]
        lora = m["lora_qkv_r16"][p]["step_s"]
        assert ratios["full_over_lora"] == pytest.approx(m["full"][p]["step_s"] / lora)
        assert ratios["dora_over_lora"] == pytest.approx(m["dora_qkv_r16"][p]["step_s"] / lora)
    for name in m if len(measured) == 2 else ():
        expected = m[name]["fp32"]["step_s"] / m[name]["bf16"]["step_s"]
        assert steps["ratios"]["fp32_over_bf16"][name] == pytest.approx(expected)

    # the peak read beside LoRA's timed blocks (default precision) is what the target uses
    lora = m["lora_qkv_r16"][r["meta"]["default_precision"]]
    assert lora["paired_peak_gflops"] > 0
    assert lora["paired_peak_fraction"] == pytest.approx(
        lora["gflops"] / lora["paired_peak_gflops"]
    )
    assert r["targets"]["flops_peak_fraction"]["value"] == lora["paired_peak_fraction"]

    f = steps["lora_fixed_128"]
    dynamic = m["lora_qkv_r16"][f["precision"]]["step_s"]
    assert f["over_dynamic"] == pytest.approx(f["step_s"] / dynamic)
    assert r["padding"]["sst"]["fixed_128"] < 0.5  # SST sentences are far shorter than 128
    td = steps["torch_dropout"]
    for name, slow in td["methods"].items():
        assert STEP_KEYS <= set(slow)
        fast = m[name][td["precision"]]["step_s"]
        assert slow["fast_dropout_speedup"] == pytest.approx(slow["step_s"] / fast)
    assert td["full_over_lora"] == pytest.approx(
        td["methods"]["full"]["step_s"] / td["methods"]["lora_qkv_r16"]["step_s"]
    )

    for key in ("sst", "para", "sst_cpu", "para_cpu"):
        pad = r["padding"][key]
        assert PAD_KEYS <= set(pad), key
        assert 0 < pad["fixed_128"] < pad["random"] < pad["ours"] <= pad["sorted"] <= 1.0

    pr = r["precision"]
    for p in measured:
        assert TRIAL_KEYS <= set(pr[p]), p
        assert SPLIT_KEYS <= set(pr[p]["time_split"])
        assert pr[p]["precision"] == p
    if len(measured) == 2:
        diffs = {k: abs(pr["fp32"][k] - pr["bf16"][k]) for k in ("sst", "para", "sts", "overall")}
        assert pr["max_abs_diff"] == pytest.approx(max(diffs.values()))
        assert pr["agree"] == (pr["max_abs_diff"] <= pr["tolerance"])
    else:
        assert pr["max_abs_diff"] is None and pr["agree"] is None

    tr = r["trial"]
    train_share = tr["time_split"]["train"] / tr["seconds"]
    assert tr["outside_compute_share"] == pytest.approx(1 - train_share, abs=1e-3)
    assert 0 < tr["outside_compute_share"] < 1
    assert r["memory"]["peak_rss_mb"]["fp32"] == pr["fp32"]["peak_rss_mb"] > 100

    t = r["targets"]
    assert set(t) == TARGET_NAMES
    assert (
        t["ray_overhead_pct"]["met"] is None and t["throughput_over_trainer_grouped"]["met"] is None
    )
    assert t["full_over_lora_step"]["value"] == pytest.approx(
        steps["ratios"][r["meta"]["default_precision"]]["full_over_lora"]
    )
    assert t["fp32_bf16_max_abs_diff"]["met"] == pr["agree"]


@pytest.mark.slow
@pytest.mark.local_ray
def test_bench_ray_part_runs_the_same_trial_three_times_in_one_reused_worker(tmp_path):
    """The bench's Ray measurement on study smoke at the smoke scale (a real local Ray), with a
    plain run of the same trial after each Ray trial while the study waits, Ray stopped."""
    from study.bench.ray_trials import ray_trials

    r = ray_trials(tmp_path / "smoke", "smoke", samples=3)
    assert len(r["trials"]) == 3 and {t["status"] for t in r["trials"]} == {"completed"}
    assert r["workers"] == 1 and len({str(t["params"]) for t in r["trials"]}) == 1
    gaps = r["reused_trial_wall_s"]
    assert len(gaps) == 2 and all(g > 0 for g in gaps)
    plain, ends = r["interleaved"], [t["ended_unix"] for t in r["trials"]]
    assert len(plain) == 3 and all(p["seconds"] > 0 for p in plain)
    # GCS, raylet, the dashboard and its modules, agents and the worker: all stopped, all back
    assert all(p["frozen"] >= 5 for p in plain)
    for i, p in enumerate(plain):  # each ran after a Ray trial ended and before the next began
        assert ends[i] <= p["start_unix"] < p["end_unix"]
        if i + 1 < len(ends):
            assert p["end_unix"] < ends[i + 1] - r["trials"][i + 1]["seconds"] + 1.0
            assert gaps[i] == pytest.approx(
                ends[i + 1] - ends[i] - (p["end_unix"] - p["start_unix"])
            )
    assert r["inprocess_s"] == [p["seconds"] for p in plain[1:]]  # the first warms up
    assert r["overhead_pct"] == pytest.approx(100 * (min(gaps) / min(r["inprocess_s"]) - 1))
    assert r["ray_init_s"] > 0 and r["first_trial_startup_s"] > 0
    assert all(t["peak_rss_mb"] > 100 for t in r["trials"])


def _stopped(pid: int, expect: bool) -> bool:
    """Whether process `pid` is stopped, waiting up to 5 s for it to become `expect` (a signal
    takes effect when its process next runs)."""
    import psutil

    deadline = time.monotonic() + 5.0
    while True:
        stopped = psutil.Process(pid).status() == psutil.STATUS_STOPPED
        if stopped == expect or time.monotonic() > deadline:
            return stopped
        time.sleep(0.02)


def test_freeze_cluster_stops_the_drivers_children_but_the_plain_process():
    from study.bench.between import freeze_cluster, thaw

    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    ray_like, plain = subprocess.Popen(sleep), subprocess.Popen(sleep)
    try:
        frozen = freeze_cluster(plain.pid)
        try:
            assert ray_like.pid in {p.pid for p in frozen}
            assert plain.pid not in {p.pid for p in frozen}
            assert _stopped(ray_like.pid, True) and not _stopped(plain.pid, False)
        finally:
            thaw(frozen)
        assert not _stopped(ray_like.pid, False)
    finally:
        for proc in (ray_like, plain):
            proc.kill()
            proc.wait()


def test_ray_overhead_leaves_out_the_plain_runs_between_trials_and_compares_with_them():
    from study.bench.ray_trials import ray_overhead

    # three trials in one worker (the first also pays the study's start); after each, a plain
    # run of 30, 20 and 20.5 s while the study waited (the first only warms its process)
    seconds, plain_s, ends, runs, t = (20.0, 21.5, 22.0), (30.0, 20.0, 20.5), [], [], 1030.0
    for i, (s, p) in enumerate(zip(seconds, plain_s, strict=True)):
        t += 0 if i == 0 else 0.4 + s  # 0.4 s of Ray between one trial's end and the next's start
        ends.append(t)
        runs.append({"start_unix": t + 0.1, "end_unix": t + 0.1 + p, "seconds": p})
        t += 0.1 + p
    trials = [
        {"ended_unix": e, "finished_s": e - 1000.0, "seconds": s, "worker_pid": 7}
        for e, s in zip(ends, seconds, strict=True)
    ]
    r = ray_overhead({"trials": trials, "interleaved": runs})
    assert r["reused_trial_wall_s"] == pytest.approx([22.0, 22.5])  # 0.1 + 0.4 + the trial
    assert r["inprocess_s"] == [20.0, 20.5] and r["workers"] == 1
    assert r["first_trial_startup_s"] == pytest.approx(10.0)
    assert r["reused_between_trials_s"] == pytest.approx(0.5)
    assert r["mean_overhead_pct"] == pytest.approx(100 * (22.25 / 20.25 - 1))
    assert r["overhead_pct"] == pytest.approx(100 * (22.0 / 20.0 - 1))  # fastest of each
    with pytest.raises(ValueError, match="no plain runs"):
        ray_overhead({"trials": trials, "interleaved": runs[:1]})
    with pytest.raises(ValueError, match="no end stamp"):
        ray_overhead(
            {"trials": [{**trials[0], "ended_unix": None}, *trials[1:]], "interleaved": runs}
        )


@pytest.mark.slow
def test_peer_runs_the_target_pair_twice_in_abba_order():
    """The peer on 64 real SST rows: ours and the Trainer (grouped, fp32) run twice each and the
    target ratio is the ratio of their means; the other runs once."""
    import torch

    from model.encoder import load_tokenizer
    from study.bench.peer import peer_table
    from study.bench.steps import measured_precisions
    from study.config import TrialConfig
    from study.train.device import resolve_precision

    cpu = torch.device("cpu")
    precisions, default = measured_precisions(cpu), resolve_precision("auto", cpu)
    split = load_split("sst", "train").subset(np.arange(64))
    data = encode(split, load_tokenizer(), 64, joint=True)
    p = peer_table(TrialConfig(epochs=1, batch_size=32), data, default, precisions)
    assert set(p["ours"]) == set(precisions) and len(p["trainer"]) == 1 + len(precisions)
    ours, grouped = p["ours"][default], p["trainer"]["group_by_length_fp32"]
    for side in (ours, grouped):
        assert len(side["runs_samples_per_s"]) == 2 and min(side["runs_samples_per_s"]) > 0
        assert side["samples_per_s"] == pytest.approx(np.mean(side["runs_samples_per_s"]))
    assert "runs_samples_per_s" not in p["trainer"]["random_fp32"]
    assert p["ours_over_trainer_grouped_fp32"] == pytest.approx(
        ours["samples_per_s"] / grouped["samples_per_s"]
    )


def test_the_ray_part_plans_the_same_trial_without_seed_reruns(tmp_path):
    """The cpu scale reruns a study's best with 3 seeds; the bench's Ray part times one trial
    `samples` times and no more (a rerun would triple the part's time)."""
    from study.bench.trials import smoke_plan

    plan = smoke_plan(tmp_path / "smoke", "cpu", samples=5)
    assert plan.seeds == 1
    assert plan.spec.points_to_evaluate == (plan.spec.points_to_evaluate[0],) * 5
