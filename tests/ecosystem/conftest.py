"""One smoke study shared by the ecosystem tests (trackers, the HTML report, exports), run once
per session through the real CLI on a local Ray with the real model and data. Every module here
is marked local_ray, so that its tests share that xdist group's worker and this one study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT

TRIALS = 2


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished smoke study (2 search trials) logged to MLflow and TensorBoard."""
    out = tmp_path_factory.mktemp("ecosystem") / "smoke"
    cmd = [sys.executable, "-m", "study", "run", "smoke", "--scale", "smoke"]
    cmd += ["--samples", str(TRIALS), "--log-to", "mlflow,tensorboard", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out
