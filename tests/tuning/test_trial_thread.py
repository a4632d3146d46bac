"""study/trial_thread.py: trials from many caller threads train on one thread, stop promptly,
and report in the caller's thread (no Ray needed)."""

from __future__ import annotations

import os
import threading
import time

import pytest
import torch

from study.tuning.training_thread import run_on_training_thread, stop_running_trial


def _in_new_thread(fn, *args):  # noqa: ANN001, ANN202 - as Tune calls a trial: a fresh thread
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = fn(*args)
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            out["error"] = err

    t = threading.Thread(target=target)
    t.start()
    t.join(timeout=60)
    return out


def test_trials_from_many_threads_share_one_training_thread():
    seen: list[tuple[int, int, int]] = []  # (training thread, report's thread, caller thread)
    torch.set_num_threads(2)

    def train(put, stop):  # noqa: ANN001
        a = torch.randn(600, 600)
        for _ in range(5):
            a = torch.tanh(a @ a)  # parallel ops: this thread's OpenMP team
        put({"thread": threading.get_ident()})

    def trial():  # noqa: ANN202
        caller = threading.get_ident()
        run_on_training_thread(
            train, lambda m: seen.append((m["thread"], threading.get_ident(), caller))
        )
        return len(os.listdir("/proc/self/task"))

    counts = [_in_new_thread(trial)["value"] for _ in range(3)]
    assert len(seen) == 3 and len({t for t, _, _ in seen}) == 1  # one training thread
    assert all(r == c != t for t, r, c in seen)  # reports arrive in the caller's thread
    assert counts[2] <= counts[0]  # no thread (or OpenMP team) left behind per trial


def test_stop_running_trial_ends_training_at_the_next_step_quietly():
    steps: list[int] = []

    def train(put, stop):  # noqa: ANN001
        from study.errors import TrialStopped

        for step in range(10_000):
            if stop.is_set():
                raise TrialStopped("stopped")
            steps.append(step)
            time.sleep(0.01)

    threading.Timer(0.3, stop_running_trial).start()
    t0 = time.monotonic()
    out = _in_new_thread(run_on_training_thread, train, lambda m: None)
    assert "error" not in out and time.monotonic() - t0 < 5 and 0 < len(steps) < 10_000


def test_training_errors_reach_the_caller_and_a_failing_report_stops_training():
    def broken(put, stop):  # noqa: ANN001
        raise ValueError("bad trial")

    out = _in_new_thread(run_on_training_thread, broken, lambda m: None)
    assert isinstance(out["error"], ValueError)

    ended = threading.Event()

    def long(put, stop):  # noqa: ANN001
        put({"epoch": 1})
        while not stop.is_set():
            time.sleep(0.01)
        ended.set()

    def report(metrics):  # noqa: ANN001
        raise SystemExit(0)  # what Tune's report does when the trial was stopped

    out = _in_new_thread(run_on_training_thread, long, report)
    assert isinstance(out["error"], SystemExit) and ended.is_set()


@pytest.mark.parametrize("stop_after", [1])
def test_run_trial_honours_stop(stop_after):
    """The real trial loop (smoke scale, embedded model) ends at a step once stop is set."""
    from study.errors import TrialStopped
    from study.scales import scale_config
    from study.train.run import run_trial

    stop = threading.Event()
    reports: list = []  # TrialRecord after each epoch

    def report(metrics):  # noqa: ANN001
        reports.append(metrics)
        if len(reports) == stop_after:
            stop.set()

    config = scale_config("smoke").replace(epochs=3)
    with pytest.raises(TrialStopped, match="epoch 2, step 1"):
        run_trial(config, report, stop=stop)
    assert [r.epochs_run for r in reports] == [1]
