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


def test_release_free_memory_hands_freed_heap_pages_back():
    """Blocks under glibc's mmap threshold come from its heaps; freeing them leaves the pages
    resident while a later block pins the heap's top, and release_free_memory returns them."""
    import ctypes
    import ctypes.util

    from study.train.memory import release_free_memory

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    size = 64 << 10  # 64 KiB, under glibc's initial 128 KiB mmap threshold
    blocks = [libc.malloc(size) for _ in range(1536)]  # 96 MiB
    for b in blocks:
        ctypes.memset(b, 1, size)
    touched = _rss_mb()
    for b in blocks[:-1]:  # the last block keeps the heap's top in use: free() cannot trim it
        libc.free(b)
    kept = _rss_mb()
    release_free_memory()
    trimmed = _rss_mb()
    libc.free(blocks[-1])
    assert kept > touched - 16, (touched, kept)
    assert trimmed < kept - 64, (kept, trimmed)


def _rss_mb() -> float:
    """Resident memory now (VmHWM, which peak_rss_mb reads, only ever grows)."""
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
