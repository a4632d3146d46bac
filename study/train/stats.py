"""What a trial measures about its own run: wall and CPU seconds, the split of the wall time into
phases, peak memory and the training thread's priority. Training trials (train/run.py) and merge
trials (merge/stage2.py) both record these fields, so both take them from one RunStats."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from study.train.device import thread_nice
from study.train.memory import peak_gpu_mb, peak_rss_mb, start_trial_memory


@dataclass
class RunStats:
    """The clocks of one trial, started by `RunStats.start()` when the trial starts."""

    t_start: float
    """time.perf_counter() at the start: the base of `seconds` and of the setup phase."""
    cpu_start: float
    """time.process_time() at the start: CPU seconds of every thread of this process."""
    started_unix: float
    """Wall clock at the start (time.time()): which trials ran at the same time."""
    phases: dict[str, float] = field(default_factory=dict)
    """Phase -> seconds, in the order the record's time_split shows them."""

    @classmethod
    def start(cls, phases: Iterable[str] = ()) -> RunStats:
        """Start the clocks and the trial's own peak-memory count (a reused worker's earlier
        trial is freed first); `phases` are listed at 0 s, in that order."""
        start_trial_memory()
        return cls(
            t_start=time.perf_counter(),
            cpu_start=time.process_time(),
            started_unix=time.time(),
            phases=dict.fromkeys(phases, 0.0),
        )

    def add(self, phase: str, seconds: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + seconds

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the seconds the block takes to `name`."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def mark_setup(self) -> None:
        """The setup phase is everything from the start until now (the first step or evaluation)."""
        self.phases["setup"] = time.perf_counter() - self.t_start

    def fields(self) -> dict[str, Any]:
        """The TrialRecord fields these clocks fill, read now (at the trial's end)."""
        return {
            "seconds": time.perf_counter() - self.t_start,
            "started_unix": self.started_unix,
            "ended_unix": time.time(),
            "cpu_seconds": time.process_time() - self.cpu_start,
            "nice": thread_nice(),  # the training thread's priority (a Ray worker's too)
            "time_split": {k: round(v, 3) for k, v in self.phases.items()},
            "peak_rss_mb": peak_rss_mb(),
            "peak_gpu_mb": peak_gpu_mb(),
        }
