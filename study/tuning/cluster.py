"""Join an existing Ray cluster, or start a local one that keeps out of the trial's way.

A local cluster binds its dashboard to 127.0.0.1 and keeps Ray's token authentication on.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray

from study.errors import ClusterError
from study.tuning.journal import JOURNAL

if TYPE_CHECKING:  # built by study/plan.py; the tuning layer only reads it
    from study.plan import StudyPlan

PROJECT = Path(__file__).resolve().parents[2]
SHIP_EXCLUDES = [
    ".venv",
    ".git",
    "runs",
    ".helpers",
    ".pytest_cache",
    ".ruff_cache",
    "*.egg-info",
    "__pycache__",
]


# A local Ray's daemons share the trial's cores; every wake-up stalls one of the trial's OpenMP
# threads at the next barrier. So a one-node study runs Ray's housekeeping less often (task and
# node views in the dashboard refresh every 5-15 s; the OOM monitor looks every second), starts
# no idle workers (Tune starts the trial workers it needs) and no log monitor (below). Workers
# keep the driver's nice value: Ray's default renices them to 15, so a trial would lose to every
# other busy process what a plain one shares fairly.
QUIET_SYSTEM_CONFIG = {
    "worker_niceness": 0,
    "task_events_report_interval_ms": 5000,
    "metrics_report_interval_ms": 30000,
    "memory_monitor_refresh_ms": 1000,
    "raylet_check_gc_period_milliseconds": 1000,
    "debug_dump_period_milliseconds": 60000,
    "enable_worker_prestart": False,
    "prestart_worker_first_driver": False,
}
QUIET_DASHBOARD_ENV = {
    "REPORTER_UPDATE_INTERVAL_MS": "15000",
    "RAY_DASHBOARD_AGENT_CHECK_PARENT_INTERVAL_S": "2",
    # the dashboard's own CPU/memory metrics parse /proc/PID/smaps_rollup of its ten
    # processes at each round: most of an idle dashboard's CPU at Ray's 5 s default
    "METRICS_RECORD_INTERVAL_S": "60",
}


def _stop_log_monitor() -> None:
    """Stop the local cluster's log monitor: it streams worker logs to the driver, which
    log_to_driver=False turns off, yet it scans the log folder 10 times a second. Worker logs
    stay in Ray's session folder and the dashboard. ray.init has no switch for it (`ray start
    --include-log-monitor=false` does), hence Ray's private Node call, guarded."""
    try:
        ray._private.worker._global_node.kill_log_monitor(check_alive=False)
    except Exception as exc:  # noqa: BLE001 - a Ray without that call: keep the monitor
        print(f"note: Ray's log monitor keeps running ({exc})", file=sys.stderr)


def init_ray(plan: StudyPlan) -> None:
    """Join the cluster at --address, or start a local Ray whose dashboard binds 127.0.0.1."""
    quiet = {"log_to_driver": False, "logging_level": "WARNING", "configure_logging": True}
    env: dict[str, Any] = {
        "worker_process_setup_hook": "study.tuning.worker_setup.preload",
        # a reused worker waits this long for a stopped trial to end (Tune's default: 2 s)
        "env_vars": {"TUNE_FUNCTION_THREAD_TIMEOUT_S": "60"},
    }
    if plan.address:
        # Other nodes get this project's code and data/ as a packaged working_dir.
        env.update(working_dir=str(PROJECT), excludes=SHIP_EXCLUDES)
        try:
            ray.init(address=plan.address, runtime_env=env, **quiet)
        except Exception as err:  # noqa: BLE001 - Ray raises several types; each is one line
            # plan.py found something listening there: it is not a Ray head, or it refused us
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ClusterError(
                f"--address {plan.address}: Ray could not join the cluster there ({first}); "
                "check that it is a Ray head node's address (GCS port, 6379 by default), that "
                "its Ray version is this one's, and, with token auth, that RAY_AUTH_TOKEN or "
                "~/.ray/auth_token holds the cluster's token"
            ) from None
        print(f"joined Ray cluster at {plan.address}", file=sys.stderr)
        return
    for name, value in QUIET_DASHBOARD_ENV.items():  # read by the daemons ray.init starts
        os.environ.setdefault(name, value)
    # the dashboard's metrics port is fixed (44227) unless set: a second study would collide
    os.environ.setdefault("DASHBOARD_METRIC_PORT", str(free_port()))
    others = other_local_clusters()
    kwargs = dict(include_dashboard=True, dashboard_host=plan.dashboard_host)
    kwargs |= dict(runtime_env=env, _system_config=QUIET_SYSTEM_CONFIG, **quiet)
    try:  # a new local cluster, never one that a `ray start` left on this machine
        ctx = ray.init(address="local", dashboard_port=plan.dashboard_port, **kwargs)
    except ValueError as err:  # the port was taken since the plan was made
        if "already occupied" not in str(err):
            raise
        ctx = ray.init(address="local", dashboard_port=free_port(), **kwargs)
    if others:
        print(
            f"note: {others} other Ray cluster(s) run on this machine; this study shares its "
            f"{os.cpu_count()} CPUs with them, so its trials run slower",
            file=sys.stderr,
        )
    _stop_log_monitor()
    token = "~/.ray/auth_token" if os.environ.get("RAY_AUTH_MODE", "token") != "disabled" else None
    print(
        f"Ray dashboard: http://{ctx.dashboard_url} (listening on {plan.dashboard_host} only)",
        file=sys.stderr,
    )
    if token:
        print(
            f"  token auth is on: paste the token from `ray get-auth-token` (or {token}) when the page asks",
            file=sys.stderr,
        )
    study = plan.spec.name
    actors = (
        f"'{study} trial worker' (each worker's log names its trials)"
        if plan.reuse_workers
        else f"'{study} trial {study}_<id>'"
    )
    print(f"  trials run in actors named {actors}", file=sys.stderr)
    print(f"  Optuna: optuna-dashboard {plan.study_dir / JOURNAL}", file=sys.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def other_local_clusters() -> int:
    """How many Ray clusters already run on this machine (their raylet processes)."""
    import psutil

    count = 0
    for proc in psutil.process_iter(["name"]):
        try:
            count += proc.info["name"] == "raylet"
        except psutil.Error:
            continue
    return count


def shutdown() -> None:
    """Stop this driver's Ray (a local cluster stops with it)."""
    ray.shutdown()
