"""A trial's request against the cluster's nodes: refused when no node can meet it, a local
default capped to the machine, and a trial that waits named on the progress line."""

from __future__ import annotations

import dataclasses
import os
from types import SimpleNamespace

import pytest

from search_spaces import load_study
from study.errors import UserError
from study.options import RunOptions
from study.plan import make_plan
from study.tuning.resources import PENDING_NOTE_S, PendingWatch, fit_request
from tests.cli.bad_input_helpers import one_error_line, run_cli

pytestmark = pytest.mark.local_ray

NODES = [{"CPU": 1.0, "memory": 1e9}, {"CPU": 1.0, "GPU": 0.0, "memory": 1e9}]


def _plan(tmp_path, **changes):
    options = RunOptions(study="smoke", scale="smoke", out=str(tmp_path / "s"))
    return dataclasses.replace(make_plan(load_study("smoke"), options), **changes)


def test_a_request_no_node_meets_is_one_line_naming_both(tmp_path):
    plan = _plan(tmp_path, cpus_per_trial=2.0, address="127.0.0.1:6379", cpus_explicit=False)
    with pytest.raises(UserError) as err:
        fit_request(plan, NODES)
    text = str(err.value)
    assert "\n" not in text and "asks for 2 CPU and 0 GPU" in text
    assert "the largest has 1 CPU and 0 GPU; 2 node(s)" in text
    gpu = _plan(tmp_path, cpus_per_trial=1.0, gpus_per_trial=0.5, cpus_explicit=True)
    with pytest.raises(UserError, match="asks for 1 CPU and 0.5 GPU"):
        fit_request(gpu, NODES)  # local, but no node has a GPU: refused, not capped


def test_a_local_default_request_is_capped_to_the_machine(tmp_path, capsys):
    plan = _plan(tmp_path, cpus_per_trial=64.0, cpus_explicit=False)
    capped = fit_request(plan, [{"CPU": 2.0}])
    assert capped.cpus_per_trial == 2.0 and capped.base.threads == 2
    note = capsys.readouterr().err.strip()
    assert note.count("\n") == 0 and "default request of 64 CPUs" in note and "gets 2" in note
    explicit = dataclasses.replace(plan, cpus_explicit=True)
    with pytest.raises(UserError, match="asks for 64 CPU"):
        fit_request(explicit, [{"CPU": 2.0}])
    assert fit_request(_plan(tmp_path, cpus_per_trial=1.0), [{"CPU": 2.0}]).cpus_per_trial == 1.0


def test_an_explicit_local_request_over_the_machine_is_refused_before_ray(tmp_path):
    cpus = os.cpu_count() or 1
    proc = run_cli(
        "run",
        "smoke",
        "--scale",
        "smoke",
        "--cpus-per-trial",
        str(cpus * 32),
        "--out",
        str(tmp_path / "s"),
    )
    line = one_error_line(proc)
    assert f"more than this machine's {cpus} CPUs" in line and "Ray dashboard" not in proc.stderr


def test_a_trial_pending_over_a_minute_is_named_with_what_it_waits_for():
    watch = PendingWatch()
    factory = SimpleNamespace(required_resources={"CPU": 2.0, "GPU": 0.0})
    pending = SimpleNamespace(trial_id="t1", status="PENDING", placement_group_factory=factory)
    running = SimpleNamespace(trial_id="t2", status="RUNNING")
    assert watch.waiting([pending, running], now=1000.0) == []
    assert watch.waiting([pending, running], now=1000.0 + PENDING_NOTE_S - 1) == []
    late = watch.waiting([pending, running], now=1000.0 + PENDING_NOTE_S + 5)
    assert late == [f"trial t1 waits {PENDING_NOTE_S + 5:.0f} s for CPU 2, GPU 0"]
    pending.status = "RUNNING"
    assert watch.waiting([pending, running], now=2000.0) == []
