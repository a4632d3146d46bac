"""Peak memory of a trial, counted per trial even in a reused worker process."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    """glibc, or None (another libc or platform: then nothing is trimmed)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        lib.malloc_trim  # noqa: B018 - glibc only (musl lacks it)
    except (OSError, AttributeError):
        return None
    return lib


def release_free_memory() -> None:
    """Hand the free pages inside glibc's heaps back to the system. glibc returns only a heap's
    top on free, so a pass's freed activations stay resident; called between task passes and
    before a reused worker's next trial, whose peak RSS would otherwise start at the last one's."""
    lib = _libc()
    if lib is not None:
        lib.malloc_trim(0)


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
