"""One long-lived training thread per process, for trial runners that call from many threads.

Ray Tune runs each trial's function in a new thread, and every thread that runs torch ops gets
an OpenMP team of its own. With more OpenMP threads than cores, libgomp spins only briefly
before it sleeps between parallel regions, which slows a training loop in a thread once
another thread has a team. Here the training always runs on the
same thread (one team per worker), and the caller's thread only forwards its reports (Tune's
report must be called from Tune's thread). It also lets Tune stop a trial at its next step.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

from study.errors import TrialStopped

Train = Callable[[Callable[[dict[str, Any]], None], threading.Event], None]
"""train(put, stop): runs a trial, calls put(metrics) per report, ends early once stop is set."""

_RUNNING: list[threading.Event] = []  # the stop event of the trial on the training thread


@functools.cache
def training_thread() -> futures.ThreadPoolExecutor:
    """This process's one training thread."""
    return futures.ThreadPoolExecutor(1, thread_name_prefix="peft-trial")


def run_on_training_thread(train: Train, report: Callable[[dict[str, Any]], None]) -> None:
    """Run train on the training thread; call report(metrics) in this thread for each put.

    Returns when train does, raising its error; a trial ended by stop_running_trial returns
    quietly. If report raises (Tune stopping the trial), training stops before it propagates.
    """
    results: queue.Queue = queue.Queue()
    stop = threading.Event()
    _RUNNING[:] = [stop]
    future = training_thread().submit(train, results.put, stop)
    try:
        while not (future.done() and results.empty()):
            try:
                metrics = results.get(timeout=0.5)
            except queue.Empty:
                continue
            report(metrics)
        future.result()
    except TrialStopped:
        pass
    finally:
        stop.set()
        futures.wait([future])  # the thread is free before the next trial starts


def stop_running_trial() -> None:
    """End the running trial at its next step (from any thread)."""
    for stop in _RUNNING:
        stop.set()
