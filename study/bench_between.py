"""The bench's Tune callback that runs a plain trial after each Ray trial (bench_trials.
ray_trials with interleave). A module of its own: Tune pickles callbacks, and a class defined
here pickles by reference, without the plain process it drives (held in BETWEEN)."""

from __future__ import annotations

import time
from typing import Any

from ray import tune

BETWEEN: dict[str, Any] = {}  # "server": a bench_trials.PlainServer; "runs": what it timed


class PlainBetweenTrials(tune.Callback):
    """After each trial, one run in the warm plain process while the study waits (the driver's
    loop is blocked here, so the next trial starts after it)."""

    def on_trial_complete(self, iteration, trials, trial, **info):  # noqa: ANN001, ANN003, ANN201
        start = time.time()
        seconds = BETWEEN["server"].run()
        BETWEEN["runs"].append({"start_unix": start, "end_unix": time.time(), "seconds": seconds})
