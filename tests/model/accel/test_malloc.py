"""model/accel/malloc.py: freed blocks stay in malloc's heaps until the explicit trim."""

import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc is Linux's")


def test_heaps_keep_freed_blocks_until_the_explicit_trim():
    """limit_heap_growth: blocks under 4 MiB come from malloc's heaps, a free leaves them there
    (the next step reuses them instead of faulting pages in again), and release_free_memory,
    called after each pass, gives them back."""
    import ctypes
    import ctypes.util

    from model.accel.malloc import limit_heap_growth, release_free_memory

    assert limit_heap_growth()
    libc = ctypes.CDLL(
        ctypes.util.find_library("c")
    )  # its own handle: model.accel.malloc's is shared
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(1 << 20) for _ in range(96)]  # 96 x 1 MiB, under the mmap threshold
    for b in blocks:
        ctypes.memset(b, 1, 1 << 20)
    touched = _rss_mb()
    for b in reversed(blocks):
        libc.free(b)
    kept = _rss_mb()
    release_free_memory()
    trimmed = _rss_mb()
    assert kept > touched - 16, (touched, kept)  # glibc's fixed 128 KiB trim gave it all back
    assert trimmed < kept - 64, (kept, trimmed)


def _rss_mb() -> float:
    """Resident memory now (VmHWM, which peak_rss_mb reads, only ever grows)."""
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
