"""What the bench runs in the driver after each Ray trial (trials.ray_trials): the same trial in a
warm plain process. A module of its own: Tune pickles the callback that calls it, and a
function defined here pickles by reference, without the plain process it drives (BETWEEN)."""

from __future__ import annotations

import time
from typing import Any

import psutil

BETWEEN: dict[str, Any] = {}  # "server": a ray_trials.PlainServer; "runs": what it timed


def plain_run_between_trials() -> None:
    """One run in the warm plain process while the study waits (the driver's loop is blocked
    here, so the next trial starts after it). Ray's other processes are stopped (SIGSTOP)
    meanwhile, so the plain run sees no cluster at work, as a plain `run_trial` without Ray
    would, yet both sides share the same minutes of this machine."""
    server = BETWEEN["server"]
    frozen = freeze_cluster(server.proc.pid)
    start = time.time()
    try:
        seconds = server.run()
    finally:
        thaw(frozen)
    BETWEEN["runs"].append(
        {"start_unix": start, "end_unix": time.time(), "seconds": seconds, "frozen": len(frozen)}
    )


def freeze_cluster(keep_pid: int) -> list[psutil.Process]:
    """Stop every process this driver started (GCS, raylet, dashboard and its modules, agents,
    workers) but `keep_pid` and its children. The driver itself stays up, blocked in the
    callback: a stopped driver could not wake the others if the plain run died."""
    keep = {keep_pid}
    try:
        keep |= {c.pid for c in psutil.Process(keep_pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        pass
    frozen = []
    for proc in psutil.Process().children(recursive=True):
        if proc.pid in keep:
            continue
        try:
            proc.suspend()
            frozen.append(proc)
        except psutil.NoSuchProcess:
            continue
    return frozen


def thaw(frozen: list[psutil.Process]) -> None:
    for proc in frozen:
        try:
            proc.resume()
        except psutil.NoSuchProcess:
            continue
