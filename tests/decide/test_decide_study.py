"""`run --decide` on a real local Ray with the real model and data (smoke scale): the plan is
saved before its first trial, `kill -9` during the decide phase then `--resume --decide` loses
and reruns nothing, and the verdicts read exactly the planned seeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from reports.findings.decided import decided_findings
from study.records import read_records
from study.records.decisions import read_decide_plan
from tests.conftest import read_rows
from tests.tuning.test_study_run import ROOT, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.local_ray]


def test_kill_9_in_the_decide_phase_then_resume_loses_and_reruns_nothing(tmp_path):
    out = tmp_path / "decide"
    # smoke has no paper claim: its best configuration against the next (top-k 1); chosen by
    # the search, so the pilot is seeds 1-3 of both; a large E keeps n at the pilot's 3
    args = ["run", "smoke", "--scale", "smoke", "--samples", "2", "--top-k", "1", "--decide"]
    args += ["--min-effect", "0.5", "--budget-min", "60", "--out", str(out)]
    driver = subprocess.Popen(
        [sys.executable, "-m", "study", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while time.time() < deadline and not any(r["phase"] == "decide" for r in read_rows(out)):
        time.sleep(1)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and its local Ray, mid-phase
    driver.wait()
    before = read_rows(out)
    plan = read_decide_plan(out)
    assert plan is not None and any(r["phase"] == "decide" for r in before), "no decide trial"
    claim = plan.claims[0]
    assert claim.pilot == (1, 2, 3) and claim.funded and len(plan.passes) == 1
    assert len(plan.passes[0].points) == 6  # 2 configurations x 3 pilot seeds, named first
    proc = run_cli(*args, "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = read_rows(out)
    ids = [r["trial_id"] for r in after]
    lost = [r["trial_id"] for r in before if r not in after]
    decide = [r for r in after if r["phase"] == "decide"]
    print(f"lost {len(lost)}, twice {len(ids) - len(set(ids))}, decide trials {len(decide)}")
    assert not lost and len(ids) == len(set(ids))
    points = {
        (
            json.dumps({k: v for k, v in r["params"].items() if k != "seed"}, sort_keys=True),
            r["seed"],
        )
        for r in decide
    }
    assert len(decide) == 6 and len(points) == 6  # each planned trial once
    assert all(r["status"] == "completed" for r in decide)
    final = read_decide_plan(out)
    assert final.claims[0].pilot == claim.pilot and final.claims[0].n == 3  # the same plan
    found = decided_findings(final, read_records(out), running=False)[0]
    assert found.n == 3 and found.started_with == 0 and found.given == 3
    assert found.verdict in ("holds", "no practical difference", "reversed")  # E = 0.5
    assert "decided with Stein's two-stage procedure" in proc.stdout
