"""study/train/memory.py: a reused worker reports each trial's own peak RSS."""

import sys

import numpy as np
import pytest
import torch  # noqa: F401 - start_trial_memory imports it: resident before the first reading

from study.train.memory import peak_rss_mb, start_trial_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")


def test_start_trial_memory_restarts_the_peak_count():
    big = np.ones(400 * 2**20 // 8)  # 400 MiB, touched
    high = peak_rss_mb()
    del big
    start_trial_memory()
    after = peak_rss_mb()
    assert after < high - 300, (high, after)
    again = np.ones(200 * 2**20 // 8)
    assert peak_rss_mb() > after + 150
    del again
