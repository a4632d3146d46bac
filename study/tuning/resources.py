"""A trial's request against the cluster's nodes, before any trial starts, and trials that wait.

Ray queues a trial whose request no node can meet forever, without a word; here such a request
is a one-line error instead (or, for a local Ray's default request, capped to the machine).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import TYPE_CHECKING, Any

import ray

from study.errors import UserError

if TYPE_CHECKING:  # built by study/plan.py; the tuning layer only reads it
    from study.plan import StudyPlan

PENDING_NOTE_S = 60.0  # a trial pending longer than this is named on the progress line


def alive_nodes() -> list[dict[str, float]]:
    """Each alive node's total resources (CPU, GPU, memory, ...)."""
    return [dict(n.get("Resources") or {}) for n in ray.nodes() if n.get("Alive")]


def fit_request(plan: StudyPlan, nodes: list[dict[str, float]]) -> StudyPlan:
    """`plan` when some node can run one trial; on a local Ray a default CPU request larger
    than the machine is capped to it with a note; else a UserError naming the request and the
    largest node."""
    cpus, gpus = plan.cpus_per_trial, plan.gpus_per_trial
    if any(n.get("CPU", 0) >= cpus and n.get("GPU", 0) >= gpus for n in nodes):
        return plan
    largest = max(nodes, key=lambda n: (n.get("GPU", 0) >= gpus, n.get("CPU", 0)), default={})
    most_cpus = largest.get("CPU", 0)
    if (
        not plan.address
        and not plan.cpus_explicit
        and most_cpus >= 1
        and largest.get("GPU", 0) >= gpus
    ):
        print(
            f"note: a trial's default request of {cpus:g} CPUs is more than this machine's "
            f"{most_cpus:g}; each trial gets {most_cpus:g}",
            file=sys.stderr,
        )
        base = plan.base.replace(threads=max(1, int(most_cpus)))
        return dataclasses.replace(plan, cpus_per_trial=float(most_cpus), base=base)
    where = "this machine" if not plan.address else f"the cluster at {plan.address}"
    raise UserError(
        f"a trial asks for {cpus:g} CPU and {gpus:g} GPU, but no node of {where} has that much "
        f"(the largest has {most_cpus:g} CPU and {largest.get('GPU', 0):g} GPU; {len(nodes)} "
        "node(s)); pass --cpus-per-trial and --gpus-per-trial within that"
    )


class PendingWatch:
    """Which trials have waited for resources longer than PENDING_NOTE_S, for the progress line."""

    def __init__(self) -> None:
        self.since: dict[str, float] = {}

    def waiting(self, trials: list[Any], now: float | None = None) -> list[str]:
        """'trial ID waits 75 s for CPU 2, GPU 0' for each trial pending too long."""
        now = time.time() if now is None else now
        pending = {t.trial_id: t for t in trials if t.status == "PENDING"}
        self.since = {i: self.since.get(i, now) for i in pending}
        out = []
        for trial_id, since in self.since.items():
            if now - since >= PENDING_NOTE_S:
                wants = _request(pending[trial_id])
                out.append(f"trial {trial_id} waits {now - since:.0f} s for {wants}")
        return out


def _request(trial: Any) -> str:
    """A trial's resource request, e.g. 'CPU 2, GPU 0'."""
    factory = getattr(trial, "placement_group_factory", None)
    wanted = getattr(factory, "required_resources", None) or {}
    cpu, gpu = wanted.get("CPU", 0), wanted.get("GPU", 0)
    return f"CPU {cpu:g}, GPU {gpu:g}"
