"""The same trial under Ray Tune through the project's own path (make_plan +
study.tuning.execute.execute on study "smoke"), against a warm plain process between trials."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from statistics import fmean
from typing import Any

from study.bench.trials import child_env, first_trial_config, smoke_plan
from study.config import TrialConfig

_RAY_CHILD = "import study.bench.ray_trials as b; b.ray_child_main()"
_PLAIN_SERVER = "import study.bench.ray_trials as b; b.plain_server_main()"


def ray_trials(out_dir: Path, scale: str, samples: int = 3) -> dict[str, Any]:
    """`samples` runs of the same trial (study smoke's first point, one at a time) through
    study.tuning.execute.execute in a fresh driver process, as `python -m study run` would; ray.init is
    timed on its own first.

    The first trial pays the study's start (ray.init inside execute, Tune's setup, the worker's
    start and imports). The others run in that worker, reused: the wall time from one trial's
    end to the next's (run_trial's ended_unix) is one trial's cost in a running study.

    A warm plain process runs the same trial after each Ray trial while the study waits (a Tune
    callback blocks the driver) and Ray's other processes are stopped (bench_between): the
    plain side is the same work without a cluster at work, and both sides share the same
    minutes of this drifting machine. The first plain run warms its process, as the first Ray
    trial warms the worker; neither counts. The overhead compares the means: the fastest of
    each, reported beside it, favours the side with more runs.
    """
    job = {"out_dir": str(out_dir), "scale": scale, "samples": samples}
    proc = subprocess.run(
        [sys.executable, "-c", _RAY_CHILD],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        # a fresh local cluster, as `python -m study run` starts it (token auth on)
        env=child_env(RAY_AUTH_MODE="token"),  # the caller's RAY_AUTH_MODE wins
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"Ray benchmark failed: {tail}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    trials = r["trials"]
    if len(trials) < samples or any(t["status"] != "completed" for t in trials):
        raise RuntimeError(f"Ray benchmark: expected {samples} completed trials, got {trials}")
    return ray_overhead(r)


def ray_overhead(r: dict[str, Any]) -> dict[str, Any]:
    """ray_trials' result `r` against the plain runs it interleaved (ray_child_main)."""
    trials, plain_runs = r["trials"], r.get("interleaved", [])
    if any(t.get("ended_unix") is None for t in trials):
        raise ValueError("ray_overhead: a trial row has no end stamp (ended_unix)")
    if len(plain_runs) < 2:  # the first plain run only warms its process
        raise ValueError("ray_overhead: no plain runs to compare with")
    ends = [t["ended_unix"] for t in trials]
    # end to end: one reused trial, less the plain runs the study waited for in between
    gaps = [
        b - a - sum(p["end_unix"] - p["start_unix"] for p in plain_runs if a <= p["start_unix"] < b)
        for a, b in zip(ends, ends[1:], strict=False)
    ]
    inside = [t["seconds"] for t in trials[1:]]
    plain = [p["seconds"] for p in plain_runs[1:]]
    return {
        **r,
        "inprocess_s": plain,
        "workers": len({t["worker_pid"] for t in trials}),
        "first_trial_startup_s": trials[0]["finished_s"] - trials[0]["seconds"],
        "reused_trial_wall_s": gaps,
        "reused_between_trials_s": fmean(g - i for g, i in zip(gaps, inside, strict=True)),
        "worker_loop_over_inprocess": min(inside) / min(plain),
        "mean_overhead_pct": 100.0 * (fmean(gaps) / fmean(plain) - 1.0),
        "overhead_pct": 100.0 * (min(gaps) / min(plain) - 1.0),
    }


class PlainServer:
    """A warm plain process that runs the trial on demand (plain_server_main)."""

    def __init__(self, config: TrialConfig, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PLAIN_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=child_env(),
        )
        self._send(json.dumps(config.to_dict()))

    def _send(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        for out in self.proc.stdout:  # skip anything else the trial prints
            if out.startswith("RESULT "):
                return json.loads(out[len("RESULT ") :])
        raise RuntimeError("the plain benchmark process ended early")

    def run(self) -> float:
        return self._send(str(self.run_dir))["seconds"]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def plain_server_main() -> None:
    """Child side of PlainServer: the config on the first line, then a run folder per trial."""
    from study.train.run import run_trial

    config = TrialConfig.from_dict(json.loads(sys.stdin.readline()))
    print("RESULT {}", flush=True)
    for line in sys.stdin:
        seconds = run_trial(config, run_dir=line.strip()).seconds
        print("RESULT " + json.dumps({"seconds": seconds}), flush=True)


def ray_child_main() -> None:
    """Child side of ray_trials: time ray.init alone, then the study. Each trial's finish is
    read from its row's own end stamp afterwards (no polling in the driver while trials run:
    that would be the bench's CPU use, not Ray's)."""
    job = json.loads(sys.stdin.read())
    t0 = time.perf_counter()
    from study.records import read_records
    from study.tuning import cluster
    from study.tuning.execute import execute

    imports = time.perf_counter() - t0
    plan = smoke_plan(Path(job["out_dir"]), job["scale"], job["samples"])
    t0 = time.perf_counter()
    cluster.init_ray(plan)
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cluster.shutdown()
    shutdown_s = time.perf_counter() - t0
    from study.bench.between import BETWEEN, plain_run_between_trials

    server = PlainServer(first_trial_config(plan), Path(job["out_dir"]) / "plain-run")
    BETWEEN.update(server=server, runs=[])  # plain runs between the Ray trials
    t0, began_unix = time.perf_counter(), time.time()
    try:
        execute(plan, after_each_trial=plain_run_between_trials)
    finally:
        server.close()
    wall = time.perf_counter() - t0
    trials = [
        {
            "trial_id": row.trial_id,
            "status": row.status,
            "params": row.params,
            "seconds": row.seconds,
            # seconds after execute() began; a row without an end stamp counts as the study's end
            "finished_s": row.ended_unix - began_unix if row.ended_unix else wall,
            "ended_unix": row.ended_unix,
            "time_split": row.time_split,
            "worker_pid": row.worker_pid,
            "cpu_seconds": row.cpu_seconds,
            "peak_rss_mb": row.peak_rss_mb,
        }
        for row in read_records(plan.study_dir)
    ]
    trials.sort(key=lambda t: t["finished_s"])
    out = {
        "samples": job["samples"],
        "ray_import_s": imports,
        "ray_init_s": init_s,
        "ray_shutdown_s": shutdown_s,
        "wall_s": wall,
        "trials": trials,
        "interleaved": BETWEEN["runs"],
    }
    print(json.dumps(out))
