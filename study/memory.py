"""Keep a long-lived CPU training process's resident memory near what it actually uses.

glibc's malloc raises its mmap threshold to the largest block freed so far (up to 32 MiB), so
after the first big activation tensor almost every allocation comes from its heaps, which
fragment as batch shapes change and never shrink: a LoRA trial at the cpu scale peaked at
~2.5 GB resident for ~1.7 GB in use. Pinning the threshold at 4 MiB sends the big activation
blocks (attention scores, FFN outputs) to mmap, which returns them on free; trimming after each
task pass and evaluation gives back the heaps' free pages. Pinning it also pins glibc's trim
threshold at 128 KiB, which handed a heap's top back on almost every free for the next step to
fault in again: 8300 page faults a LoRA bf16 step, 4.4% slower than with a 256 MiB trim threshold
(2200 faults; in-process A/B, 6 x 12 steps each). With both set, steps run as fast as with
glibc's defaults (a 128 KiB mmap threshold, its start before it adapts, made them 2.2x slower).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 256 << 20  # free memory a heap's top keeps until release_free_memory


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only (musl has neither)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


@functools.lru_cache(maxsize=1)
def limit_heap_growth() -> bool:
    """Once per process: fixed 4 MiB mmap threshold and 256 MiB trim threshold. False where
    glibc is not in use."""
    libc = _libc()
    return bool(
        libc is not None
        and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def release_free_memory() -> None:
    """Return the heaps' free pages to the system (cheap between task passes, not per step)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def start_trial_memory() -> None:
    """Free what an earlier trial in this process left, then restart the peak-RSS count, so
    that a reused worker reports each trial's own peak (Linux: clear_refs 5 resets VmHWM)."""
    gc.collect()
    release_free_memory()
    import torch

    if torch.cuda.is_initialized():  # a reused worker's GPU peak too
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start_trial_memory (else since exec), in MiB:
    VmHWM of /proc/self/status (ru_maxrss would carry the RSS of the parent that forked us)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def peak_gpu_mb() -> float | None:
    """Peak GPU memory torch allocated since start_trial_memory, in MiB (None without CUDA)."""
    import torch

    if not torch.cuda.is_initialized():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)
