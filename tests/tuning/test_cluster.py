"""A real two-node Ray cluster on this machine: `ray start --head`, then a second node.

Each node is a `ray start --block` process group of its own, so a test can kill one node
(kill -9 of its raylet and workers) and always stops both afterwards, even when it fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import read_rows

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
pytestmark = [pytest.mark.slow, pytest.mark.local_ray]
# Every node, driver and probe of the cluster uses Ray's token authentication (~/.ray/auth_token).
ENV = {**os.environ, "RAY_AUTH_MODE": "token"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [RAY, "start", "--block", "--disable-usage-stats", *args],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_node(node: subprocess.Popen) -> None:
    try:
        os.killpg(node.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    node.wait(timeout=60)


def wait_for_nodes(address: str, count: int, timeout: float = 120) -> None:
    probe = (
        "import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run(
            [sys.executable, "-c", probe, address], capture_output=True, text=True, env=ENV
        )
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(2)
    raise AssertionError(f"the cluster at {address} did not reach {count} nodes")


@contextlib.contextmanager
def started_cluster():
    """(address, the second node's process) of a fresh head plus a second node; both stopped
    on exit."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = start_node(
        [
            "--head",
            f"--port={port}",
            "--num-cpus=1",
            "--include-dashboard=false",
            "--node-ip-address=127.0.0.1",
        ]
    )
    worker = None
    # The second node gets a temp dir of its own, as a second machine would: sharing the head's
    # let both nodes unpack the study's working_dir into one folder, and a worker whose folder
    # the other node replaced failed its setup hook (cwd gone), so its trial went to the head.
    worker_tmp = tempfile.mkdtemp(prefix="rw")  # short: Ray's socket paths must fit 107 bytes
    try:
        time.sleep(5)
        worker = start_node(
            [
                f"--address={address}",
                "--num-cpus=1",
                "--node-ip-address=127.0.0.1",
                f"--temp-dir={worker_tmp}",
                '--resources={"second_node": 1}',
            ]
        )
        wait_for_nodes(address, 2)
        yield address, worker
    finally:
        for node in (worker, head):
            if node is not None:
                stop_node(node)
        shutil.rmtree(worker_tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def two_nodes():
    """One cluster for this file's tests (each takes ~15 s to start). The test that kills the
    second node comes last."""
    with started_cluster() as cluster:
        yield cluster


def study_cmd(address: str, out: Path, samples: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "study",
        "run",
        "smoke",
        "--scale",
        "smoke",
        "--samples",
        str(samples),
        "--address",
        address,
        "--cpus-per-trial",
        "1",
        "--max-concurrent",
        "2",
        "--out",
        str(out),
        *extra,
    ]


def test_a_study_runs_across_both_nodes(two_nodes, tmp_path):
    address, _ = two_nodes
    proc = subprocess.run(
        study_cmd(address, tmp_path / "s", 2),
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_rows(tmp_path / "s")
    nodes = {r["node_id"] for r in rows}
    print(f"trials: {len(rows)}, node ids: {len(nodes)}")
    assert len(rows) == 2 and all(r["status"] != "errored" for r in rows)
    assert len(nodes) == 2, "each node should have run one trial"


def test_a_request_no_node_of_the_cluster_meets_is_refused_at_once(two_nodes, tmp_path):
    """The study's default of 2 CPUs per trial on two 1-CPU nodes: one line naming the request
    and the largest node, exit 2, before any trial is queued (it used to wait forever)."""
    address, _ = two_nodes
    cmd = [
        sys.executable,
        "-m",
        "study",
        "run",
        "smoke",
        "--scale",
        "smoke",
        "--address",
        address,
        "--out",
        str(tmp_path / "s"),
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "asks for 2 CPU and 0 GPU" in errors[0]
    assert "the largest has 1 CPU and 0 GPU; 2 node(s)" in errors[0]
    assert time.monotonic() - started < 120
    assert read_rows(tmp_path / "s") == []  # nothing ran, nothing half-written


def test_a_cluster_that_refuses_the_token_is_one_line(two_nodes, tmp_path):
    """A real head with token auth, joined with another token: one line naming the token's
    places, exit 2, no traceback, nothing written."""
    address, _ = two_nodes
    env = {**ENV, "RAY_AUTH_TOKEN": "0" * 32}  # Ray reads this before ~/.ray/auth_token
    cmd = study_cmd(address, tmp_path / "s", 1)
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert f"--address {address}: Ray could not join the cluster there" in errors[0]
    assert "RAY_AUTH_TOKEN or ~/.ray/auth_token holds the cluster's token" in errors[0]
    assert time.monotonic() - started < 120
    assert read_rows(tmp_path / "s") == []


@pytest.mark.alone
def test_killing_the_worker_node_mid_trial_retries_on_the_other(two_nodes, tmp_path):
    """Last in this file: it kills the shared cluster's second node. Alone: with both cores
    busy beside it, the lost actor's two failed calls reached Tune together and Tune, which
    had set the trial pending for its retry, errored it on the second (a Tune limitation)."""
    address, worker = two_nodes
    out = tmp_path / "k"
    # Longer trials (train 256 examples/task) so the kill lands mid-trial.
    driver = subprocess.Popen(
        study_cmd(address, out, 3, "--set", "train_per_task=256"),
        cwd=ROOT,
        env=ENV,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        for line in driver.stderr:
            if " 2 running" in line:  # both nodes busy: one trial is on the second node
                break
        time.sleep(3)
        killed_at = time.time()
        stop_node(worker)  # kill -9 of the node's raylet and its workers
        rest = driver.communicate(timeout=1200)[1]
        assert driver.returncode == 0, rest[-3000:]
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    rows = read_rows(out)
    statuses = [r["status"] for r in rows]
    print(f"after killing the worker node: {len(rows)} trials recorded, statuses {statuses}")
    assert len(rows) == 3 and "errored" not in statuses, [r["error"] for r in rows]
    # When each trial ended, not the rows on file at the kill: a trial that ended on the second
    # node just before the kill may reach trials.jsonl just after it (the driver writes it). A
    # trial ASHA stopped has no ended_unix: it ended at its last report, `seconds` after its start.
    ended = [r["ended_unix"] or r["started_unix"] + r["seconds"] for r in rows]
    after = [r for r, end in zip(rows, ended, strict=True) if end > killed_at]
    # The two trials running at the kill (one of them on the killed node) and the third all
    # finished on the surviving node.
    assert len(after) >= 2 and len({r["node_id"] for r in after}) == 1
